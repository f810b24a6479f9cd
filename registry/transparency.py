"""Read access to the transparency log: checkpoints, proofs, entries, keys, and the audit."""

from __future__ import annotations

import base64
import json

from sqlmodel import Session

from registry import views
from registry.errors import InvalidRequest
from registry.log import store as log
from registry.log.keyring import LogKeyring
from registry.runtime import Registry


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def checkpoint(*, session: Session) -> str:
    """The latest signed checkpoint, as a C2SP signed note."""
    return log.latest_checkpoint(session).note


def inclusion_proof(*, session: Session, log_index: int, tree_size: int) -> views.InclusionProofView:
    hashes = log.inclusion_proof(session, log_index, tree_size)
    return views.InclusionProofView(log_index=log_index, tree_size=tree_size, hashes=[_b64(h) for h in hashes])


def consistency_proof(*, session: Session, first: int, second: int) -> views.ConsistencyProofView:
    hashes = log.consistency_proof(session, first, second)
    return views.ConsistencyProofView(first=first, second=second, hashes=[_b64(h) for h in hashes])


def entries(*, session: Session, start: int, end: int) -> views.LogEntriesView:
    if start < 0 or end <= start:
        raise InvalidRequest("need 0 <= start < end")
    rows = log.entries(session, start, end)
    return views.LogEntriesView(
        start=start,
        entries=[
            views.LogEntryView(log_index=row.log_index, leaf_hash=_b64(row.leaf_hash), entry=json.loads(row.entry))
            for row in rows
        ],
    )


def log_keys(*, keyring: LogKeyring) -> views.LogKeysView:
    return views.LogKeysView(
        origin=keyring.origin,
        keys=[views.LogKeyView(vkey=key.verifier.vkey(), active=key.active) for key in keyring.keys],
    )


def audit_log(*, registry: Registry, full: bool = True) -> views.AuditView:
    """Audit the log, everything or (not `full`) what came after the last passing audit's mark."""
    report = registry.audit_log(full=full)
    return views.AuditView(
        ok=report.ok,
        size=report.size,
        checkpoints=report.checkpoints,
        problems=report.problems,
        start=report.start,
        fingerprinted=report.fingerprinted,
        backfilled=report.backfilled,
    )
