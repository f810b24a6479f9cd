"""Ed25519 keys, key ids and API keys.

The registry only ever sees publishers' *public* keys; private keys are made and kept client side (the CLI
writes them to an owner-only file).
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.errors import InvalidRequest
from registry.settings import write_private_file

API_KEY_PREFIX = "prk_"


def key_id(public_key: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key: the stable name of a key everywhere."""
    return hashlib.sha256(public_key).hexdigest()


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw_public_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise InvalidRequest(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def save_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write PKCS#8 PEM with mode 0600; refuses to overwrite an existing file."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        write_private_file(path, pem)
    except FileExistsError:
        raise InvalidRequest(f"{path} already exists; refusing to overwrite a key file") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise InvalidRequest(f"cannot read key file {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidRequest(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def new_api_key() -> tuple[str, str]:
    """A fresh API key and the hash to store: the key itself is shown once and never kept."""
    token = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return token, api_key_hash(token)


def api_key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
