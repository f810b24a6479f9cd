"""The registry's own checkpoint-signing keys, kept in the data directory readable by its owner only.

During a key rotation both the old and the new key sign every checkpoint, so a client that knows either key
keeps verifying; retiring the old key ends the overlap. Retired verifier keys stay listed so old checkpoints
can still be audited.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.errors import ConfigurationError, InvalidRequest, NotFound
from registry.keys import load_private_key, save_private_key
from registry.log.note import Signer, Verifier

DEFAULT_ORIGIN = "localhost/provreg"
_MANIFEST = "keyring.json"


@dataclass(frozen=True, slots=True)
class LogKey:
    verifier: Verifier
    file: str
    added_at: str
    retired_at: str | None

    @property
    def active(self) -> bool:
        return self.retired_at is None


class LogKeyring:
    def __init__(self, directory: Path, origin: str, keys: list[LogKey]) -> None:
        self.directory = directory
        self.origin = origin
        self.keys = keys
        self._signers = {key.verifier.vkey(): self._load_signer(key) for key in keys if key.active}

    @classmethod
    def open(cls, directory: Path, origin: str | None) -> LogKeyring:
        """Load the keyring, creating it with one fresh key on first use; the origin can never change."""
        manifest = directory / _MANIFEST
        if not manifest.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            keyring = cls(directory, origin or DEFAULT_ORIGIN, [])
            keyring.rotate()
            return keyring
        data = json.loads(manifest.read_text())
        if origin is not None and origin != data["origin"]:
            raise ConfigurationError(
                f"PROVREG_LOG_ORIGIN is {origin!r} but this log was created as {data['origin']!r}; a log's origin "
                "never changes"
            )
        keys = [
            LogKey(Verifier.from_vkey(item["vkey"]), item["file"], item["added_at"], item.get("retired_at"))
            for item in data["keys"]
        ]
        return cls(directory, data["origin"], keys)

    @property
    def signers(self) -> list[Signer]:
        return list(self._signers.values())

    @property
    def verifiers(self) -> list[Verifier]:
        """Every key that ever signed, active first: enough to audit every stored checkpoint."""
        return [key.verifier for key in sorted(self.keys, key=lambda key: not key.active)]

    @property
    def active_verifiers(self) -> list[Verifier]:
        return [key.verifier for key in self.keys if key.active]

    def rotate(self) -> Verifier:
        """Add a new signing key; until the old one is retired both sign."""
        private_key = Ed25519PrivateKey.generate()
        signer = Signer(self.origin, private_key)
        file = f"log-key-{signer.verifier.key_id.hex()}.pem"
        save_private_key(self.directory / file, private_key)
        key = LogKey(signer.verifier, file, _now(), None)
        self.keys.append(key)
        self._signers[signer.verifier.vkey()] = signer
        self._save()
        return signer.verifier

    def retire(self, vkey_or_key_id: str) -> Verifier:
        """Stop signing with a key (it stays listed as a verifier for old checkpoints)."""
        matches = [
            key
            for key in self.keys
            if key.active and vkey_or_key_id in (key.verifier.vkey(), key.verifier.key_id.hex())
        ]
        if not matches:
            raise NotFound(f"no active log key {vkey_or_key_id!r}")
        if len(self._signers) == 1:
            raise InvalidRequest("refusing to retire the only active log key; rotate first")
        retired = matches[0]
        self.keys[self.keys.index(retired)] = LogKey(retired.verifier, retired.file, retired.added_at, _now())
        del self._signers[retired.verifier.vkey()]
        self._save()
        return retired.verifier

    def _load_signer(self, key: LogKey) -> Signer:
        signer = Signer(self.origin, load_private_key(self.directory / key.file))
        if signer.verifier != key.verifier:
            raise ConfigurationError(f"log key file {key.file} does not hold the key the keyring lists")
        return signer

    def _save(self) -> None:
        manifest = {
            "origin": self.origin,
            "keys": [
                {"vkey": key.verifier.vkey(), "file": key.file, "added_at": key.added_at, "retired_at": key.retired_at}
                for key in self.keys
            ],
        }
        tmp = self.directory / f".{_MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, self.directory / _MANIFEST)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
