"""The registry's operations, shared by the HTTP API and the CLI.

Every function is keyword-only, takes its database session explicitly and knows nothing of HTTP; failures are
`registry.errors` exceptions. Writes follow one order: original bytes to the content store (idempotent), then
one database transaction, then the in-memory index catches up, so a crash leaves nothing or everything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS, PDQ_VARIANTS
from fingerprint.image import ImageFingerprint, fingerprint_image
from fingerprint.media import CorruptMediaError, MediaError, MediaTooLargeError, UnsupportedMediaError
from registry import views
from registry.errors import (
    AlreadyRegistered,
    Conflict,
    CorruptMedia,
    InvalidRequest,
    InvalidStatement,
    MediaTooLarge,
    NotFound,
    RegistryError,
    UnsupportedMedia,
)
from registry.log import store as log
from registry.models import ContentRevocation, KeyRevocation, MediaHash, Publisher, Registration
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

LOOKUP_ALGORITHMS = ("sha256", *ALGORITHMS)
MAX_LOOKUP_RESULTS = 1000
# PDQ distance at which unrelated images sit on average: the zero point of a match's score.
_UNRELATED_DISTANCE = 128


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
    fp = _fingerprint(content, registry, dihedral=False)
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
            trim_box=json.dumps(fp.trim_box.as_list()),
            pdq_quality=fp.pdq_quality,
            created_at=now,
            log_index=entry["log_index"],
        )
        session.add(registration)
        session.flush()
        hashes = [
            MediaHash(registration_id=registration.id, alg=alg, variant="canonical", value=value.data)
            for alg, value in (("pdq", fp.pdq), ("phash", fp.phash), ("dhash", fp.dhash))
        ]
        session.add_all(hashes)
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
    (row,) = _with_status(session, [registration.id])
    publisher, revocation = row.publisher, row.revocation
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


# --- matching ---------------------------------------------------------------------------------------------------


def check(*, session: Session, registry: Registry, content: bytes, now: datetime | None = None) -> views.CheckView:
    """Is `content` a copy of a registered original? Searches all 8 flips and rotations in one batch."""
    registry.require_ready()
    now = now or now_utc()
    fp = _fingerprint(content, registry, dihedral=True)
    registry.indexes.catch_up(session)
    warnings: list[str] = []

    best: dict[str, tuple[int, int, bool]] = {}  # registration id -> (distance, variant index, exact)
    for registration_id in session.exec(select(Registration.id).where(Registration.content_sha256 == fp.sha256)).all():
        best[registration_id] = (0, 0, True)
    if fp.trusted:
        codes = np.stack([value.to_array() for value in fp.pdq_dihedral])
        hits = registry.indexes.search("pdq", codes, registry.settings.match_threshold)
        owners = _hash_owners(session, (hit.id for variant_hits in hits for hit in variant_hits))
        for variant, variant_hits in enumerate(hits):
            for hit in variant_hits:
                registration_id = owners.get(hit.id)
                if registration_id is None:
                    continue  # indexed by another process's view of a database since restored; ignore
                if registration_id not in best or (hit.distance, variant) < best[registration_id][:2]:
                    best[registration_id] = (hit.distance, variant, False)
    else:
        warnings.append(
            f"low_quality: the image has too little detail for a trustworthy perceptual hash "
            f"(PDQ quality {fp.pdq_quality} < 50); only byte-identical copies are matched"
        )

    matches = []
    for row in _with_status(session, best):
        registration, publisher = row.registration, row.publisher
        distance, variant, exact = best[registration.id]
        if not exact and registration.pdq_quality < 50:
            continue  # a flat original's hash matches too much to mean anything
        matches.append(
            views.MatchView(
                registration_id=registration.id,
                publisher=publisher.name,
                publisher_id=publisher.id,
                verified=is_verified(publisher, now),
                distance=distance,
                score=round(max(0.0, 1.0 - distance / _UNRELATED_DISTANCE), 4),
                variant=PDQ_VARIANTS[variant],
                exact=exact,
                revoked=row.revocation is not None,
                revocation_log_index=None if row.revocation is None else row.revocation.log_index,
                key_compromised=row.key_compromised,
            )
        )
    matches.sort(key=lambda match: (match.distance, not match.exact, match.registration_id))
    return views.CheckView(
        verdict="copy" if matches else "unregistered",
        sha256=fp.sha256,
        media_type=fp.media_type,
        pdq=fp.pdq.hex(),
        pdq_quality=fp.pdq_quality,
        matches=matches[: registry.settings.max_matches],
        warnings=warnings,
    )


def lookup(
    *,
    session: Session,
    registry: Registry,
    alg: str,
    value: str,
    max_distance: int | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> views.LookupView:
    """Registrations whose `alg` hash is within `max_distance` of `value` (exact for sha256)."""
    now = now or now_utc()
    if alg not in LOOKUP_ALGORITHMS:
        raise InvalidRequest(f"unknown algorithm {alg!r}; choose one of {', '.join(LOOKUP_ALGORITHMS)}")
    if not 1 <= limit <= MAX_LOOKUP_RESULTS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LOOKUP_RESULTS}")
    value = value.strip().lower()
    best: dict[str, int] = {}
    if alg == "sha256":
        if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidRequest("a sha256 value is 64 hexadecimal digits")
        max_distance = 0
        rows = session.exec(select(Registration.id).where(Registration.content_sha256 == value).limit(limit))
        best = {registration_id: 0 for registration_id in rows.all()}
    else:
        registry.require_ready()
        algorithm = ALGORITHMS[alg]
        if len(value) != algorithm.bits // 4 or any(c not in "0123456789abcdef" for c in value):
            raise InvalidRequest(f"a {alg} value is {algorithm.bits // 4} hexadecimal digits")
        max_distance = algorithm.default_threshold if max_distance is None else max_distance
        if not 0 <= max_distance <= algorithm.bits // 4:
            raise InvalidRequest(f"max_distance for {alg} must be between 0 and {algorithm.bits // 4}")
        registry.indexes.catch_up(session)
        hits = registry.indexes.search(alg, np.frombuffer(bytes.fromhex(value), dtype=np.uint8), max_distance)[0]
        owners = _hash_owners(session, (hit.id for hit in hits))
        for hit in hits:
            if (registration_id := owners.get(hit.id)) is not None:
                best[registration_id] = min(hit.distance, best.get(registration_id, hit.distance))
    matches = [
        views.LookupMatchView(
            registration_id=row.registration.id,
            publisher=row.publisher.name,
            publisher_id=row.publisher.id,
            verified=is_verified(row.publisher, now),
            distance=best[row.registration.id],
            media_type=row.registration.media_type,
            content_sha256=row.registration.content_sha256,
            created_at=row.registration.created_at,
            revoked=row.revocation is not None,
            key_compromised=row.key_compromised,
        )
        for row in _with_status(session, best)
    ]
    matches.sort(key=lambda match: (match.distance, match.created_at))
    return views.LookupView(alg=alg, hash=value, max_distance=max_distance, matches=matches[:limit])


def _hash_owners(session: Session, hash_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(hash_ids))
    owners: dict[int, str] = {}
    for start in range(0, len(ids), 500):  # stay far below SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        rows = session.exec(select(MediaHash.id, MediaHash.registration_id).where(col(MediaHash.id).in_(chunk)))
        owners.update({int(hash_id): registration_id for hash_id, registration_id in rows.all()})
    return owners


@dataclass(frozen=True, slots=True)
class _Status:
    registration: Registration
    publisher: Publisher
    revocation: ContentRevocation | None
    key_revocation: KeyRevocation | None

    @property
    def key_compromised(self) -> bool:
        """Registered with a key that was, by then, already in an attacker's hands."""
        return self.key_revocation is not None and self.registration.created_at >= self.key_revocation.compromised_since


