"""Signed statements: strict parsing, RFC 8785 canonical JSON, Ed25519 with a domain-separation prefix.

>>> payload = signing_payload(REGISTRATION_DOMAIN, {"b": 1, "a": "x"})
>>> payload
b'provreg/registration/v1\\n{"a":"x","b":1}'
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

import rfc8785
from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from registry.errors import InvalidSignature, InvalidStatement
from registry.keys import check_signature, public_key_from_raw

REGISTRATION_DOMAIN = b"provreg/registration/v1\n"
MAX_STATEMENT_BYTES = 64 * 1024
# RFC 8785 serialises numbers as IEEE doubles: larger integers would not round-trip exactly.
_MAX_SAFE_INTEGER = 2**53 - 1
_KEY_ID = r"^[0-9a-f]{64}$"
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ContentClaim(_Strict):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str = Field(min_length=3, max_length=100)
    size: int = Field(gt=0)


class Metadata(BaseModel):
    """Descriptive fields; unknown keys are kept (and signed) so publishers can add their own."""

    model_config = ConfigDict(extra="allow", frozen=True)
    title: str | None = Field(default=None, max_length=500)
    captured_at: str | None = Field(default=None, max_length=64)
    source_url: str | None = Field(default=None, max_length=2000)


class _SignedRequest(_Strict):
    """Fields every signed request carries: who, when, and a nonce so it cannot be replayed."""

    publisher_id: str = Field(min_length=1, max_length=40)
    created_at: str
    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{16,128}$")

    @field_validator("created_at")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse_timestamp(value)
        return value

    @property
    def created(self) -> datetime:
        return parse_timestamp(self.created_at)


class RegistrationStatement(_SignedRequest):
    """A publisher's claim: these exact bytes are an authentic original of ours."""

    type: Literal["registration"]
    key_id: str = Field(pattern=_KEY_ID)
    content: ContentClaim
    metadata: Metadata = Metadata()


class ContentRevocationStatement(_SignedRequest):
    """A publisher withdraws one of its registrations (signed with its current key)."""

    type: Literal["content_revocation"]
    key_id: str = Field(pattern=_KEY_ID)
    registration_id: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=1000)


class KeyRotationStatement(_SignedRequest):
    """Replace the current key; signed by the old key *and* the new one, so neither alone can do it."""

    type: Literal["key_rotation"]
    old_key_id: str = Field(pattern=_KEY_ID)
    new_public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")


class KeyRevocationStatement(_SignedRequest):
    """Report a (retired) key compromised from a moment on; signed with the current key."""

    type: Literal["key_revocation"]
    key_id: str = Field(pattern=_KEY_ID)
    revoked_key_id: str = Field(pattern=_KEY_ID)
    compromised_since: str

    @field_validator("compromised_since")
    @classmethod
    def _since(cls, value: str) -> str:
        parse_timestamp(value)
        return value


StatementT = TypeVar("StatementT", bound=_SignedRequest)

DOMAINS: dict[str, bytes] = {
    "registration": REGISTRATION_DOMAIN,
    "content_revocation": b"provreg/content-revocation/v1\n",
    "key_rotation": b"provreg/key-rotation/v1\n",
    "key_revocation": b"provreg/key-revocation/v1\n",
}


def parse_timestamp(value: str) -> datetime:
    """RFC 3339 in UTC with a literal Z: one spelling per instant, so signatures are unambiguous."""
    if not _RFC3339_UTC.match(value):
        raise ValueError("timestamps must be RFC 3339 UTC, like 2026-01-31T12:00:00Z")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def parse_strict_json(raw: bytes | str) -> dict[str, Any]:
    """Parse a signed object, refusing what canonical JSON cannot carry unambiguously.

    Floats, NaN/Infinity, duplicate keys and integers beyond 2**53 are rejected rather than normalised: a
    signature must cover exactly one meaning.
    """
    if len(raw) > MAX_STATEMENT_BYTES:
        raise InvalidStatement(f"statement is larger than {MAX_STATEMENT_BYTES} bytes")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            duplicate = next(key for key in keys if keys.count(key) > 1)
            raise InvalidStatement(f"duplicate key {duplicate!r} in statement")
        return dict(pairs)

    def no_float(token: str) -> Any:
        raise InvalidStatement(f"floating-point number {token} in statement; use strings or integers")

    def checked_int(token: str) -> int:
        value = int(token)
        if abs(value) > _MAX_SAFE_INTEGER:
            raise InvalidStatement(f"integer {token} is too large for canonical JSON")
        return value

    try:
        obj = json.loads(
            raw,
            object_pairs_hook=no_duplicates,
            parse_float=no_float,
            parse_int=checked_int,
            parse_constant=no_float,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidStatement(f"statement is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidStatement("statement must be a JSON object")
    return obj


def parse_statement(raw: bytes | str, model: type[StatementT]) -> tuple[StatementT, dict[str, Any]]:
    """The validated statement and the exact object that was signed."""
    obj = parse_strict_json(raw)
    try:
        return model.model_validate(obj), obj
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'statement'}: {error['msg']}" for error in exc.errors()
        )
        kind = get_args(model.model_fields["type"].annotation)[0]
        raise InvalidStatement(f"invalid {kind} statement: {problems}") from None


def canonical_json(obj: dict[str, Any]) -> bytes:
    return rfc8785.dumps(obj)


def signing_payload(domain: bytes, obj: dict[str, Any]) -> bytes:
    return domain + canonical_json(obj)


def sign(private_key: Ed25519PrivateKey, domain: bytes, obj: dict[str, Any]) -> str:
    return base64.b64encode(private_key.sign(signing_payload(domain, obj))).decode()


def verify(public_key: bytes, domain: bytes, obj: dict[str, Any], signature: str) -> None:
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSignature("signature is not valid base64") from None
    try:
        check_signature(raw_signature)
    except ValueError as exc:
        raise InvalidSignature(str(exc)) from None
    try:
        public_key_from_raw(public_key).verify(raw_signature, signing_payload(domain, obj))
    except _BadSignature:
        raise InvalidSignature("signature does not verify for this statement and key") from None
