"""Publishers and their keys: creation and verification by the operator, rotation and revocation by the publisher.

Every change is a transparency-log event committed in the same transaction as the state it changes (through
`registry.writes`, the write path these share with registrations).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from registry import views, websessions
from registry.clock import now_utc
from registry.errors import Conflict, Forbidden, InvalidRequest, InvalidStatement, NotFound, Unauthenticated
from registry.keys import api_key_hash, key_id, new_api_key, public_key_from_raw
from registry.log import store as log
from registry.models import ApiKey, KeyRevocation, Publisher, PublisherKey, is_verified
from registry.runtime import Registry
from registry.statements import (
    DOMAINS,
    KeyRevocationStatement,
    KeyRotationStatement,
    format_timestamp,
    parse_timestamp,
    verify,
)
from registry.writes import authorise_statement, b64, new_id, record, signed_write, write_transaction


@dataclass(frozen=True, slots=True)
class Verification:
    """How the operator established that a named organisation controls a key; it says nothing about content."""

    method: str
    evidence: str
    verified_by: str
    expires_at: datetime | None


# --- operator actions -------------------------------------------------------------------------------------------


def create_publisher(
    *,
    session: Session,
    registry: Registry,
    name: str,
    public_key: bytes,
    verification: Verification,
    now: datetime | None = None,
) -> views.PublisherCreatedView:
    """Create a verified publisher with its current key and a first API key (returned once, stored hashed)."""
    now = now or now_utc()
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("publisher name must be 1-200 characters")
    public_key_from_raw(public_key)
    _check_expiry(verification, now)
    with write_transaction(session, registry):
        if session.exec(select(Publisher).where(Publisher.name == name)).first() is not None:
            raise Conflict(f"a publisher named {name!r} already exists")
        kid = key_id(public_key)
        if session.get(PublisherKey, kid) is not None:
            raise Conflict("this public key is already registered to a publisher")
        publisher = Publisher(
            id=new_id("pub"),
            name=name,
            created_at=now,
            verification_method=verification.method,
            verification_evidence=verification.evidence,
            verified_by=verification.verified_by,
            verified_at=now,
            verification_expires_at=verification.expires_at,
        )
        session.add(publisher)
        session.flush()
        session.add(PublisherKey(key_id=kid, publisher_id=publisher.id, public_key=public_key, created_at=now))
        token = _issue_api_key(session, publisher.id, now)
        record(session, registry, [_verification_event(publisher, kid, public_key)], now)
    return views.PublisherCreatedView(**publisher_view(publisher, kid, now).model_dump(), api_key=token)


def set_verification(
    *,
    session: Session,
    registry: Registry,
    publisher_id: str,
    verification: Verification,
    now: datetime | None = None,
) -> views.PublisherView:
    """Renew a publisher's verification, or end it now (expires_at <= now withdraws it)."""
    now = now or now_utc()
    with write_transaction(session, registry):
        publisher = _publisher(session, publisher_id)
        key = current_key(session, publisher.id)
        publisher.verification_method = verification.method
        publisher.verification_evidence = verification.evidence
        publisher.verified_by = verification.verified_by
        publisher.verified_at = now
        publisher.verification_expires_at = verification.expires_at
        session.add(publisher)
        if not is_verified(publisher, now):
            websessions.end_for_publisher(session, publisher.id)
        record(session, registry, [_verification_event(publisher, key.key_id, key.public_key)], now)
    return publisher_view(publisher, key.key_id, now)


def revoke_lost_key(
    *,
    session: Session,
    registry: Registry,
    publisher_id: str,
    revoked_key_id: str,
    compromised_since: datetime,
    reason: str,
    revoked_by: str,
    new_public_key: bytes | None = None,
    now: datetime | None = None,
) -> views.KeyRevocationView:
    """Operator: report a publisher key compromised that the publisher lost, so cannot sign its own revocation with.

    The key is retired as well as revoked, so it signs nothing more. A publisher always keeps exactly one current
    key: revoking the current key needs `new_public_key` (established out of band, as at creation), which becomes
    current in the same logged event; for a key already retired it must be absent.
    """
    now = now or now_utc()
    if compromised_since.tzinfo is None:
        raise InvalidRequest("compromised_since needs a timezone, e.g. 2026-01-31T12:00:00Z")
    if compromised_since > now:
        raise InvalidRequest("compromised_since must not be in the future")
    reason = reason.strip()
    if not reason or len(reason) > 1000:
        raise InvalidRequest("reason must be 1-1000 characters")
    if new_public_key is not None:
        public_key_from_raw(new_public_key)
    since_text = format_timestamp(compromised_since)
    with write_transaction(session, registry):
        publisher = _publisher(session, publisher_id)
        revoked = session.get(PublisherKey, revoked_key_id)
        if revoked is None or revoked.publisher_id != publisher.id:
            raise NotFound(f"publisher {publisher.id} has no key {revoked_key_id!r}")
        if session.get(KeyRevocation, revoked.key_id) is not None:
            raise Conflict("this key was revoked already")
        if revoked.retired_at is None and new_public_key is None:
            raise InvalidRequest("this is the publisher's current key: give the new_public_key that replaces it")
        if revoked.retired_at is not None and new_public_key is not None:
            raise InvalidRequest("this key is retired already: the publisher's current key stays; omit new_public_key")
        fields: dict[str, Any] = {
            "publisher_id": publisher.id,
            "revoked_key_id": revoked.key_id,
            "compromised_since": since_text,
            "reason": reason,
            "revoked_by": revoked_by,
            "new_key_id": None,
            "new_public_key": None,
        }
        if new_public_key is not None:
            new_key_id = key_id(new_public_key)
            if session.get(PublisherKey, new_key_id) is not None:
                raise Conflict("the new key is already registered")
            revoked.retired_at = now
            session.add(revoked)
            session.add(
                PublisherKey(key_id=new_key_id, publisher_id=publisher.id, public_key=new_public_key, created_at=now)
            )
            fields |= {"new_key_id": new_key_id, "new_public_key": b64(new_public_key)}
        (entry,) = record(session, registry, [log.Event("operator_key_revocation", publisher.id, fields)], now)
        session.add(
            KeyRevocation(
                key_id=revoked.key_id, compromised_since=parse_timestamp(since_text), log_index=entry["log_index"]
            )
        )
        websessions.end_for_publisher(session, publisher.id)
    return views.KeyRevocationView(
        key_id=revoked.key_id, compromised_since=parse_timestamp(since_text), log_index=entry["log_index"]
    )


