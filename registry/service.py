"""The registry's operations, shared by the HTTP API and the CLI.

Every function is keyword-only, takes its database session explicitly and knows nothing of HTTP; failures are
`registry.errors` exceptions. Writes follow one order: original bytes to the content store (idempotent), then
one database transaction, then the in-memory index catches up, so a crash leaves nothing or everything.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlmodel import Session, SQLModel, select

from fingerprint.algorithms import CANONICAL, HashRecord
from fingerprint.hashes import HashValue
from fingerprint.kinds import KINDS
from registry import views, work
from registry.clock import now_utc
from registry.errors import AlreadyRegistered, Conflict, InvalidStatement, NotFound
from registry.kinds import adapter
from registry.log import store as log
from registry.log.fingerprints import commitment
from registry.matching import registration_status
from registry.media import limits as media_limits
from registry.models import ContentRevocation, LocalFeatureSet, MediaHash, Publisher, Registration, is_verified
from registry.precedence import find_priors, newest_registration, prior_rows
from registry.runtime import Registry, TaskRunner
from registry.statements import ContentRevocationStatement, RegistrationStatement, canonical_json
from registry.writes import SignedRequest, authorise_statement, new_id, signed_write

if TYPE_CHECKING:
    from registry.jobs import JobRunner

FINGERPRINTED = 0.9  # a registration's progress once its media work is done: what is left is one transaction

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
    cancelled: threading.Event | None = None,
    submitted: datetime | None = None,
    pool: TaskRunner | None = None,
    progress: Callable[[float], None] | None = None,
) -> views.RegistrationReceiptView:
    """Verify a publisher's signed statement about `content`, store the original, log it, make it matchable.

    `caller` is the publisher an API key authenticated (None for local CLI use, where access to the data
    directory is the authority). All CPU work (decoding, hashes, local features) happens before the write
    transaction (in `pool`, else the registry's worker pool when there is one; `cancelled` stops waiting for it),
    so concurrent writers wait for each other's rows only. `submitted`: when a job was submitted, the time its
    statement is judged at (freshness, verification), so a queue does not turn a valid statement stale.
    `progress` hears the fraction done after each stage.
    """
    now = now or now_utc()
    request = _authorise_registration(session, registry, statement, signature, content, caller, submitted or now)
    claimed = request.claim.content
    run = registry.run_media if pool is None else pool.run
    fp = run(work.reference_fingerprint, content, media_limits(registry.settings), claimed.sha256, cancelled=cancelled)
    if progress is not None:
        progress(FINGERPRINTED)
    if fp.media_type != claimed.media_type:
        raise InvalidStatement(f"statement says {claimed.media_type}, but the file is {fp.media_type}")
    features = [feature.to_bytes() for feature in fp.features]
    registry.store.put(content)

    publisher = request.publisher
    # Searched before the write lock, so writers do not wait on the index; searched again under it only when a
    # registration of the same kind was committed meanwhile, so every earlier one in the log is weighed.
    searched_at = newest_registration(session, fp.kind)
    priors = find_priors(session=session, registry=registry, fp=fp, publisher_id=publisher.id)
    with signed_write(session, registry, request, now) as log_signed:
        existing = session.exec(
            select(Registration.id).where(
                Registration.publisher_id == publisher.id, Registration.content_sha256 == fp.sha256
            )
        ).first()
        if existing is not None:
            raise AlreadyRegistered(
                f"this publisher registered these bytes already as {existing}", registration_id=existing
            )
        if newest_registration(session, fp.kind) != searched_at:
            priors = find_priors(session=session, registry=registry, fp=fp, publisher_id=publisher.id)
        registration_id = new_id("reg")
        registration = Registration(
            id=registration_id,
            publisher_id=publisher.id,
            key_id=request.key.key_id,
            statement=canonical_json(request.signed).decode(),
            signature=signature,
            content_sha256=fp.sha256,
            media_type=fp.media_type,
            size=fp.size,
            kind=fp.kind,
            facts=json.dumps(dict(fp.facts), sort_keys=True),
            created_at=now,
            log_index=log.size(session),  # provisional: the entry is logged after the rows it commits to
        )
        session.add(registration)
        session.flush()
        hashes = hash_rows(registration.id, fp.hashes)
        rows: list[SQLModel] = [*hashes, *(LocalFeatureSet(registration_id=registration.id, data=b) for b in features)]
        session.add_all(prior_rows(registration.id, priors))  # precedence, not fingerprint: not in the commitment
        rows += adapter(fp.kind).stored_rows(registration.id, fp)
        session.add_all(rows)
        session.flush()  # the rows' ids, which the entry commits to with the rows (registry.log.fingerprints)
        entry = log_signed(
            "registration",
            registration_id,
            registration_id=registration_id,
            fingerprint_rows=commitment([registration, *rows]),
        )
        registration.log_index = entry["log_index"]  # the same, unless another event was logged in between
    registry.index.sync(session)
    view = _registration_view(session, registration, hashes, now)
    return views.RegistrationReceiptView(**dict(view), receipt=log.receipt(session, registration.log_index))


def register_in_background(
    *,
    session: Session,
    registry: Registry,
    jobs: JobRunner,
    statement: bytes | str,
    signature: str,
    content: bytes,
    caller: Publisher | None = None,
) -> views.JobView:
    """`register` as a job: the request is checked now (a bad one fails at once, not in a job), the original is
    stored, and the fingerprinting and the write run in the background. Poll the job with `jobs.get_job`."""
    registry.require_writable()  # a store that failed its audit refuses now, not in a job
    submitted = now_utc()
    request = _authorise_registration(session, registry, statement, signature, content, caller, submitted)
    sha256 = registry.store.put(content)  # held on disk, not in memory, while the job waits

    def task(pool: TaskRunner, cancelled: threading.Event, progress: Callable[[float], None]) -> BaseModel:
        with registry.session() as job_session:
            return register(
                session=job_session,
                registry=registry,
                statement=statement,
                signature=signature,
                content=registry.store.get(sha256),
                caller=caller,
                cancelled=cancelled,
                submitted=submitted,
                pool=pool,
                progress=progress,
            )

    return jobs.submit(kind="registration", owner=request.publisher.id, task=task)


def runs_long(*, registry: Registry, content: bytes, cancelled: threading.Event | None = None) -> bool:
    """Whether registering `content` should be a job: timed media (a video) longer than PROVREG_SYNC_VIDEO_SECONDS."""
    # magic bytes only: safe here, and spares untimed media (images) a trip to a worker
    timed = [adapter(kind.name) for kind in KINDS.values() if adapter(kind.name).timed and kind.sniff(content)]
    if not timed:
        return False
    seconds = registry.run_media(timed[0].seconds, content, media_limits(registry.settings), cancelled=cancelled)
    return seconds > registry.settings.sync_video_seconds


def _authorise_registration(
    session: Session,
    registry: Registry,
    statement: bytes | str,
    signature: str,
    content: bytes,
    caller: Publisher | None,
    now: datetime,
) -> SignedRequest[RegistrationStatement]:
    request = authorise_statement(
        session=session,
        registry=registry,
        statement=statement,
        model=RegistrationStatement,
        signature=signature,
        caller=caller,
        now=now,
    )
    claimed = request.claim.content
    if len(content) != claimed.size or hashlib.sha256(content).hexdigest() != claimed.sha256:
        raise InvalidStatement("uploaded bytes do not match the statement's content.sha256 and size")
    return request


def hash_rows(registration_id: str, records: Iterable[HashRecord]) -> list[MediaHash]:
    return [
        MediaHash(
            registration_id=registration_id,
            alg=record.alg,
            variant=record.variant,
            value=record.value.data,
            quality=record.quality,
        )
        for record in records
    ]


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
    request = authorise_statement(
        session=session,
        registry=registry,
        statement=statement,
        model=ContentRevocationStatement,
        signature=signature,
        caller=caller,
        now=now,
        lapsed_may=True,
    )
    claim = request.claim
    if registration_id is not None and registration_id != claim.registration_id:
        raise InvalidStatement("the statement revokes a different registration than the one addressed")
    registration = session.get(Registration, claim.registration_id)
    if registration is None or registration.publisher_id != request.publisher.id:
        raise NotFound(f"publisher {request.publisher.id} has no registration {claim.registration_id!r}")
    with signed_write(session, registry, request, now) as log_signed:
        if session.get(ContentRevocation, registration.id) is not None:
            raise Conflict(f"registration {registration.id} is already revoked")
        entry = log_signed("content_revocation", registration.id, registration_id=registration.id)
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
    canonical = {row.alg: row for row in hashes if row.variant == CANONICAL}
    records = {alg: HashRecord(alg, row.variant, HashValue(row.value), row.quality) for alg, row in canonical.items()}
    return views.RegistrationView(
        id=registration.id,
        log_index=registration.log_index,
        revoked=revocation is not None,
        revocation_log_index=None if revocation is None else revocation.log_index,
        prior_registrations=list(status.priors),
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
            kind=registration.kind,
            hashes={alg: row.value.hex() for alg, row in sorted(canonical.items())},
            **adapter(registration.kind).registration_fields(records, json.loads(registration.facts)),
        ),
    )
