"""Ed25519 keys, key ids and API keys.

The registry only ever sees publishers' *public* keys; private keys are made and kept client side (the CLI
writes them to an owner-only file).

OpenSSL's Ed25519 verification accepts any 32 bytes as a public key. With a small-order key such as the
identity point (`01 00 .. 00`), the signature `R = identity, S = 0` verifies for *every* message, so a key
that enters the registry (publisher creation, rotation, a receipt or note checked offline) is first decoded
here and refused unless it is a canonical encoding of a point in the prime-order subgroup, which every
honestly generated key is. Signatures must have a canonical `S < L`, so each has one encoding only.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.errors import InvalidRequest
from registry.settings import write_private_file

API_KEY_PREFIX = "prk_"

# Curve25519 in twisted Edwards form (RFC 8032, section 5.1).
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P
_L = 2**252 + 27742317777372353535851937790883648493  # order of the base point's subgroup
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (0, 1, 1, 0)

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z


def _add(a: _Point, b: _Point) -> _Point:
    """Unified addition (also doubles), RFC 8032 section 5.1.4."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    ea = (y1 - x1) * (y2 - x2) % _P
    eb = (y1 + x1) * (y2 + x2) % _P
    ec = 2 * _D * t1 * t2 % _P
    ed = 2 * z1 * z2 % _P
    e, f, g, h = eb - ea, ed - ec, ed + ec, eb + ea
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _multiply(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    for bit in bin(scalar)[2:]:
        result = _add(result, result)
        if bit == "1":
            result = _add(result, point)
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _ = point
    return x % _P == 0 and (y - z) % _P == 0


@lru_cache(maxsize=4096)
def check_public_key(raw: bytes) -> None:
    """Raise ValueError saying why `raw` is unfit as an Ed25519 public key (cached: keys recur, this costs ~ms)."""
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    y = int.from_bytes(raw, "little") & ((1 << 255) - 1)
    negative = raw[31] >> 7
    if y >= _P:
        raise ValueError("the key is not canonically encoded (its y coordinate is not below 2^255 - 19)")
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if v * x * x % _P == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif v * x * x % _P != u:
        raise ValueError("the key is not a point on the Ed25519 curve")
    if x == 0 and negative:
        raise ValueError("the key is not canonically encoded (x is zero but its sign bit is set)")
    if x & 1 != negative:
        x = _P - x
    point = (x, y, 1, x * y % _P)
    if _is_identity(point):
        raise ValueError("the key is the identity point, for which one signature verifies for any message")
    if _is_identity(_multiply(8, point)):
        raise ValueError("the key is a small-order point, for which signatures can verify for any message")
    if not _is_identity(_multiply(_L, point)):
        raise ValueError("the key has a small-order component (it is not in the prime-order subgroup)")


def check_signature(raw: bytes) -> None:
    """Raise ValueError unless `raw` is 64 bytes with a canonical S (below the group order), its only encoding."""
    if len(raw) != 64:
        raise ValueError(f"an Ed25519 signature is 64 bytes, got {len(raw)}")
    if int.from_bytes(raw[32:], "little") >= _L:
        raise ValueError("the signature's S is not canonical (not below the group order)")


def key_id(public_key: bytes) -> str:
    """Hex SHA-256 of the raw 32-byte public key: the stable name of a key everywhere."""
    return hashlib.sha256(public_key).hexdigest()


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def raw_public_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """The key, if it is safe to verify with (see `check_public_key`); InvalidRequest says why not."""
    try:
        check_public_key(raw)
    except ValueError as exc:
        raise InvalidRequest(f"unusable Ed25519 public key: {exc}") from None
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
