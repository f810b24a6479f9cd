"""Backfill hashes of algorithms added after originals were registered, from the stored originals.

Adding rows for a new algorithm changes no history: each batch logs, with its rows, one `fingerprint_rows` entry
per registration that commits to all its rows as they now are (registry.log.fingerprints), so the audit covers
the new rows as it covers those a registration logged. The backfill is idempotent and resumable: it computes only
what is missing, commits in small batches, and a rerun after an interruption picks up where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sqlalchemy import exists
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS
from registry import views, work
from registry.clock import now_utc
from registry.errors import InvalidRequest, RegistryError
from registry.log import fingerprints
from registry.media import limits as media_limits
from registry.models import MediaHash, Registration
from registry.runtime import Registry
from registry.service import hash_rows
from registry.writes import record, write_transaction

log = logging.getLogger(__name__)
_BATCH = 25


def reindex(
    *,
    session: Session,
    registry: Registry,
    algorithms: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> views.ReindexView:
    """Add every missing hash of `algorithms` (default: all) to every registration; `progress(done, total)`."""
    chosen = list(algorithms or ALGORITHMS)
    unknown = [alg for alg in chosen if alg not in ALGORITHMS]
    if unknown:
        raise InvalidRequest(f"unknown algorithm {unknown[0]!r}; choose from {', '.join(ALGORITHMS)}")
    missing: dict[str, set[str]] = {}
    for alg in chosen:
        lacking = session.exec(
            select(Registration.id).where(
                col(Registration.kind).in_(ALGORITHMS[alg].media_kinds),
                ~exists().where(col(MediaHash.registration_id) == col(Registration.id), col(MediaHash.alg) == alg),
            )
        ).all()
        for registration_id in lacking:
            missing.setdefault(registration_id, set()).add(alg)
    todo = sorted(missing)
    added, failed = 0, []
    for start in range(0, len(todo), _BATCH):
        rows = []
        for registration_id in todo[start : start + _BATCH]:
            try:
                rows += _hashes(session, registry, registration_id, missing[registration_id])
            except RegistryError as exc:
                log.warning("reindex %s: %s", registration_id, exc)
                failed.append(views.ReindexFailure(registration_id=registration_id, reason=str(exc)))
        with write_transaction(session, registry):
            # A concurrent reindex may have added some of them meanwhile: keep this idempotent.
            present = set(
                session.exec(
                    select(MediaHash.registration_id, MediaHash.alg).where(
                        col(MediaHash.registration_id).in_({row.registration_id for row in rows})
                    )
                ).all()
            )
            fresh = [row for row in rows if (row.registration_id, row.alg) not in present]
            session.add_all(fresh)
            session.flush()  # their ids, which the entries commit to
            owners = sorted({row.registration_id for row in fresh})
            if owners:
                record(session, registry, fingerprints.events(session, owners, "reindex"), now_utc())
            added += len(fresh)
        if progress is not None:
            progress(min(start + _BATCH, len(todo)), len(todo))
    registry.index.sync(session)
    return views.ReindexView(algorithms=chosen, registrations=len(todo), hashes_added=added, failed=failed)


def _hashes(session: Session, registry: Registry, registration_id: str, algs: set[str]) -> list[MediaHash]:
    registration = session.get(Registration, registration_id)
    assert registration is not None
    content = registry.store.get(registration.content_sha256)
    limits = media_limits(registry.settings)
    fp = registry.run_media(work.reference_fingerprint, content, limits, registration.content_sha256, False)
    return hash_rows(registration_id, [record for record in fp.hashes if record.alg in algs])
