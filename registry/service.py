"""The registry's operations, shared by the HTTP API and the CLI.

Every function is keyword-only, takes its database session explicitly and knows nothing of HTTP; failures are
`registry.errors` exceptions. Writes follow one order: original bytes to the content store (idempotent), then
one database transaction, then the in-memory index catches up, so a crash leaves nothing or everything.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS, PDQ_VARIANTS
from fingerprint.image import ImageFingerprint, fingerprint_image
from fingerprint.media import CorruptMediaError, MediaError, MediaTooLargeError, UnsupportedMediaError
from registry import views
from registry.db import take_write_lock
from registry.errors import (
    AlreadyRegistered,
    Conflict,
    CorruptMedia,
    Forbidden,
    InvalidRequest,
    InvalidStatement,
    MediaTooLarge,
    NonceReused,
    NotFound,
    RegistryError,
    Unauthenticated,
    UnsupportedMedia,
)
from registry.keys import api_key_hash, key_id, new_api_key, public_key_from_raw
from registry.models import ApiKey, MediaHash, Publisher, PublisherKey, Registration, UsedNonce
from registry.runtime import Registry
from registry.statements import REGISTRATION_DOMAIN, canonical_json, parse_registration_statement, verify

LOOKUP_ALGORITHMS = ("sha256", *ALGORITHMS)
MAX_LOOKUP_RESULTS = 1000
# PDQ distance at which unrelated images sit on average: the zero point of a match's score.
_UNRELATED_DISTANCE = 128


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


# --- publishers -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    """How the operator established that a named organisation controls a key; it says nothing about content."""

    method: str
    evidence: str
    verified_by: str
    expires_at: datetime | None


def create_publisher(
    *, session: Session, name: str, public_key: bytes, verification: Verification, now: datetime | None = None
) -> views.PublisherCreatedView:
    """Create a verified publisher with its current key and a first API key (returned once, stored hashed)."""
    now = now or _now()
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("publisher name must be 1-200 characters")
    public_key_from_raw(public_key)
    if verification.expires_at is not None and verification.expires_at <= now:
        raise InvalidRequest("verification expiry must be in the future")
    take_write_lock(session)
    if session.exec(select(Publisher).where(Publisher.name == name)).first() is not None:
        raise Conflict(f"a publisher named {name!r} already exists")
    kid = key_id(public_key)
    if session.get(PublisherKey, kid) is not None:
        raise Conflict("this public key is already registered to a publisher")
    publisher = Publisher(
        id=_new_id("pub"),
        name=name,
        created_at=now,
        verification_method=verification.method,
        verification_evidence=verification.evidence,
        verified_by=verification.verified_by,
        verified_at=now,
        verification_expires_at=verification.expires_at,
    )
    token, token_hash = new_api_key()
    session.add(publisher)
    session.flush()
    session.add(PublisherKey(key_id=kid, publisher_id=publisher.id, public_key=public_key, created_at=now))
    session.add(ApiKey(id=_new_id("key"), publisher_id=publisher.id, secret_sha256=token_hash, created_at=now))
    session.commit()
    return views.PublisherCreatedView(**_publisher_view(publisher, kid, now).model_dump(), api_key=token)


def get_publisher(*, session: Session, publisher_id: str, now: datetime | None = None) -> views.PublisherView:
    publisher = session.get(Publisher, publisher_id)
    if publisher is None:
        raise NotFound(f"no publisher {publisher_id!r}")
    return _publisher_view(publisher, _current_key(session, publisher.id).key_id, now or _now())


def publisher_for_key(*, session: Session, public_key: bytes) -> Publisher:
    """The publisher whose current key this is (the CLI signs with a key file and needs its publisher id)."""
    key = session.get(PublisherKey, key_id(public_key))
    if key is None:
        raise NotFound("this key belongs to no publisher in this registry")
    if key.retired_at is not None:
        raise Forbidden("this key was retired; sign with the publisher's current key")
    publisher = session.get(Publisher, key.publisher_id)
    assert publisher is not None  # foreign key
    return publisher


def authenticate(*, session: Session, api_key: str) -> Publisher:
    row = session.exec(select(ApiKey).where(ApiKey.secret_sha256 == api_key_hash(api_key))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked API key")
    publisher = session.get(Publisher, row.publisher_id)
    assert publisher is not None  # foreign key
    return publisher


def _current_key(session: Session, publisher_id: str) -> PublisherKey:
    key = session.exec(
        select(PublisherKey).where(PublisherKey.publisher_id == publisher_id, col(PublisherKey.retired_at).is_(None))
    ).first()
    if key is None:
        raise Forbidden(f"publisher {publisher_id} has no current key")
    return key


def _is_verified(publisher: Publisher, now: datetime) -> bool:
    return publisher.verification_expires_at is None or publisher.verification_expires_at > now


def _publisher_view(publisher: Publisher, kid: str, now: datetime) -> views.PublisherView:
    return views.PublisherView(
        id=publisher.id,
        name=publisher.name,
        key_id=kid,
        verified=_is_verified(publisher, now),
        verification=views.VerificationView(
            method=publisher.verification_method,
            verified_by=publisher.verified_by,
            verified_at=publisher.verified_at,
            expires_at=publisher.verification_expires_at,
        ),
    )


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
) -> views.RegistrationView:
    """Verify a publisher's signed statement about `content`, store the original and make it matchable.

    `caller` is the publisher an API key authenticated (None for local CLI use, where access to the data
    directory is the authority); it must be the publisher the statement names.
    """
    now = now or _now()
    claim, signed = parse_registration_statement(statement)
    if caller is not None and caller.id != claim.publisher_id:
        raise Forbidden(f"this API key belongs to {caller.id}, but the statement is for {claim.publisher_id}")
    publisher = session.get(Publisher, claim.publisher_id)
    if publisher is None:
        raise InvalidStatement(f"statement names unknown publisher {claim.publisher_id!r}")
    key = session.get(PublisherKey, claim.key_id)
    if key is None or key.publisher_id != publisher.id:
        raise InvalidStatement("statement's key_id is not a key of this publisher")
    verify(key.public_key, REGISTRATION_DOMAIN, signed, signature)
    if key.retired_at is not None:
        raise Forbidden("statement is signed with a retired key; sign with the publisher's current key")
    if not _is_verified(publisher, now):
        raise Forbidden(f"publisher verification expired at {publisher.verification_expires_at:%Y-%m-%d %H:%M}Z")
    _check_fresh(claim.created, now, registry)
    if len(content) != claim.content.size or _sha256(content) != claim.content.sha256:
        raise InvalidStatement("uploaded bytes do not match the statement's content.sha256 and size")

    fp = _fingerprint(content, registry, dihedral=False)
    if fp.media_type != claim.content.media_type:
        raise InvalidStatement(f"statement says {claim.content.media_type}, but the file is {fp.media_type}")
    registry.store.put(content)

    registration = Registration(
        id=_new_id("reg"),
        publisher_id=publisher.id,
        key_id=key.key_id,
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
    )
    take_write_lock(session)
    _claim_nonce(session, publisher.id, claim.nonce)
    existing = session.exec(
        select(Registration.id).where(
            Registration.publisher_id == publisher.id, Registration.content_sha256 == fp.sha256
        )
    ).first()
    if existing is not None:
        raise AlreadyRegistered(
            f"this publisher registered these bytes already as {existing}", registration_id=existing
        )
    session.add(registration)
    session.flush()
    hashes = [
        MediaHash(registration_id=registration.id, alg=alg, variant="canonical", value=value.data)
        for alg, value in (("pdq", fp.pdq), ("phash", fp.phash), ("dhash", fp.dhash))
    ]
    session.add_all(hashes)
    _commit(session)
    registry.indexes.catch_up(session)
    return _registration_view(session, registration, hashes, now)


def _claim_nonce(session: Session, publisher_id: str, nonce: str) -> None:
    if session.get(UsedNonce, (publisher_id, nonce)) is not None:
        raise NonceReused("this statement's nonce was used before; sign a new statement")
    session.add(UsedNonce(publisher_id=publisher_id, nonce=nonce))


def _commit(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("a concurrent request registered the same thing; retry to see its result") from None


def _check_fresh(created: datetime, now: datetime, registry: Registry) -> None:
    settings = registry.settings
    if created > now + timedelta(seconds=settings.statement_max_skew_seconds):
        raise InvalidStatement("statement created_at is in the future; check the signing machine's clock")
    if created < now - timedelta(seconds=settings.statement_max_age_seconds):
        raise InvalidStatement(
            f"statement is older than {settings.statement_max_age_seconds} s; sign a fresh one for each upload"
        )


def get_registration(*, session: Session, registration_id: str, now: datetime | None = None) -> views.RegistrationView:
    registration = session.get(Registration, registration_id)
    if registration is None:
        raise NotFound(f"no registration {registration_id!r}")
    hashes = list(session.exec(select(MediaHash).where(MediaHash.registration_id == registration_id)).all())
    return _registration_view(session, registration, hashes, now or _now())


def _registration_view(
    session: Session, registration: Registration, hashes: list[MediaHash], now: datetime
) -> views.RegistrationView:
    publisher = session.get(Publisher, registration.publisher_id)
    assert publisher is not None  # foreign key
    statement = json.loads(registration.statement)
    canonical = {row.alg: row.value.hex() for row in hashes if row.variant == "canonical"}
    return views.RegistrationView(
        id=registration.id,
        publisher=views.PublisherRef(id=publisher.id, name=publisher.name, verified=_is_verified(publisher, now)),
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
    now = now or _now()
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
    for registration, publisher in _registrations_with_publishers(session, best):
        distance, variant, exact = best[registration.id]
        if not exact and registration.pdq_quality < 50:
            continue  # a flat original's hash matches too much to mean anything
        matches.append(
            views.MatchView(
                registration_id=registration.id,
                publisher=publisher.name,
                publisher_id=publisher.id,
                verified=_is_verified(publisher, now),
                distance=distance,
                score=round(max(0.0, 1.0 - distance / _UNRELATED_DISTANCE), 4),
                variant=PDQ_VARIANTS[variant],
                exact=exact,
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
    now = now or _now()
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
            registration_id=registration.id,
            publisher=publisher.name,
            publisher_id=publisher.id,
            verified=_is_verified(publisher, now),
            distance=best[registration.id],
            media_type=registration.media_type,
            content_sha256=registration.content_sha256,
            created_at=registration.created_at,
        )
        for registration, publisher in _registrations_with_publishers(session, best)
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


def _registrations_with_publishers(
    session: Session, registration_ids: Iterable[str]
) -> list[tuple[Registration, Publisher]]:
    ids = sorted(set(registration_ids))
    pairs: list[tuple[Registration, Publisher]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.exec(
            select(Registration, Publisher)
            .join(Publisher, col(Publisher.id) == col(Registration.publisher_id))
            .where(col(Registration.id).in_(chunk))
        )
        pairs.extend(rows.all())
    return pairs


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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
