"""Publishers: created by the operator after verifying who controls a key."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AdminDep, SessionDep
from registry import service, views
from registry.errors import InvalidRequest

router = APIRouter(prefix="/v1/publishers", tags=["publishers"])


class VerificationIn(BaseModel):
    method: str = Field(min_length=1, max_length=100, examples=["dns-txt", "video-call", "contract"])
    evidence: str = Field(default="", max_length=2000, description="what was checked, for auditors")
    verified_by: str = Field(min_length=1, max_length=200)
    expires_at: datetime | None = Field(default=None, description="when the verification lapses (UTC)")


class PublisherCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    public_key: str = Field(description="base64 of the raw 32-byte Ed25519 public key")
    verification: VerificationIn


@router.post("", status_code=201, response_model=views.PublisherCreatedView)
def create_publisher(body: PublisherCreate, session: SessionDep, _admin: AdminDep) -> views.PublisherCreatedView:
    """Create a verified publisher (admin token). The response's `api_key` is shown only this once."""
    try:
        public_key = base64.b64decode(body.public_key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("public_key must be base64") from None
    expires_at = body.verification.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        raise InvalidRequest("verification.expires_at needs a timezone, e.g. 2027-01-01T00:00:00Z")
    return service.create_publisher(
        session=session,
        name=body.name,
        public_key=public_key,
        verification=service.Verification(
            method=body.verification.method,
            evidence=body.verification.evidence,
            verified_by=body.verification.verified_by,
            expires_at=expires_at,
        ),
    )


@router.get("/{publisher_id}", response_model=views.PublisherView)
def get_publisher(publisher_id: str, session: SessionDep) -> views.PublisherView:
    return service.get_publisher(session=session, publisher_id=publisher_id)
