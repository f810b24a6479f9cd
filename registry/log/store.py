"""The transparency log in the database: leaves, perfect-subtree nodes and signed checkpoints, append-only.

Appends run inside the caller's write transaction (after `take_write_lock`), so an event and the state change
it records commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, or_
from sqlmodel import Session, col, select

from registry.errors import InvalidRequest, LogTampered, NotFound
from registry.log import merkle
from registry.log.keyring import LogKeyring
from registry.log.note import Checkpoint, TlogProof, format_tlog_proof, sign_note
from registry.models import LogCheckpoint, LogEntry, LogNode
from registry.statements import canonical_json, format_timestamp

MAX_ENTRIES_PAGE = 1000


@lru_cache(maxsize=128)
def _nodes_query(count: int) -> Select[int, int, bytes]:
    """`(level = ? AND position = ?) OR ...`: both SQLite and PostgreSQL answer it with primary-key lookups.

    A row-value `IN` reads the same, but SQLite plans it as a scan of the whole table (200 ms at 1M entries).
    Cached per length, since building the expression costs more than running it.
    """
    return select(LogNode.level, LogNode.position, LogNode.hash).where(
        or_(
            *(
                and_(col(LogNode.level) == bindparam(f"l{i}"), col(LogNode.position) == bindparam(f"p{i}"))
                for i in range(count)
            )
        )
    )


class DbNodes:
    """`merkle.NodeReader` over the log_node table: every proof costs one query of O(log n) key lookups."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_nodes(self, coords: Sequence[merkle.Coord]) -> list[bytes]:
        if not coords:
            return []
        params = {}
        for i, (level, position) in enumerate(coords):
            params[f"l{i}"], params[f"p{i}"] = level, position
        rows = self.session.connection().execute(_nodes_query(len(coords)), params).all()
        found = {(level, position): digest for level, position, digest in rows}
        missing = [coord for coord in coords if coord not in found]
        if missing:
            raise LogTampered(f"the log is missing stored tree nodes {missing[:3]}; run 'provreg audit'")
        return [found[coord] for coord in coords]


@dataclass(frozen=True, slots=True)
class Event:
    """A state change to record: `body` is the event's own fields, the log adds kind, index and time."""

    kind: str
    subject: str
    body: dict[str, Any]


def size(session: Session) -> int:
    last = session.exec(select(func.max(LogEntry.log_index))).one()
    return 0 if last is None else last + 1


def append(session: Session, events: Sequence[Event], now: datetime) -> list[dict[str, Any]]:
    """Append `events` as consecutive leaves; returns each entry as hashed (the leaf object)."""
    start = size(session)
    entries = [
        {"kind": event.kind, "log_index": start + offset, "integrated_time": format_timestamp(now), **event.body}
        for offset, event in enumerate(events)
    ]
    blobs = [canonical_json(entry) for entry in entries]
    hashes = [merkle.leaf_hash(blob) for blob in blobs]
    nodes = merkle.append_batch(start, hashes, DbNodes(session))
    # Core inserts: these rows are never read back as objects, and ORM bookkeeping tripled the cost.
    connection = session.connection()
    connection.execute(
        insert(LogNode), [{"level": level, "position": position, "hash": digest} for level, position, digest in nodes]
    )
    connection.execute(
        insert(LogEntry),
        [
            {
                "log_index": entry["log_index"],
                "kind": event.kind,
                "subject": event.subject,
                "leaf_hash": digest,
                "entry": blob.decode(),
            }
            for event, entry, blob, digest in zip(events, entries, blobs, hashes, strict=True)
        ],
    )
    return entries


def sign_checkpoint(session: Session, keyring: LogKeyring, now: datetime) -> LogCheckpoint:
    """Sign and store the tree head at the current size (once per size)."""
    tree_size = size(session)
    existing = session.get(LogCheckpoint, tree_size)
    if existing is not None:
        return existing
    root = merkle.root(tree_size, DbNodes(session))
    note = sign_note(Checkpoint(keyring.origin, tree_size, root).to_text(), keyring.signers)
    checkpoint = LogCheckpoint(size=tree_size, root=root, note=note, created_at=now)
    session.add(checkpoint)
    session.flush()
    return checkpoint


def latest_checkpoint(session: Session) -> LogCheckpoint:
    checkpoint = session.exec(select(LogCheckpoint).order_by(col(LogCheckpoint.size).desc()).limit(1)).first()
    if checkpoint is None:
        raise NotFound("the log has no checkpoint yet")
    return checkpoint


def entry(session: Session, log_index: int) -> dict[str, Any]:
    row = session.get(LogEntry, log_index)
    if row is None:
        raise NotFound(f"no log entry {log_index}")
    return json.loads(row.entry)


def entries(session: Session, start: int, end: int) -> list[LogEntry]:
    """Entries [start, end), at most MAX_ENTRIES_PAGE of them."""
    end = min(end, start + MAX_ENTRIES_PAGE)
    return list(
        session.exec(
            select(LogEntry)
            .where(LogEntry.log_index >= start, LogEntry.log_index < end)
            .order_by(col(LogEntry.log_index))
        ).all()
    )


def inclusion_proof(session: Session, log_index: int, tree_size: int) -> list[bytes]:
    _check_size(session, tree_size)
    try:
        return merkle.inclusion_proof(log_index, tree_size, DbNodes(session))
    except merkle.ProofError as exc:
        raise InvalidRequest(str(exc)) from None


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    _check_size(session, second)
    try:
        return merkle.consistency_proof(first, second, DbNodes(session))
    except merkle.ProofError as exc:
        raise InvalidRequest(str(exc)) from None


def receipt(session: Session, log_index: int) -> dict[str, Any]:
    """Everything needed to verify entry `log_index` offline, against the latest checkpoint."""
    checkpoint = latest_checkpoint(session)
    proof = TlogProof(log_index, tuple(inclusion_proof(session, log_index, checkpoint.size)), checkpoint.note)
    return {"log_index": log_index, "entry": entry(session, log_index), "proof": format_tlog_proof(proof)}


def _check_size(session: Session, tree_size: int) -> None:
    current = size(session)
    if tree_size > current:
        raise NotFound(f"the log has {current} entries, not {tree_size}")