def _verification_event(publisher: Publisher, kid: str, public_key: bytes) -> log.Event:
    return log.Event(
        "publisher_verification",
        publisher.id,
        {
            "publisher_id": publisher.id,
            "name": publisher.name,
            "key_id": kid,
            "public_key": b64(public_key),
            "verification": {
                "method": publisher.verification_method,
                "evidence": publisher.verification_evidence,
                "verified_by": publisher.verified_by,
                "verified_at": format_timestamp(publisher.verified_at),
                "expires_at": None
                if publisher.verification_expires_at is None
                else format_timestamp(publisher.verification_expires_at),
            },
        },
    )


def _check_expiry(verification: Verification, now: datetime) -> None:
    if verification.expires_at is not None and verification.expires_at <= now:
        raise InvalidRequest("verification expiry must be in the future")


# --- lookups ----------------------------------------------------------------------------------------------------


def get_publisher(*, session: Session, publisher_id: str, now: datetime | None = None) -> views.PublisherView:
    publisher = _publisher(session, publisher_id)
    return publisher_view(publisher, current_key(session, publisher.id).key_id, now or now_utc())


def publisher_for_key(*, session: Session, public_key: bytes) -> Publisher:
    """The publisher whose current key this is (the CLI signs with a key file and needs its publisher id)."""
    key = session.get(PublisherKey, key_id(public_key))
    if key is None:
        raise NotFound("this key belongs to no publisher in this registry")
    if key.retired_at is not None:
        raise Forbidden("this key was retired; sign with the publisher's current key")
    return _publisher(session, key.publisher_id)


def authenticate(*, session: Session, api_key: str) -> Publisher:
    return _publisher(session, authenticated_key(session=session, api_key=api_key).publisher_id)


