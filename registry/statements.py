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
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

import rfc8785
from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from registry.errors import InvalidSignature, InvalidStatement
from registry.keys import check_signature, public_key_from_raw

if TYPE_CHECKING:
    from registry.settings import Settings

REGISTRATION_DOMAIN = b"provreg/registration/v1\n"
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


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """How big a signed JSON document may be, checked while it is parsed and before anything is stored.

    Whatever passes is logged for ever, so every reader (the API's serialiser, `provreg audit`, offline
    verifiers) must be able to render it: these bounds keep that true. Defaults are the `PROVREG_STATEMENT_*`
    settings' defaults.
    """

    max_bytes: int = 64 * 1024
    max_depth: int = 32
    max_object_keys: int = 256
    max_keys: int = 2048
    max_string_length: int = 8192
    max_array_length: int = 1024
    max_integer_digits: int = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        return cls(**{name: getattr(settings, f"statement_{name}") for name in cls.__dataclass_fields__})

    def enclosing(self) -> DocumentLimits:
        """Limits for a document that wraps one statement (a receipt: entry fields, a tlog-proof, maybe written
        with every non-ASCII character escaped), so that whatever the registry accepted also verifies offline."""
        return DocumentLimits(
            max_bytes=3 * self.max_bytes + 64 * 1024,
            max_depth=self.max_depth + 2,
            max_object_keys=max(self.max_object_keys, 32),
            max_keys=self.max_keys + 64,
            max_string_length=max(self.max_string_length, 64 * 1024),
            max_array_length=self.max_array_length,
            max_integer_digits=self.max_integer_digits,
        )

    def exceeded(self, what: str, found: str, name: str) -> InvalidStatement:
        """The error for one limit, naming it and the setting that raises it."""
        limit = getattr(self, name)
        return InvalidStatement(
            f"{what} {found}; the limit is {limit} (PROVREG_STATEMENT_{name.upper()})", limit=name, limit_value=limit
        )


# A string token from its opening quote to its closing one, or to the end of the text when it never closes:
# it always matches, so stripping strings stays linear however many quotes and backslashes a document has.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"{": 1, "[": 1, "}": -1, "]": -1}


def _check_before_parsing(text: str, limits: DocumentLimits, what: str) -> None:
    """Depth and number length, from the text with its strings removed: what `json.loads` itself cannot survive.

    Its parser recurses once per level (a deep document raises RecursionError) and a 5,000-digit number is a
    ValueError (Python's int-string limit). Every step here is a regular expression or a C-level fold.
    """
    skeleton = _STRING.sub('""', text)
    digits = limits.max_integer_digits
    if re.search(f"[0-9]{{{digits + 1},}}", skeleton):
        raise limits.exceeded(what, "has a number with more digits", "max_integer_digits")
    brackets = _NOT_BRACKETS.sub("", skeleton)
    if brackets and max(accumulate(map(_DEPTH_STEP.__getitem__, brackets))) > limits.max_depth:
        raise limits.exceeded(what, "nests objects and arrays deeper", "max_depth")


def _check_after_parsing(obj: Any, limits: DocumentLimits, what: str) -> None:
    """Key counts, string and array lengths, over the parsed value with an explicit stack (no recursion)."""
    keys = 0
    pending = [obj]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            keys += len(value)
            if len(value) > limits.max_object_keys:
                raise limits.exceeded(what, "has an object with more keys", "max_object_keys")
            if keys > limits.max_keys:
                raise limits.exceeded(what, "has more keys in all", "max_keys")
            if max(map(len, value), default=0) > limits.max_string_length:
                raise limits.exceeded(what, "has a longer key", "max_string_length")
            pending.extend(value.values())
        elif isinstance(value, list):
            if len(value) > limits.max_array_length:
                raise limits.exceeded(what, "has an array with more elements", "max_array_length")
            pending.extend(value)
        elif isinstance(value, str) and len(value) > limits.max_string_length:
            raise limits.exceeded(what, "has a longer string", "max_string_length")


def parse_strict_json(
    raw: bytes | str, limits: DocumentLimits = DocumentLimits(), *, what: str = "statement"
) -> dict[str, Any]:
    """Parse a signed object, refusing what canonical JSON cannot carry unambiguously, or what exceeds `limits`.

    Floats, NaN/Infinity, duplicate keys and integers beyond 2**53 are rejected rather than normalised: a
    signature must cover exactly one meaning. The text must be UTF-8 (RFC 8259).
    """
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise limits.exceeded(what, f"is {size} bytes long", "max_bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidStatement(f"{what} is not valid UTF-8: {exc}") from None
    _check_before_parsing(text, limits, what)

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise InvalidStatement(f"duplicate key {key[:100]!r} in {what}")
                seen.add(key)
        return obj

    def no_float(token: str) -> Any:
        raise InvalidStatement(f"floating-point number {token[:40]} in {what}; use strings or integers")

    def checked_int(token: str) -> int:
        value = int(token)  # safe: _check_before_parsing bounded its digits
        if abs(value) > _MAX_SAFE_INTEGER:
            raise InvalidStatement(f"integer {token} is too large for canonical JSON")
        return value

    try:
        obj = json.loads(
            text,
            object_pairs_hook=no_duplicates,
            parse_float=no_float,
            parse_int=checked_int,
            parse_constant=no_float,
        )
    except json.JSONDecodeError as exc:
        raise InvalidStatement(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidStatement(f"{what} must be a JSON object")
    _check_after_parsing(obj, limits, what)
    return obj


def parse_bounded_json(raw: str, limits: DocumentLimits, *, what: str) -> Any:
    """Any JSON value within `limits`' bytes, depth and number length, floats and all: for documents that only carry
    a signed one (a registration's answer around its receipt). Raises InvalidStatement, never ValueError or
    RecursionError, whatever the text."""
    if len(raw.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise limits.exceeded(what, f"is over {limits.max_bytes} bytes long", "max_bytes")
    _check_before_parsing(raw, limits, what)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidStatement(f"{what} is not valid JSON: {exc}") from None


def parse_statement(
    raw: bytes | str, model: type[StatementT], limits: DocumentLimits = DocumentLimits()
) -> tuple[StatementT, dict[str, Any]]:
    """The validated statement and the exact object that was signed."""
    obj = parse_strict_json(raw, limits)
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
