"""Recompute the log from its stored leaves and hold everything else the store claims against it.

Checks, in order: leaves are contiguous, each stored leaf hash is the hash of its stored entry, and the
`kind` and `subject` columns are the ones the entry itself says; every stored tree node equals the recomputed
one; every stored checkpoint is signed by a registry key, names this log, and has the recomputed root;
consecutive checkpoints are consistent; the state tables (registrations, revocations, publishers and their
keys) hold exactly what replaying the entries derives (`derive`); and the fingerprint rows and used nonces are
the ones the entries commit to (`fingerprints`). A store edited behind the registry's back fails here.

A full audit reads everything (O(n)). The start-up audit is incremental: it starts from the signed mark the
last passing audit left (`AuditMark`), checks that the stored frontier still gives the marked root and that the
latest checkpoint is consistent with it, then checks only the entries, nodes, checkpoints and rows added
since, plus row counts per kind below the mark. Edits in place below the mark are for the full audit to find,
except in fingerprint rows and used nonces, which the mark pins by their hashes (`fingerprints.Pins`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, Select, delete, func, inspect
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from registry.db import read_snapshot
from registry.errors import LogTampered
from registry.log import fingerprints, merkle
from registry.log.derive import (
    MALFORMED,
    MIRROR_OF,
    MIRRORS,
    PUBLISHER_KINDS,
    SUBJECT_FIELD,
    EntryError,
    PublisherState,
    differing,
    kind_and_subject,
)
from registry.log.keyring import LogKeyring
from registry.log.note import Checkpoint, NoteError, open_note, sign_note
from registry.log.store import DbNodes
from registry.models import LogAuditMark, LogCheckpoint, LogEntry, LogNode, Publisher, PublisherKey
from registry.statements import canonical_json, format_timestamp, parse_timestamp

_CHUNK = 20_000
MAX_PROBLEMS = 50
_MARK_HEADER = "provreg audit mark v2"  # never an origin, so a mark cannot pass for a checkpoint
# A mark from before fingerprint pins: still signed by the log key, it only leads to a full audit.
_MARK_HEADER_V1 = "provreg audit mark v1"


@dataclass
class AuditReport:
    start: int = 0  # the first entry read: 0 for a full audit, the mark's size for an incremental one
    size: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)
    root: bytes = merkle.EMPTY_ROOT
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUBJECT_FIELD, 0))
    pins: fingerprints.Pins | None = None  # what the mark will pin; set once every check has run
    fingerprinted: int = 0  # registrations whose fingerprint rows were held against their commitment
    uncommitted: list[str] = field(default_factory=list)  # registrations logged before commitments, none since
    backfilled: int = 0  # of those, how many the registry committed after this audit passed

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def full(self) -> bool:
        return self.start == 0

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)


@dataclass(frozen=True)
class AuditMark:
    """What the last passing audit vouched for: the tree head, entry counts per kind, the last full audit, and the
    fingerprint rows and used nonces it saw."""

    origin: str
    size: int
    root: bytes
    counts: dict[str, int]
    full_audit_at: str
    pins: fingerprints.Pins

    def to_text(self) -> str:
        root = base64.b64encode(self.root).decode()
        lines = [_MARK_HEADER, self.origin, str(self.size), root, canonical_json(self.counts).decode()]
        pins = canonical_json(self.pins.to_json()).decode()
        return "".join(line + "\n" for line in [*lines, self.full_audit_at, pins])

    @classmethod
    def from_text(cls, text: str) -> AuditMark:
        try:
            header, origin, size, root, counts, full_audit_at, pins = text.removesuffix("\n").split("\n")
            if header != _MARK_HEADER:
                raise ValueError(header)
            return cls(
                origin,
                int(size),
                base64.b64decode(root, validate=True),
                json.loads(counts),
                full_audit_at,
                fingerprints.Pins.from_json(json.loads(pins)),
            )
        except (ValueError, KeyError, TypeError):
            raise NoteError("the audit mark is not in the form the registry writes") from None


def read_mark(session: Session, keyring: LogKeyring) -> AuditMark | None:
    """The stored mark, or None if there is none (or only one from before fingerprint pins); a mark that is not
    signed by this log raises LogTampered."""
    row = session.get(LogAuditMark, 1)
    if row is None:
        return None
    try:
        text, _ = open_note(row.note, keyring.verifiers)
        if text.startswith(_MARK_HEADER_V1 + "\n"):
            return None
        mark = AuditMark.from_text(text)
    except NoteError as exc:
        raise LogTampered(f"the stored audit mark does not verify ({exc}); run 'provreg audit --full'") from None
    if mark.origin != keyring.origin:
        raise LogTampered("the stored audit mark names another log; run 'provreg audit --full'")
    return mark


def write_mark(session: Session, keyring: LogKeyring, report: AuditReport, now: datetime) -> AuditMark:
    """Record a passing audit, so the next start-up audit begins where this one ended."""
    if not report.ok or report.pins is None:
        raise ValueError("only a passing audit may move the mark")
    previous = None if report.full else read_mark(session, keyring)
    full_at = format_timestamp(now) if previous is None else previous.full_audit_at
    mark = AuditMark(keyring.origin, report.size, report.root, report.counts, full_at, report.pins)
    session.merge(LogAuditMark(id=1, note=sign_note(mark.to_text(), keyring.signers)))
    session.commit()
    return mark


def audit_and_mark(session: Session, keyring: LogKeyring, *, full: bool, now: datetime) -> AuditReport:
    """Audit from the last passing audit's mark (everything if `full` or if there is none).

    A pass moves the mark; a failure removes it, so every later start-up audit is a full one and fails too.
    """
    session.rollback()
    read_snapshot(session)  # other workers may append while this one reads
    try:
        since = None if full else read_mark(session, keyring)
        if since is not None and since.pins.uncommitted:
            since = None  # only a full audit names the registrations whose rows no entry commits to yet
    except LogTampered as exc:
        report = AuditReport()
        report.add(exc.message)
    else:
        report = audit(session, keyring, since)
    session.rollback()  # end the read snapshot, so writing never has to upgrade it
    if report.ok:
        write_mark(session, keyring, report, now)
    else:
        session.execute(delete(LogAuditMark))
        session.commit()
    return report


def full_audit_due_in(session: Session, keyring: LogKeyring, interval: timedelta, now: datetime) -> float:
    """Seconds until the next scheduled full audit: `interval` after the last one, as the mark records it."""
    try:
        mark = read_mark(session, keyring)
    except LogTampered:
        return interval.total_seconds()  # the start-up audit has reported it already
    if mark is None:
        return 0.0
    return max(0.0, (parse_timestamp(mark.full_audit_at) + interval - now).total_seconds())


def audit(session: Session, keyring: LogKeyring, since: AuditMark | None = None) -> AuditReport:
    """A full audit, or (given the last passing audit's mark) one of what was added since."""
    report = AuditReport(start=0 if since is None else since.size)
    tree = _seed_tree(session, since, report)
    if tree is None:
        return report
    leaves = _check_leaves(session, tree, report)
    report.size = tree.size
    report.root = merkle.root(tree.size, tree)
    _check_nodes(session, tree, report)
    _check_checkpoints(session, tree, keyring, since, report)
    _check_mirrors(session, leaves.mirrored, report)
    publisher_entries = leaves.publisher_entries
    if since is not None:
        _check_counts_below(session, since, report)
        publisher_entries = _publisher_entries_below(session, since, report) + publisher_entries
        for kind, count in since.counts.items():
            report.counts[kind] += count
    _check_publishers(session, publisher_entries, report)
    if since is None:
        report.pins = fingerprints.check_all(session, leaves.commitments, report)
    else:
        report.pins = fingerprints.check_since(session, leaves.commitments, since.pins, report)
    report.uncommitted = sorted(leaves.commitments.uncommitted)
    return report


def _stream(session: Session, query: Select[*tuple[Any, ...]]) -> CursorResult[*tuple[Any, ...]]:
    """Rows as plain tuples, fetched in chunks: the audit reads every row once and keeps none of them."""
    return session.connection().execution_options(yield_per=_CHUNK).execute(query)


def _seed_tree(session: Session, since: AuditMark | None, report: AuditReport) -> merkle.MemoryNodeStore | None:
    """A tree holding the marked size's frontier (checked against the marked root), ready to grow from there."""
    if since is None or since.size == 0:
        return merkle.MemoryNodeStore()
    coords = merkle.frontier(since.size)
    try:
        tree = merkle.MemoryNodeStore(dict(zip(coords, DbNodes(session).get_nodes(coords), strict=True)), since.size)
    except LogTampered as exc:
        report.add(f"the tree the last audit passed is incomplete: {exc}")
        return None
    if merkle.root(since.size, tree) != since.root:
        report.add(f"the stored tree no longer gives the root the last audit passed at size {since.size}")
        return None
    return tree


@dataclass
class _Leaves:
    """What the leaf pass learns from the entries' content for the later checks."""

    mirrored: dict[str, set[int]] = field(default_factory=lambda: {kind: set() for kind in MIRRORS})
    publisher_entries: list[dict[str, Any]] = field(default_factory=list)
    commitments: fingerprints.Commitments = field(default_factory=fingerprints.Commitments)


def _check_leaves(session: Session, tree: merkle.MemoryNodeStore, report: AuditReport) -> _Leaves:
    """Recompute leaf hashes into `tree` and hold each entry's kind and subject columns against its content.

    Counts the entries of each kind (as their content says) into the report.
    """
    leaves = _Leaves()
    batch: list[bytes] = []
    query = (
        # SQLAlchemy's own select: sqlmodel's overloads stop at four columns.
        select_columns(
            col(LogEntry.log_index),
            col(LogEntry.kind),
            col(LogEntry.subject),
            col(LogEntry.leaf_hash),
            col(LogEntry.entry),
        )
        .where(col(LogEntry.log_index) >= tree.size)
        .order_by(col(LogEntry.log_index))
    )
    for index, kind, subject, stored_hash, text in _stream(session, query):
        if index != tree.size + len(batch):
            report.add(f"log entries {tree.size + len(batch)}..{index - 1} are missing")
            break  # the tree cannot be recomputed past a gap
        digest = merkle.leaf_hash(text.encode())
        if digest != stored_hash:
            report.add(f"entry {index}: its stored leaf hash is not the hash of its stored content")
        try:
            entry = json.loads(text)
            if not isinstance(entry, dict) or entry.get("log_index") != index:
                raise EntryError(f"its content does not say it is entry {index}")
            derived = kind_and_subject(entry)
        except (EntryError, ValueError) as exc:
            report.add(f"entry {index}: {exc}")
        else:
            report.counts[derived[0]] += 1
            if (kind, subject) != derived:
                report.add(f"entry {index}: its kind and subject columns say {kind} {subject}, its content {derived}")
            if derived[0] in PUBLISHER_KINDS:
                leaves.publisher_entries.append(entry)
            if derived[0] in MIRROR_OF:
                leaves.mirrored[MIRROR_OF[derived[0]]].add(index)
            try:
                leaves.commitments.observe(derived[0], entry)
            except MALFORMED as exc:
                report.add(f"entry {index}: {exc if isinstance(exc, EntryError) else f'lacks {exc}'}")
        batch.append(digest)
        if len(batch) == _CHUNK:
            tree.extend(batch)
            batch = []
    tree.extend(batch)
    return leaves


def _check_nodes(session: Session, tree: merkle.MemoryNodeStore, report: AuditReport) -> None:
    """Every stored node over the audited leaves equals the recomputed one, and none is missing or extra."""
    stored = 0
    for level in range(max(tree.size, 1).bit_length()):
        query = select(LogNode.position, LogNode.hash).where(
            LogNode.level == level, col(LogNode.position) >= report.start >> level
        )
        for position, digest in _stream(session, query):
            stored += 1
            if tree.nodes.get((level, position)) != digest:
                report.add(f"tree node ({level}, {position}) differs from the one recomputed from the entries")
    expected = sum(1 for level, position in tree.nodes if position >= report.start >> level)
    if report.full:
        stored = session.exec(select(func.count()).select_from(LogNode)).one()
    if stored != expected:
        report.add(f"{expected} tree nodes follow from the entries, but {stored} are stored")


def _check_checkpoints(
    session: Session,
    tree: merkle.MemoryNodeStore,
    keyring: LogKeyring,
    since: AuditMark | None,
    report: AuditReport,
) -> None:
    previous = None if since is None or since.size == 0 else Checkpoint(keyring.origin, since.size, since.root)
    query = (
        select(LogCheckpoint.size, LogCheckpoint.root, LogCheckpoint.note)
        .where(col(LogCheckpoint.size) >= report.start)
        .order_by(col(LogCheckpoint.size))
    )
    for size, root, note in _stream(session, query):
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
            _check_consistent(previous, checkpoint, tree, report)
        previous = checkpoint
    if since is not None and since.size > 0 and previous is not None and previous.size > since.size:
        # The proof a client asks for, from the stored nodes: the stored tree still extends the audited one.
        _check_consistent(Checkpoint(keyring.origin, since.size, since.root), previous, DbNodes(session), report)


def _check_consistent(first: Checkpoint, second: Checkpoint, nodes: merkle.NodeReader, report: AuditReport) -> None:
    try:
        proof = merkle.consistency_proof(first.size, second.size, nodes)
        merkle.verify_consistency(first.size, second.size, proof, first.root_hash, second.root_hash)
    except (merkle.ProofError, LogTampered) as exc:
        report.add(f"checkpoints {first.size} and {second.size} are not consistent: {exc}")


def _check_mirrors(session: Session, mirrored: dict[str, set[int]], report: AuditReport) -> None:
    """Each state table row at or past the audit's start says what its entry says, and each entry has its row.

    The entry is joined by the row's `log_index` and read from the hashed content, never from `log_entry.kind`.
    """
    for kind, mirror in MIRRORS.items():
        table = mirror.table
        expected = mirrored[kind]
        query = (
            select_columns(*table.__table__.columns, col(LogEntry.entry).label("_entry"))
            .outerjoin(LogEntry, col(LogEntry.log_index) == col(table.log_index))
            .where(col(table.log_index) >= report.start)
        )
        for row in _stream(session, query):
            values = row._mapping
            name = f"{kind.replace('_', ' ')} row at log index {values['log_index']}"
            entry = None if values["_entry"] is None else json.loads(values["_entry"])
            if entry is None or entry.get("kind") not in mirror.kinds(kind):
                report.add(f"{name} points at an entry that does not record it")
                continue
            expected.discard(values["log_index"])
            try:
                columns = differing(mirror.expected(entry), values, values["_entry"])
            except MALFORMED:
                report.add(f"log entry {values['log_index']} lacks fields a {kind} entry has")
                continue
            if columns:
                report.add(f"{name} differs from its log entry in {', '.join(columns)}")
        for index in sorted(expected)[:MAX_PROBLEMS]:
            report.add(f"log entry {index} ({kind}) has no matching row: a row was deleted")


def _check_counts_below(session: Session, since: AuditMark, report: AuditReport) -> None:
    """Below the mark, each state table must still hold one row per entry of its kind: no row deleted."""
    for kind, mirror in MIRRORS.items():
        count = session.exec(
            select(func.count()).select_from(mirror.table).where(col(mirror.table.log_index) < since.size)
        ).one()
        entries = sum(since.counts.get(each, 0) for each in mirror.kinds(kind))
        if count != entries:
            report.add(f"{entries} {kind} entries precede the last audit, but {count} rows do")


def _publisher_entries_below(session: Session, since: AuditMark, report: AuditReport) -> list[dict[str, Any]]:
    """The publisher and key events before the mark, found by subject (an index) and kept by their content."""
    query = (
        select(LogEntry.entry)
        .where(col(LogEntry.log_index) < since.size, col(LogEntry.subject).in_(select(Publisher.id)))
        .order_by(col(LogEntry.log_index))
    )
    entries = [entry for (text,) in _stream(session, query) if (entry := json.loads(text))["kind"] in PUBLISHER_KINDS]
    for kind in PUBLISHER_KINDS:
        found = sum(1 for entry in entries if entry["kind"] == kind)
        if found != since.counts.get(kind, 0):
            report.add(f"{since.counts.get(kind, 0)} {kind} entries precede the last audit, but {found} are found")
    return entries


def _check_publishers(session: Session, entries: list[dict[str, Any]], report: AuditReport) -> None:
    """Publishers and keys must be what replaying their entries builds: names, verification, keys, rotations."""
    state = PublisherState()
    for entry in entries:
        try:
            state.apply(entry)
        except MALFORMED:
            report.add(f"log entry {entry.get('log_index')} lacks fields a {entry.get('kind')} entry has")
    for table, derived, what in ((Publisher, state.publishers, "publisher"), (PublisherKey, state.keys, "key")):
        seen = set()
        for row in _stream(session, select_columns(*inspect(table).local_table.columns)):
            values = dict(row._mapping)
            name = values["id" if table is Publisher else "key_id"]
            if table is PublisherKey:
                values["public_key"] = base64.b64encode(values["public_key"]).decode()
            seen.add(name)
            if name not in derived:
                report.add(f"{what} {name} is in no log entry")
                continue
            try:
                columns = differing(derived[name], values)
            except MALFORMED:
                columns = ["a timestamp the log does not hold in its own form"]
            if columns:
                report.add(f"{what} {name} differs from its log entries in {', '.join(columns)}")
        for name in sorted(derived.keys() - seen)[:MAX_PROBLEMS]:
            report.add(f"{what} {name} of the log has no row: a row was deleted")
