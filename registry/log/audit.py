"""Recompute the log from its stored leaves and hold everything else the store claims against it.

Checks, in order: leaves are contiguous and each stored leaf hash is the hash of its stored entry; every
stored tree node equals the recomputed one; every stored checkpoint is signed by a registry key, names this
log, and has the recomputed root; consecutive checkpoints are consistent; and the state tables (registrations,
revocations) say exactly what their log entries say. A store edited behind the registry's back fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Select
from sqlmodel import Session, col, select

from registry.log import merkle
from registry.log.keyring import LogKeyring
from registry.log.note import Checkpoint, NoteError, open_note
from registry.models import ContentRevocation, KeyRevocation, LogCheckpoint, LogEntry, LogNode, Registration
from registry.statements import format_timestamp

_CHUNK = 20_000
MAX_PROBLEMS = 50


@dataclass
class AuditReport:
    size: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


def audit(session: Session, keyring: LogKeyring) -> AuditReport:
    report = AuditReport()
    tree = merkle.MemoryNodeStore()
    kinds = _check_leaves(session, tree, report)
    report.size = tree.size
    _check_nodes(session, tree, report)
    _check_checkpoints(session, tree, keyring, report)
    _check_state(session, kinds, report)
    return report


def _stream(session: Session, query: Select) -> Iterator[Row]:
    """Rows as plain tuples, fetched in chunks: the audit reads every row once and keeps none of them."""
    return session.connection().execution_options(yield_per=_CHUNK).execute(query)


def _check_leaves(session: Session, tree: merkle.MemoryNodeStore, report: AuditReport) -> dict[str, set[int]]:
    """Recompute leaf hashes into `tree`; returns which indexes hold each kind of entry a state table mirrors."""
    kinds: dict[str, set[int]] = {kind: set() for kind in _MIRRORED}
    batch: list[bytes] = []
    query = select(LogEntry.log_index, LogEntry.kind, LogEntry.leaf_hash, LogEntry.entry).order_by(
        col(LogEntry.log_index)
    )
    for index, kind, stored_hash, text in _stream(session, query):
        if index != tree.size + len(batch):
            report.add(f"log entries {tree.size + len(batch)}..{index - 1} are missing")
            break  # the tree cannot be recomputed past a gap
        digest = merkle.leaf_hash(text.encode())
        if digest != stored_hash:
            report.add(f"entry {index}: its stored leaf hash is not the hash of its stored content")
        if f'"log_index":{index},' not in text and not text.endswith(f'"log_index":{index}}}'):
            report.add(f"entry {index}: its content does not say it is entry {index}")
        if kind in kinds:
            kinds[kind].add(index)
        batch.append(digest)
        if len(batch) == _CHUNK:
            tree.extend(batch)
            batch = []
    tree.extend(batch)
    return kinds


def _check_nodes(session: Session, tree: merkle.MemoryNodeStore, report: AuditReport) -> None:
    stored = 0
    for level, position, digest in _stream(session, select(LogNode.level, LogNode.position, LogNode.hash)):
        stored += 1
        if tree.nodes.get((level, position)) != digest:
            report.add(f"tree node ({level}, {position}) differs from the one recomputed from the entries")
    if stored != len(tree.nodes):
        report.add(f"{len(tree.nodes)} tree nodes follow from the entries, but {stored} are stored")


def _check_checkpoints(
    session: Session, tree: merkle.MemoryNodeStore, keyring: LogKeyring, report: AuditReport
) -> None:
    previous: Checkpoint | None = None
    for size, root, note in _stream(
        session, select(LogCheckpoint.size, LogCheckpoint.root, LogCheckpoint.note).order_by(col(LogCheckpoint.size))
    ):
        report.checkpoints += 1
        try:
            text, _ = open_note(note, keyring.verifiers)
            checkpoint = Checkpoint.from_text(text)
        except NoteError as exc:
            report.add(f"checkpoint {size}: {exc}")
            continue
        if checkpoint.origin != keyring.origin or checkpoint.size != size or checkpoint.root_hash != root:
            report.add(f"checkpoint {size}: the signed note disagrees with its stored size, root or origin")
            continue
        if checkpoint.size > tree.size:
            report.add(f"checkpoint {size} covers more entries than the log holds ({tree.size}): entries deleted")
            continue
        if merkle.root(checkpoint.size, tree) != checkpoint.root_hash:
            report.add(f"checkpoint {size}: its root is not the root recomputed from the stored entries")
            continue
        if previous is not None and previous.size > 0:
            try:
                proof = merkle.consistency_proof(previous.size, checkpoint.size, tree)
                merkle.verify_consistency(
                    previous.size, checkpoint.size, proof, previous.root_hash, checkpoint.root_hash
                )
            except merkle.ProofError as exc:
                report.add(f"checkpoints {previous.size} and {checkpoint.size} are not consistent: {exc}")
        previous = checkpoint


@dataclass(frozen=True, slots=True)
class _Mirror:
    """A state table whose rows each record one log entry, and what that entry must say about its row."""

    table: Any
    columns: tuple[str, ...]  # the first names the row in problem reports
    agrees: Callable[[Row, dict[str, Any]], bool]


_MIRRORED: dict[str, _Mirror] = {
    "registration": _Mirror(
        Registration,
        ("id", "publisher_id", "key_id", "signature", "statement"),
        lambda row, entry: (
            entry.get("registration_id") == row.id
            and entry.get("publisher_id") == row.publisher_id
            and entry.get("key_id") == row.key_id
            and entry.get("signature") == row.signature
            and entry.get("statement") == json.loads(row.statement)
        ),
    ),
    "content_revocation": _Mirror(
        ContentRevocation,
        ("registration_id",),
        lambda row, entry: entry.get("registration_id") == row.registration_id,
    ),
    "key_revocation": _Mirror(
        KeyRevocation,
        ("key_id", "compromised_since"),
        lambda row, entry: (
            entry.get("revoked_key_id") == row.key_id
            and entry.get("compromised_since") == format_timestamp(row.compromised_since)
        ),
    ),
}


def _check_state(session: Session, kinds: dict[str, set[int]], report: AuditReport) -> None:
    """The state tables must say what the log says, row for row: no row without its entry, and vice versa."""
    for kind, mirror in _MIRRORED.items():
        expected = kinds[kind]
        table = mirror.table
        query = select(
            *(getattr(table, column) for column in mirror.columns), table.log_index, LogEntry.kind, LogEntry.entry
        ).outerjoin(LogEntry, col(LogEntry.log_index) == col(table.log_index))
        for row in _stream(session, query):
            name = f"{kind.replace('_', ' ')} {row[0]}"
            if row.kind != kind:
                report.add(f"{name} points at log entry {row.log_index}, which is not its entry")
                continue
            expected.discard(row.log_index)
            if not mirror.agrees(row, json.loads(row.entry)):
                report.add(f"{name} differs from its log entry {row.log_index}")
        for index in sorted(expected)[:MAX_PROBLEMS]:
            report.add(f"log entry {index} ({kind}) has no matching row: a row was deleted")
