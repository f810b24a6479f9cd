"""C2SP signed-note (Ed25519), tlog-checkpoint and tlog-proof text formats.

These are the log's public, offline-verifiable artefacts, read by tools we do not write, so parsing is
strict: one canonical encoding per value (canonical base64, no leading zeros), and anything else is
refused rather than normalised. Specs: https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint,
https://c2sp.org/tlog-proof.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.keys import check_public_key, check_signature
from registry.log import merkle

ALG_ED25519 = 0x01
"""signed-note signature type byte for Ed25519."""

MAX_SIGNATURES = 100
"""The spec demands accepting at least 16; the bound keeps a hostile note from costing unbounded work."""

SIGNATURE_PREFIX = "\u2014 "  # EM DASH, space
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_UINT64 = 2**64 - 1
_MAX_UINT64_DIGITS = len(str(MAX_UINT64))

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A note, key, checkpoint or tlog-proof is malformed, or no trusted signature on it verifies."""


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64, canonical only: a second spelling of the same bytes would let a byte flip pass."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise NoteError(f"{what} is not valid base64") from None
    if _b64encode(raw) != text:
        raise NoteError(f"{what} is not canonically base64-encoded")
    return raw


def _parse_decimal(text: str, what: str) -> int:
    """A uint64 in its one spelling; its length is checked first, so a 5,000-digit line is a NoteError, not the
    ValueError of Python's int-string limit (and never a quadratic conversion)."""
    if len(text) > _MAX_UINT64_DIGITS or not _DECIMAL.fullmatch(text):
        shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
        raise NoteError(f"{what} {shown!r} is not a decimal number of at most 20 digits without leading zeros")
    value = int(text)
    if value > MAX_UINT64:
        raise NoteError(f"{what} {value} does not fit in 64 bits")
    return value


def _check_no_controls(text: str, what: str) -> None:
    """signed-note forbids every ASCII control character except newline."""
    for char in text:
        if char < " " and char != "\n":
            raise NoteError(f"{what} contains the control character {char!r}")


def _check_line(line: str, what: str) -> None:
    if not line:
        raise NoteError(f"{what} is empty")
    if "\n" in line:
        raise NoteError(f"{what} spans several lines")
    _check_no_controls(line, what)


def _check_key_name(name: str) -> None:
    if not name:
        raise NoteError("key name is empty")
    if "+" in name or any(char.isspace() for char in name):
        raise NoteError(f"key name {name!r} contains a space or '+'")
    _check_no_controls(name, "key name")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_no_controls(text, "note text")


