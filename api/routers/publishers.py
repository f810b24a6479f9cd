"""Publishers: created and verified by the operator; keys rotated and revoked by the publisher itself, or a lost
key revoked (and replaced) by the operator; API keys rotated by the publisher or revoked by the operator."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AdminDep, BearerDep, CurrentPublisher, RegistryDep, SessionDep
from registry import publishers, views
from registry.errors import Forbidden, InvalidRequest

router = APIRouter(prefix="/v1/publishers", tags=["publishers"])


class VerificationIn(BaseModel):
    method: str = Field(min_length=1, max_length=100, examples=["dns-txt", "video-call", "contract"])
    evidence: str = Field(default="", max_length=2000, description="what was checked, for auditors")
    verified_by: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = Field(default=None, description="when the verification lapses (UTC)")

    def to_verification(self) -> publishers.Verification:
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InvalidRequest("verification.expires_at needs a timezone, e.g. 2027-01-01T00:00:00Z")
        return publishers.Verification(self.method, self.evidence, self.verified_by, self.expires_at)


class PublisherCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    verification: VerificationIn


class SignedRequest(BaseModel):
    statement: str = Field(description="the statement as JSON text (signed over its RFC 8785 form)")
    signature: str = Field(description="base64 Ed25519 signature")


class KeyRotation(BaseModel):
    statement: str = Field(description="the key_rotation statement as JSON text")
    old_signature: str = Field(description="by the current key")
    new_signature: str = Field(description="by the new key")


class LostKeyRevocation(BaseModel):
    compromised_since: datetime = Field(description="from when what the key signed is suspect (UTC)")
    reason: str = Field(min_length=1, max_length=1000, description="why, for auditors")
    new_public_key: str | None = Field(
        default=None,
        description="base64 raw Ed25519 key that replaces the revoked key; required iff it is the current key",
    )


class ApiKeysRevocation(BaseModel):
    replace: bool = Field(default=True, description="issue one new API key in the same step (shown once)")


def _b64_key(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{what} must be base64") from None


@router.post("", status_code=201, response_model=views.PublisherCreatedView)
def create_publisher(
    body: PublisherCreate, session: SessionDep, registry: RegistryDep, _admin: AdminDep
) -> views.PublisherCreatedView:
    """Create a verified publisher (admin token). The response's `api_key` is shown only this once."""
    return publishers.create_publisher(
        session=session,
        registry=registry,
        name=body.name,
        public_key=_b64_key(body.public_key, "public_key"),
        verification=body.verification.to_verification(),
    )


@router.get("/{publisher_id}", response_model=views.PublisherView)
def get_publisher(publisher_id: str, session: SessionDep) -> views.PublisherView:
    return publishers.get_publisher(session=session, publisher_id=publisher_id)


@router.put("/{publisher_id}/verification", response_model=views.PublisherView)
def set_verification(
    publisher_id: str, body: VerificationIn, session: SessionDep, registry: RegistryDep, _admin: AdminDep
) -> views.PublisherView:
    """Renew a publisher's verification, or end it (an expiry in the past). Logged (admin token)."""
    return publishers.set_verification(
        session=session, registry=registry, publisher_id=publisher_id, verification=body.to_verification()
    )


@router.post("/{publisher_id}/keys/rotate", response_model=views.PublisherView)
def rotate_key(
    publisher_id: str, body: KeyRotation, caller: CurrentPublisher, session: SessionDep, registry: RegistryDep
) -> views.PublisherView:
    """Make a new key current; the statement is signed by both the current and the new key."""
    _same_publisher(publisher_id, caller.id)
    return publishers.rotate_key(
        session=session,
        registry=registry,
        statement=body.statement,
        old_signature=body.old_signature,
        new_signature=body.new_signature,
        caller=caller,
    )


@router.post("/{publisher_id}/keys/revoke", response_model=views.KeyRevocationView)
def revoke_key(
    publisher_id: str, body: SignedRequest, caller: CurrentPublisher, session: SessionDep, registry: RegistryDep
) -> views.KeyRevocationView:
    """Report a retired key compromised since a moment; `check` then flags what it signed from then on."""
    _same_publisher(publisher_id, caller.id)
    return publishers.revoke_key(
        session=session, registry=registry, statement=body.statement, signature=body.signature, caller=caller
    )


@router.post("/{publisher_id}/keys/{key_id}/revoke", response_model=views.KeyRevocationView)
def revoke_lost_key(
    publisher_id: str,
    key_id: str,
    body: LostKeyRevocation,
    session: SessionDep,
    registry: RegistryDep,
    _admin: AdminDep,
) -> views.KeyRevocationView:
    """Revoke a key the publisher lost (admin token); a current key is replaced by `new_public_key`. Logged."""
    if body.compromised_since.tzinfo is None:
        raise InvalidRequest("compromised_since needs a timezone, e.g. 2026-01-31T12:00:00Z")
    return publishers.revoke_lost_key(
        session=session,
        registry=registry,
        publisher_id=publisher_id,
        revoked_key_id=key_id,
        compromised_since=body.compromised_since,
        reason=body.reason,
        revoked_by="admin token",
        new_public_key=None if body.new_public_key is None else _b64_key(body.new_public_key, "new_public_key"),
    )


@router.post("/{publisher_id}/api-keys/rotate", response_model=publishers.ApiKeysView)
def rotate_api_key(
    publisher_id: str,
    caller: CurrentPublisher,
    credentials: BearerDep,
    session: SessionDep,
    registry: RegistryDep,
) -> publishers.ApiKeysView:
    """Replace the API key this request is sent with by a new one (shown once); the old key and every web desk
    session it opened end now."""
    _same_publisher(publisher_id, caller.id)
    assert credentials is not None  # CurrentPublisher authenticated it
    return publishers.rotate_api_key(session=session, registry=registry, api_key=credentials.credentials)


@router.post("/{publisher_id}/api-keys/revoke", response_model=publishers.ApiKeysView)
def revoke_api_keys(
    publisher_id: str,
    session: SessionDep,
    registry: RegistryDep,
    _admin: AdminDep,
    body: ApiKeysRevocation | None = None,
) -> publishers.ApiKeysView:
    """Revoke every API key of a publisher and end its web desk sessions (admin token); by default one new key
    is issued in the same step, shown once."""
    return publishers.revoke_api_keys(
        session=session, registry=registry, publisher_id=publisher_id, replace=(body or ApiKeysRevocation()).replace
    )


def _same_publisher(path_id: str, caller_id: str) -> None:
    if path_id != caller_id:
        raise Forbidden(f"this API key belongs to {caller_id}, not {path_id}")
