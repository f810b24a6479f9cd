"""The registry's operations, shared by the HTTP API and the CLI.

Every function is keyword-only, takes its database session explicitly and knows nothing of HTTP; failures are
`registry.errors` exceptions. Writes follow one order: original bytes to the content store (idempotent), then
one database transaction, then the in-memory index catches up, so a crash leaves nothing or everything.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from fingerprint.features import extra_pdq_hashes, extract_features
from fingerprint.image import fingerprint_canonical, hash_pixels
from registry import views
from registry.errors import AlreadyRegistered, Conflict, InvalidStatement, NotFound
from registry.log import store as log
from registry.matching import registration_status
from registry.media import decode
from registry.models import ContentRevocation, LocalFeatureSet, MediaHash, Publisher, Registration
from registry.publishers import (
    authorise_statement,
    claim_nonce,
    is_verified,
    new_id,
    now_utc,
    record,
    signed_event,
    write_transaction,
)
from registry.runtime import Registry
from registry.statements import ContentRevocationStatement, RegistrationStatement, canonical_json

# --- registration -----------------------------------------------------------------------------------------------


def register(
    *,
    session: Session,
    registry: Registry,
    statement: bytes | str,
    signature: str,
    content: bytes,
    caller: Publisher | None = None,
    now: datetime | None = None,
) -> views.RegistrationReceiptView:
    """Verify a publisher's signed statement about `content`, store the original, log it, make it matchable.

    `caller` is the publisher an API key authenticated (None for local CLI use, where access to the data
    directory is the authority).
    """
    now = now or now_utc()
    claim, signed, auth = authorise_statement(
        session=session,
        registry=registry,
        statement=statement,
        model=RegistrationStatement,
        signature=signature,
        caller=caller,
        now=now,
    )
    if len(content) != claim.content.size or hashlib.sha256(content).hexdigest() != claim.content.sha256:
        raise InvalidStatement("uploaded bytes do not match the statement's content.sha256 and size")
    image = decode(content, registry.settings)
    fp = fingerprint_canonical(image, sha256=claim.content.sha256, size=len(content))
    if fp.media_type != claim.content.media_type:
        raise InvalidStatement(f"statement says {claim.content.media_type}, but the file is {fp.media_type}")
    registry.store.put(content)

    with write_transaction(session, registry):
        claim_nonce(session, auth.publisher.id, claim.nonce)
        existing = session.exec(
            select(Registration.id).where(
                Registration.publisher_id == auth.publisher.id, Registration.content_sha256 == fp.sha256
            )
        ).first()
        if existing is not None:
            raise AlreadyRegistered(
                f"this publisher registered these bytes already as {existing}", registration_id=existing
            )
        registration_id = new_id("reg")
        event = signed_event("registration", registration_id, auth, signed, signature, registration_id=registration_id)
        (entry,) = record(session, registry, [event], now)
        registration = Registration(
            id=registration_id,
            publisher_id=auth.publisher.id,
            key_id=auth.key.key_id,
            statement=canonical_json(signed).decode(),
            signature=signature,
            content_sha256=fp.sha256,
            media_type=fp.media_type,
            size=fp.size,
            width=fp.width,
            height=fp.height,
            trim_box=json.dumps(fp.trim_box.corners()),
            pdq_quality=fp.pdq_quality,
            created_at=now,
            log_index=entry["log_index"],
        )
        session.add(registration)
        session.flush()
        hashes = [
            MediaHash(registration_id=registration.id, alg=alg, variant="canonical", value=value.data)
            for alg, value in (("pdq", fp.pdq), ("phash", fp.phash), ("dhash", fp.dhash))
        ] + [
            MediaHash(registration_id=registration.id, alg="pdq", variant=name, value=value.data)
            for name, value in extra_pdq_hashes(hash_pixels(image)).items()
        ]
        session.add_all(hashes)
        session.add(LocalFeatureSet(registration_id=registration.id, data=extract_features(image).to_bytes()))
    registry.indexes.catch_up(session)
    view = _registration_view(session, registration, hashes, now)
    return views.RegistrationReceiptView(**dict(view), receipt=log.receipt(session, registration.log_index))


def revoke_registration(
    *,
    session: Session,
    registry: Registry,
    statement: bytes | str,
    signature: str,
    caller: Publisher | None = None,
    registration_id: str | None = None,
    now: datetime | None = None,
) -> views.RevocationView:
    """The publisher withdraws its registration; matches then say so, and its log entry still proves it existed.

    `registration_id`, when given (the API's URL), must be the one the signed statement names.
    """
    now = now or now_utc()
    claim, signed, auth = authorise_statement(
        session=session,
        registry=registry,
        statement=statement,
        model=ContentRevocationStatement,
        signature=signature,
        caller=caller,
        now=now,
    )
    if registration_id is not None and registration_id != claim.registration_id:
        raise InvalidStatement("the statement revokes a different registration than the one addressed")
    registration = session.get(Registration, claim.registration_id)
    if registration is None or registration.publisher_id != auth.publisher.id:
        raise NotFound(f"publisher {auth.publisher.id} has no registration {claim.registration_id!r}")
    with write_transaction(session, registry):
        claim_nonce(session, auth.publisher.id, claim.nonce)
        if session.get(ContentRevocation, registration.id) is not None:
            raise Conflict(f"registration {registration.id} is already revoked")
        event = signed_event(
            "content_revocation", registration.id, auth, signed, signature, registration_id=registration.id
        )
        (entry,) = record(session, registry, [event], now)
        session.add(
            ContentRevocation(
                registration_id=registration.id, reason=claim.reason, revoked_at=now, log_index=entry["log_index"]
            )
        )
    return views.RevocationView(
        registration_id=registration.id,
        revoked_at=now,
        reason=claim.reason,
        log_index=entry["log_index"],
        receipt=log.receipt(session, entry["log_index"]),
    )


def registration_receipt(*, session: Session, registration_id: str) -> dict[str, Any]:
    """A fresh receipt for a registration, against the latest checkpoint."""
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound(f"no registration {registration_id!r}")
    return log.receipt(session, registration.log_index)


def get_registration(*, session: Session, registration_id: str, now: datetime | None = None) -> views.RegistrationView:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound(f"no registration {registration_id!r}")
    hashes = list(session.exec(select(MediaHash).where(MediaHash.registration_id == registration_id)).all())
    return _registration_view(session, registration, hashes, now or now_utc())


def _registration_view(
    session: Session, registration: Registration, hashes: list[MediaHash], now: datetime
) -> views.RegistrationView:
    status = registration_status(session, [registration.id])[registration.id]
    publisher, revocation = status.publisher, status.revocation
    statement = json.loads(registration.statement)
    canonical = {hash_row.alg: hash_row.value.hex() for hash_row in hashes if hash_row.variant == "canonical"}
    return views.RegistrationView(
        id=registration.id,
        log_index=registration.log_index,
        revoked=revocation is not None,
        revocation_log_index=None if revocation is None else revocation.log_index,
        publisher=views.PublisherRef(id=publisher.id, name=publisher.name, verified=is_verified(publisher, now)),
        key_id=registration.key_id,
        content=views.ContentView(
            sha256=registration.content_sha256, media_type=registration.media_type, size=registration.size
        ),
        metadata=statement.get("metadata", {}),
        statement=statement,
        signature=registration.signature,
        created_at=registration.created_at,
        fingerprints=views.FingerprintsView(
            pdq=canonical["pdq"],
            pdq_quality=registration.pdq_quality,
            phash=canonical["phash"],
            dhash=canonical["dhash"],
            width=registration.width,
            height=registration.height,
            trim_box=json.loads(registration.trim_box),
        ),
    )