def _key_id(name: str, public_key: bytes) -> bytes:
    """signed-note's recommended key ID, which binds the name and algorithm as well as the key."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note key: name, public key and the derived 4-byte key ID."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        try:
            check_public_key(self.public_key)
        except ValueError as exc:
            raise NoteError(f"verifier key {self.name}: {exc}") from None
        object.__setattr__(self, "key_id", _key_id(self.name, self.public_key))
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse `<name>+<hex key ID>+<base64(0x01 || public key)>`, checking the ID against the key."""
        parts = vkey.split("+", 2)  # the name has no '+', but base64 may
        if len(parts) != 3:
            raise NoteError("a verifier key has the form <name>+<hex key ID>+<base64 key>")
        name, id_hex, key_b64 = parts
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise NoteError(f"verifier key ID {id_hex!r} is not 8 hex digits")
        raw = _b64decode(key_b64, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 (type 0x01) key")
        verifier = cls(name, raw[1:])
        if verifier.key_id != bytes.fromhex(id_hex):
            raise NoteError(f"verifier key ID {id_hex} does not match the key")
        return verifier

    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verifies(self, text: str, signature: bytes) -> bool:
        """Whether `signature` is the one canonical signature of `text` by this key."""
        try:
            check_signature(signature)
            self._key.verify(signature, text.encode())
        except (ValueError, InvalidSignature):
            return False
        return True


@dataclass(frozen=True, eq=False)
class Signer:
    """An Ed25519 private key under a note key name; `verifier` is its public half."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    verifier: Verifier = field(init=False)

    def __post_init__(self) -> None:
        raw = self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        object.__setattr__(self, "verifier", Verifier(self.name, raw))

    def sign(self, text: str) -> str:
        """The signature line for `text`, newline included."""
        _check_text(text)
        signature = self.verifier.key_id + self.private_key.sign(text.encode())
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(signature)}\n"


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign `text` with every signer; several signers let clients trust either key during a rotation."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"at most {MAX_SIGNATURES} signatures fit on a note")
    if len({(s.name, s.verifier.key_id) for s in signers}) != len(signers):
        raise NoteError("the same key cannot sign a note twice")
    return text + "\n" + "".join(signer.sign(text) for signer in signers)


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, list[Verifier]]:
    """Verify a signed note; return its text and the verifiers whose signatures verified.

    Signatures under keys not in `verifiers` (name and key ID both matching) are ignored. A known key whose
    signature fails, a known key signing twice, a malformed note, or no verified known signature at all
    raise NoteError.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not valid UTF-8") from None
    _check_no_controls(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line between text and signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("note signatures must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(lines)} signatures, more than the {MAX_SIGNATURES} accepted")

    known = {(verifier.name, verifier.key_id): verifier for verifier in verifiers}
    verified: list[Verifier] = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError(f"signature line {line!r} does not start with an em dash and a space")
        name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not space:
            raise NoteError(f"signature line {line!r} has no signature after the key name")
        _check_key_name(name)
        signature = _b64decode(encoded, f"signature by {name}")
        if len(signature) < 5:
            raise NoteError(f"signature by {name} is too short")
        verifier = known.get((name, signature[:4]))
        if verifier is None:
            continue
        if verifier in verified:
            raise NoteError(f"key {name} signed the note more than once")
        if not verifier.verifies(text, signature[4:]):
            raise NoteError(f"signature by {name} does not verify")
        verified.append(verifier)
    if not verified:
        raise NoteError("note carries no signature by a trusted key")
    return text, verified


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint note text: the log's origin and its tree head at `size`."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if not 0 <= self.size <= MAX_UINT64:
            raise NoteError(f"checkpoint size {self.size} is not a 64-bit unsigned integer")
        if len(self.root_hash) != merkle.HASH_SIZE:
            raise NoteError(f"checkpoint root hash is {len(self.root_hash)} bytes, expected 32")
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for extension in self.extensions:
            _check_line(extension, "checkpoint extension line")

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise NoteError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint needs origin, size and root hash lines")
        origin, size, root_hash, *extensions = lines
        return cls(
            origin,
            _parse_decimal(size, "checkpoint size"),
            _b64decode(root_hash, "checkpoint root hash"),
            tuple(extensions),
        )


def open_checkpoint(note: str | bytes, verifiers: Iterable[Verifier], *, origin: str) -> Checkpoint:
    """Verify a signed checkpoint and check that it comes from the log named `origin`."""
    text, _ = open_note(note, verifiers)
    checkpoint = Checkpoint.from_text(text)
    if checkpoint.origin != origin:
        raise NoteError(f"checkpoint is from log {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


@dataclass(frozen=True)
class TlogProof:
    """A c2sp.org/tlog-proof: an entry index, its inclusion proof, and the signed checkpoint it is for.

    `extra` is the optional unauthenticated application data; None omits the line, b"" writes it empty.
    """

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_UINT64:
            raise NoteError(f"proof index {self.index} is not a 64-bit unsigned integer")
        object.__setattr__(self, "hashes", tuple(self.hashes))
        for position, digest in enumerate(self.hashes):
            if len(digest) != merkle.HASH_SIZE:
                raise NoteError(f"proof hash {position} is {len(digest)} bytes, expected 32")
        if not self.checkpoint.endswith("\n"):
            raise NoteError("the checkpoint note in a proof must end with a newline")


def format_tlog_proof(proof: TlogProof) -> str:
    lines = [TLOG_PROOF_HEADER]
    if proof.extra is not None:
        lines.append(f"extra {_b64encode(proof.extra)}")
    lines.append(f"index {proof.index}")
    lines.extend(_b64encode(digest) for digest in proof.hashes)
    return "".join(line + "\n" for line in lines) + "\n" + proof.checkpoint


def parse_tlog_proof(text: str) -> TlogProof:
    """Parse a tlog-proof; the checkpoint note is returned verbatim, unverified."""
    head, blank, checkpoint = text.partition("\n\n")
    if not blank:
        raise NoteError("tlog-proof has no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise NoteError(f"tlog-proof does not start with {TLOG_PROOF_HEADER}")
    position = 1
    extra = None
    if position < len(lines) and lines[position].startswith("extra "):
        extra = _b64decode(lines[position].removeprefix("extra "), "tlog-proof extra data")
        position += 1
    if position == len(lines) or not lines[position].startswith("index "):
        raise NoteError("tlog-proof has no index line")
    index = _parse_decimal(lines[position].removeprefix("index "), "tlog-proof index")
    hashes = tuple(_b64decode(line, "tlog-proof hash") for line in lines[position + 1 :])
    return TlogProof(index, hashes, checkpoint, extra)


def verify_tlog_proof(proof_text: str, leaf_hash: bytes, verifiers: Iterable[Verifier], *, origin: str) -> Checkpoint:
    """Verify offline that `leaf_hash` is in the log `origin`: returns the checkpoint it is proven against.

    Raises NoteError for a malformed proof or an untrusted or foreign checkpoint, ProofError when the
    inclusion proof does not verify against it.
    """
    proof = parse_tlog_proof(proof_text)
    checkpoint = open_checkpoint(proof.checkpoint, verifiers, origin=origin)
    merkle.verify_inclusion(leaf_hash, proof.index, checkpoint.size, proof.hashes, checkpoint.root_hash)
    return checkpoint