def authenticated_key(*, session: Session, api_key: str) -> ApiKey:
    """The stored row of a live API key (for a desk session to remember which key opened it)."""
    row = session.exec(select(ApiKey).where(ApiKey.secret_sha256 == api_key_hash(api_key))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    return row


def current_key(session: Session, publisher_id: str) -> PublisherKey:
    key = session.exec(
        select(PublisherKey).where(PublisherKey.publisher_id == publisher_id, col(PublisherKey.retired_at).is_(None))
    ).first()
    if key is None:
        raise Forbidden(f"publisher {publisher_id} has no current key")
    return key


def publisher_view(publisher: Publisher, kid: str, now: datetime) -> views.PublisherView:
    return views.PublisherView(
        id=publisher.id,
        name=publisher.name,
        key_id=kid,
        verified=is_verified(publisher, now),
        verification=views.VerificationView(
            method=publisher.verification_method,
            verified_by=publisher.verified_by,
            verified_at=publisher.verified_at,
            expires_at=publisher.verification_expires_at,
        ),
    )


def _publisher(session: Session, publisher_id: str) -> Publisher:
    publisher = session.get(Publisher, publisher_id)
    if publisher is None:
        raise NotFound(f"no publisher {publisher_id!r}")
    return publisher


def rotate_key(
    *,
    session: Session,
    registry: Registry,
    statement: bytes | str,
    old_signature: str,
    new_signature: str,
    caller: Publisher | None = None,
    now: datetime | None = None,
) -> views.PublisherView:
    """Make a new key current. Both keys sign the same statement: the old proves authority, the new possession."""
    now = now or now_utc()
    request = authorise_statement(
        session=session,
        registry=registry,
        statement=statement,
        model=KeyRotationStatement,
        signature=old_signature,
        caller=caller,
        now=now,
        key_field="old_key_id",
    )
    try:
        new_public_key = base64.b64decode(request.claim.new_public_key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidStatement("new_public_key must be base64") from None
    public_key_from_raw(new_public_key)
    verify(new_public_key, DOMAINS["key_rotation"], request.signed, new_signature)
    new_key_id = key_id(new_public_key)
    publisher = request.publisher
    with signed_write(session, registry, request, now) as log_signed:
        if session.get(PublisherKey, new_key_id) is not None:
            raise Conflict("the new key is already registered")
        old = session.get(PublisherKey, request.key.key_id)
        assert old is not None
        if old.retired_at is not None:
            raise Conflict("the old key was rotated away concurrently")
        old.retired_at = now
        session.add(old)
        session.add(
            PublisherKey(key_id=new_key_id, publisher_id=publisher.id, public_key=new_public_key, created_at=now)
        )
        log_signed("key_rotation", publisher.id, new_key_id=new_key_id, new_signature=new_signature)
    return publisher_view(publisher, new_key_id, now)


def revoke_key(
    *,
    session: Session,
    registry: Registry,
    statement: bytes | str,
    signature: str,
    caller: Publisher | None = None,
    now: datetime | None = None,
) -> views.KeyRevocationView:
    """Report a retired key as compromised since a moment: what it signed from then on is flagged by `check`."""
    now = now or now_utc()
    request = authorise_statement(
        session=session,
        registry=registry,
        statement=statement,
        model=KeyRevocationStatement,
        signature=signature,
        caller=caller,
        now=now,
    )
    claim = request.claim
    revoked = session.get(PublisherKey, claim.revoked_key_id)
    if revoked is None or revoked.publisher_id != request.publisher.id:
        raise InvalidStatement("revoked_key_id is not a key of this publisher")
    if revoked.retired_at is None:
        raise InvalidRequest("rotate to a new key first: the current key cannot be revoked while it is current")
    compromised_since = parse_timestamp(claim.compromised_since)
    with signed_write(session, registry, request, now) as log_signed:
        if session.get(KeyRevocation, revoked.key_id) is not None:
            raise Conflict("this key was revoked already")
        entry = log_signed(
            "key_revocation", revoked.key_id, revoked_key_id=revoked.key_id, compromised_since=claim.compromised_since
        )
        session.add(
            KeyRevocation(key_id=revoked.key_id, compromised_since=compromised_since, log_index=entry["log_index"])
        )
        websessions.end_for_publisher(session, request.publisher.id)
    return views.KeyRevocationView(
        key_id=revoked.key_id, compromised_since=compromised_since, log_index=entry["log_index"]
    )


# --- API keys ---------------------------------------------------------------------------------------------------


class ApiKeysView(BaseModel):
    """What revoking or rotating a publisher's API keys did. `api_key` is the new key, shown only this once."""

    model_config = ConfigDict(frozen=True)
    publisher_id: str
    api_key: str | None
    revoked: int  # API keys revoked
    sessions_ended: int  # web desk sessions they had opened, ended with them


def rotate_api_key(*, session: Session, registry: Registry, api_key: str, now: datetime | None = None) -> ApiKeysView:
    """Publisher: replace the API key it authenticates with by a new one; the old key and its sessions end now.

    Not logged: an API key is a credential for this registry's HTTP API, not a claim about content.
    """
    now = now or now_utc()
    with write_transaction(session, registry):
        old = authenticated_key(session=session, api_key=api_key)
        ended = _revoke(session, old.publisher_id, [old], now)
        token = _issue_api_key(session, old.publisher_id, now)
    return ApiKeysView(publisher_id=old.publisher_id, api_key=token, revoked=1, sessions_ended=ended)


def revoke_api_keys(
    *, session: Session, registry: Registry, publisher_id: str, replace: bool = True, now: datetime | None = None
) -> ApiKeysView:
    """Operator: revoke every API key of a publisher (one leaked, or the publisher is cut off), ending every session
    they opened; with `replace`, issue one new key to hand over out of band."""
    now = now or now_utc()
    with write_transaction(session, registry):
        publisher = _publisher(session, publisher_id)
        live = session.exec(
            select(ApiKey).where(ApiKey.publisher_id == publisher.id, col(ApiKey.revoked_at).is_(None))
        ).all()
        ended = _revoke(session, publisher.id, list(live), now)
        token = _issue_api_key(session, publisher.id, now) if replace else None
    return ApiKeysView(publisher_id=publisher.id, api_key=token, revoked=len(live), sessions_ended=ended)


def _revoke(session: Session, publisher_id: str, keys: list[ApiKey], now: datetime) -> int:
    """Revoke `keys` and end the sessions they opened; how many sessions ended."""
    for key in keys:
        key.revoked_at = now
        session.add(key)
    return websessions.end_for_publisher(session, publisher_id, api_key_ids=[key.id for key in keys])


def _issue_api_key(session: Session, publisher_id: str, now: datetime) -> str:
    token, token_hash = new_api_key()
    session.add(ApiKey(id=new_id("key"), publisher_id=publisher_id, secret_sha256=token_hash, created_at=now))
    return token
