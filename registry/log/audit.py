"""Recompute the log from its stored leaves and hold everything else the store claims against it.

Checks, in order: leaves are contiguous and each stored leaf hash is the hash of its stored entry; every
stored tree node equals the recomputed one; every stored checkpoint is signed by a registry key, names this
log, and has the recomputed root; consecutive checkpoints are consistent; and the state tables (registrations,
revocations) say exactly what their log entries say. A store edited behind the registry's back fails here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from registry.log import merkle
from registry.log.keyring import LogKeyring
from registry.log.note import Checkpoint, NoteError, open_note
from registry.models import ContentRevocation, KeyRevocation, LogCheckpoint, LogEntry, LogNode, Registration

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
    entries = _check_leaves(session, tree, report)
    report.size = tree.size
    _check_nodes(session, tree, report)
    _check_checkpoints(session, tree, keyring, report)
    _check_state(session, entries, report)
    return report


def _check_leaves(session: Session, tree: merkle.MemoryNodeStore, report: AuditReport) -> dict[int, dict]:
    """Recompute leaf hashes into `tree`; returns the entries that state tables refer to, by index."""
    referenced: dict[int, dict] = {}
    last = -1
    while True:
        rows = session.exec(
            select(LogEntry.log_index, LogEntry.leaf_hash, LogEntry.entry)
            .where(LogEntry.log_index > last)
            .order_by(col(LogEntry.log_index))
            .limit(_CHUNK)
        ).all()
        if not rows:
            return referenced
        for index, stored_hash, text in rows:
            if index != tree.size:
                report.add(f"log entries {tree.size}..{index - 1} are missing")
                return referenced  # the tree cannot be recomputed past a gap
            digest = merkle.leaf_hash(text.encode())
            if digest != stored_hash:
                report.add(f"entry {index}: its stored leaf hash is not the hash of its stored content")
            entry = json.loads(text)
            if entry.get("log_index") != index:
                report.add(f"entry {index}: its content says it is entry {entry.get('log_index')}")
            if entry.get("kind") in ("registration", "content_revocation", "key_revocation"):
                referenced[index] = entry
            tree.append(digest)
        last = rows[-1][0]


def _check_nodes(session: Session, tree: merkle.MemoryNodeStore, report: AuditReport) -> None:
    stored = 0
    for level, position, digest in session.exec(select(LogNode.level, LogNode.position, LogNode.hash)):
        stored += 1
        if tree.nodes.get((level, position)) != digest:
            report.add(f"tree node ({level}, {position}) differs from the one recomputed from the entries")
    if stored != len(tree.nodes):
        report.add(f"{len(tree.nodes)} tree nodes follow from the entries, but {stored} are stored")


def _check_checkpoints(
    session: Session, tree: merkle.MemoryNodeStore, keyring: LogKeyring, report: AuditReport
) -> None:
    previous: Checkpoint | None = None
    for row in session.exec(select(LogCheckpoint).order_by(col(LogCheckpoint.size))):
        report.checkpoints += 1
        try:
            text, _ = open_note(row.note, keyring.verifiers)
            checkpoint = Checkpoint.from_text(text)
        except NoteError as exc:
            report.add(f"checkpoint {row.size}: {exc}")
            continue
        if checkpoint.origin != keyring.origin or checkpoint.size != row.size or checkpoint.root_hash != row.root:
            report.add(f"checkpoint {row.size}: the signed note disagrees with its stored size, root or origin")
            continue
        if checkpoint.size > tree.size:
            report.add(f"checkpoint {row.size} covers more entries than the log holds ({tree.size}): entries deleted")
            continue
        if merkle.root(checkpoint.size, tree) != checkpoint.root_hash:
            report.add(f"checkpoint {row.size}: its root is not the root recomputed from the stored entries")
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


def _check_state(session: Session, entries: dict[int, dict], report: AuditReport) -> None:
    """The state tables must say what the log says, row for row: no row without its entry, and vice versa."""
    seen: set[int] = set()
    for registration in session.exec(select(Registration)):
        entry = _entry_for(entries, registration.log_index, "registration", seen, report, registration.id)
        if entry is not None and (
            entry.get("registration_id") != registration.id
            or entry.get("publisher_id") != registration.publisher_id
            or entry.get("key_id") != registration.key_id
            or entry.get("signature") != registration.signature
            or entry.get("statement") != json.loads(registration.statement)
        ):
            report.add(f"registration {registration.id} differs from its log entry {registration.log_index}")
    for revocation in session.exec(select(ContentRevocation)):
        entry = _entry_for(
            entries, revocation.log_index, "content_revocation", seen, report, revocation.registration_id
        )
        if entry is not None and entry.get("registration_id") != revocation.registration_id:
            report.add(f"revocation of {revocation.registration_id} differs from its log entry")
    for key_revocation in session.exec(select(KeyRevocation)):
        entry = _entry_for(entries, key_revocation.log_index, "key_revocation", seen, report, key_revocation.key_id)
        if entry is not None and entry.get("revoked_key_id") != key_revocation.key_id:
            report.add(f"revocation of key {key_revocation.key_id} differs from its log entry")
    for index in sorted(set(entries) - seen)[:MAX_PROBLEMS]:
        report.add(f"log entry {index} ({entries[index]['kind']}) has no matching row: a row was deleted")


def _entry_for(
    entries: dict[int, dict], index: int, kind: str, seen: set[int], report: AuditReport, subject: str
) -> dict | None:
    entry = entries.get(index)
    if entry is None or entry.get("kind") != kind:
        report.add(f"{kind.replace('_', ' ')} {subject} points at log entry {index}, which is not its entry")
        return None
    seen.add(index)
    return entry