def _with_status(session: Session, registration_ids: Iterable[str]) -> list[_Status]:
    """Registrations with their publisher and any content or key revocation, in one query per 500 ids."""
    ids = sorted(set(registration_ids))
    rows: list[_Status] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query = (
            select(Registration, Publisher, ContentRevocation, KeyRevocation)
            .join(Publisher, col(Publisher.id) == col(Registration.publisher_id))
            .outerjoin(ContentRevocation, col(ContentRevocation.registration_id) == col(Registration.id))
            .outerjoin(KeyRevocation, col(KeyRevocation.key_id) == col(Registration.key_id))
            .where(col(Registration.id).in_(chunk))
        )
        rows.extend(_Status(*row) for row in session.exec(query).all())
    return rows


# --- media ------------------------------------------------------------------------------------------------------

_MEDIA_ERRORS: dict[type[MediaError], type[RegistryError]] = {
    UnsupportedMediaError: UnsupportedMedia,
    MediaTooLargeError: MediaTooLarge,
    CorruptMediaError: CorruptMedia,
}


def _fingerprint(content: bytes, registry: Registry, *, dihedral: bool) -> ImageFingerprint:
    if not content:
        raise InvalidRequest("the upload is empty")
    try:
        return fingerprint_image(content, max_pixels=registry.settings.max_pixels, dihedral=dihedral)
    except MediaError as exc:
        raise _MEDIA_ERRORS[type(exc)](str(exc)) from None
