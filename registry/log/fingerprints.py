"""Fingerprint rows and used nonces as audited state: what decides a verdict is committed in the log.

A registration's log entry commits to the rows the registry measured from its original (`fingerprint_rows`: per
table of ROW_TABLES, the row count and a SHA-256 over its rows in id order, ids included, so neither a swapped
value nor a renumbered row passes). Rows added later (`provreg reindex`), and the rows of registrations logged
before entries committed to them, are committed by an entry of their own (FINGERPRINT_KIND); a registration's
latest committing entry supersedes its earlier ones. Used nonces need no commitment: every signed entry carries
its statement's.

The full audit recomputes every registration's digests against its latest commitment and holds the used-nonce
rows against the nonces of the signed entries. The incremental audit does not reread old entries, so the signed
audit mark pins what the last passing audit vouched for (`Pins`): per table the highest row id and a SHA-256 over
every row up to it in id order (owner included), and a SHA-256 over the sorted used nonces. Rows up to the marked
id must still give the pin, rows past it must belong to registrations committed since the mark (whose digests
are recomputed), and the used nonces less those of the new entries must still give the nonce pin. Either audit
reads every fingerprint row: an edit in place is only seen by reading what was edited.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, CursorResult, Select
from sqlmodel import Session, SQLModel, col, select

from registry.db import take_write_lock
from registry.log import store as log
from registry.log.derive import EntryError
from registry.models import LocalFeatureSet, LogEntry, MediaHash, Registration, UsedNonce, VideoTrack

if TYPE_CHECKING:
    from registry.log.audit import AuditReport
    from registry.log.keyring import LogKeyring

FINGERPRINT_KIND = "fingerprint_rows"
FIELD = "fingerprint_rows"  # the commitment's field in a registration entry and in a FINGERPRINT_KIND entry
_CHUNK = 256  # rows per fetch: feature blobs are about 20 kB each
_BATCH = 500  # registrations per `IN (...)` read, and per transaction of committing entries
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class RowTable:
    """A table of rows the registry measured from originals: `owner` names the registration a row belongs to,
    `key` orders the rows as they were written, `content` is what a commitment covers besides the key (`keyed`).
    `blobs`: its rows are mostly large blobs, which pins hash as they are rather than as JSON (`_pin`)."""

    model: Any
    content: tuple[str, ...]
    owner: str = "registration_id"
    key: str = "id"
    keyed: bool = True
    blobs: bool = False

    def columns(self) -> list[Any]:
        return [getattr(self.model, name) for name in (self.key, self.owner, *self.content)]

    def committed(self, key: object, values: Sequence[object]) -> tuple[object, ...]:
        return (key, *values) if self.keyed else tuple(values)


ROW_TABLES: dict[str, RowTable] = {
    "media_hash": RowTable(MediaHash, ("alg", "variant", "value", "quality")),
    "local_features": RowTable(LocalFeatureSet, ("data",), blobs=True),
    "video_track": RowTable(VideoTrack, ("data", "audio"), blobs=True),
    # What the registry measured about the original itself (an image's size and trim box), which views report.
    # The rest of the row is what the entry says (registry.log.derive); its log index is the entry's, not content.
    "registration": RowTable(Registration, ("kind", "facts"), owner="id", key="log_index", keyed=False),
}
"""Every table whose rows a check reads as what the registry measured from an original: hashes, local features,
frame tracks, sound fingerprints, an original's facts. A new one belongs here, or the audit does not cover it; and
whatever fills it for registrations already logged must log their new commitments (`events`), as reindex does.
Editing a table's `content` changes every digest already logged: that needs a new commitment version."""

_TABLE_OF = {spec.model: name for name, spec in ROW_TABLES.items()}


class _Hasher(Protocol):
    """What digests and pins use of a hashlib object."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


def _feed(hasher: _Hasher, values: Iterable[object]) -> None:
    """Each value typed and length-prefixed, so no two different rows feed the same bytes (what entries commit to).

    A value of a type no column holds (SQLite stores whatever it is given) is fed by its repr under its own tag:
    it differs from the committed value, which the audit then reports, rather than stopping the audit."""
    for value in values:
        if value is None:
            hasher.update(b"n")
            continue
        if type(value) is int:
            hasher.update(b"i" + value.to_bytes(8, "big", signed=True))
            continue
        if isinstance(value, str):
            tag, data = b"s", value.encode()
        elif isinstance(value, bytes | memoryview):
            tag, data = b"b", bytes(value)
        else:
            tag, data = b"?", repr(value).encode()
        hasher.update(tag + len(data).to_bytes(8, "big"))
        hasher.update(data)


def _plain(value: object) -> list[str]:
    """JSON for what `json` cannot encode: a blob as `[hex]`, anything else as `["?", repr]` (never a string, so no
    text passes for a blob)."""
    if isinstance(value, bytes | memoryview):
        return [bytes(value).hex()]
    return ["?", repr(value)]


_PIN_JSON = json.JSONEncoder(separators=(",", ":"), default=_plain)


def _pin(hasher: _Hasher, rows: list[tuple[Any, ...]], blobs: bool) -> None:
    """Feed rows as pins encode them. Every audit pins every row, so small rows go as JSON arrays, each followed by
    a comma (unambiguous: an array ends where it ends), one call into json's C encoder per chunk, many times cheaper
    than `_feed`; rows of large blobs go through `_feed`, which hashes the blob itself rather than its hex."""
    if blobs:
        for row in rows:
            _feed(hasher, row)
    elif rows:
        hasher.update((_PIN_JSON.encode(rows)[1:-1] + ",").encode())


def _digest_hasher(table: str) -> _Hasher:
    return hashlib.sha256(b"provreg/fingerprint-rows/v1\n" + table.encode() + b"\n")


def _pin_hasher(table: str) -> _Hasher:
    return hashlib.sha256(b"provreg/fingerprint-pin/v1\n" + table.encode() + b"\n")


def commitment(rows: Iterable[SQLModel]) -> dict[str, dict[str, Any]]:
    """What an entry commits to for one registration's rows (flushed, so their ids are set): per table with rows,
    `{"rows": count, "sha256": hex}`."""
    by_table: dict[str, list[Any]] = {}
    for row in rows:
        by_table.setdefault(_TABLE_OF[type(row)], []).append(row)
    result = {}
    for table, owned in by_table.items():
        spec, hasher = ROW_TABLES[table], _digest_hasher(table)
        for row in sorted(owned, key=lambda row: getattr(row, spec.key)):
            _feed(hasher, spec.committed(getattr(row, spec.key), [getattr(row, name) for name in spec.content]))
        result[table] = {"rows": len(owned), "sha256": hasher.hexdigest()}
    return dict(sorted(result.items()))


def read_commitments(session: Session, registration_ids: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """The commitment each registration's stored rows give now (every id present, `{}` for one without rows)."""
    wanted = sorted(set(registration_ids))
    result: dict[str, dict[str, dict[str, Any]]] = {registration_id: {} for registration_id in wanted}
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        for table, spec in ROW_TABLES.items():
            for registration_id, digest in _digests(session, table, col(getattr(spec.model, spec.owner)).in_(batch)):
                result[registration_id][table] = digest
    return {registration_id: dict(sorted(rows.items())) for registration_id, rows in result.items()}


def _stream(session: Session, query: Select[*tuple[Any, ...]]) -> CursorResult[*tuple[Any, ...]]:
    return session.connection().execution_options(yield_per=_CHUNK).execute(query)


def _digests(
    session: Session, table: str, where: ColumnElement[bool] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(registration, its digest of `table`) for every registration with rows there, from one ordered read."""
    spec = ROW_TABLES[table]
    key, owned_by = spec.columns()[:2]
    query = select(*spec.columns()).order_by(col(owned_by), col(key))
    if where is not None:
        query = query.where(where)
    owner, hasher, count = None, _digest_hasher(table), 0
    for row_key, registration_id, *values in _stream(session, query):
        if registration_id != owner:
            if owner is not None:
                yield owner, {"rows": count, "sha256": hasher.hexdigest()}
            owner, hasher, count = registration_id, _digest_hasher(table), 0
        _feed(hasher, spec.committed(row_key, values))
        count += 1
    if owner is not None:
        yield owner, {"rows": count, "sha256": hasher.hexdigest()}


# --- what the entries commit to -----------------------------------------------------------------------------------


def _checked(rows: Any) -> dict[str, dict[str, Any]]:
    """A commitment as the registry writes it, or EntryError."""
    if not isinstance(rows, dict):
        raise EntryError(f"its {FIELD} is not an object")
    for table, digest in rows.items():
        if (
            table not in ROW_TABLES
            or not isinstance(digest, dict)
            or set(digest) != {"rows", "sha256"}
            or not isinstance(digest["rows"], int)
            or digest["rows"] < 1
            or not isinstance(digest["sha256"], str)
            or not _SHA256.match(digest["sha256"])
        ):
            raise EntryError(f"its {FIELD} commitment to {table!r} is not one the registry writes")
    return rows


@dataclass
class Commitments:
    """What the audited entries say about fingerprint rows and used nonces."""

    latest: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # registration -> (entry, rows)
    uncommitted: set[str] = field(default_factory=set)  # registrations logged before entries committed to rows
    nonces: dict[tuple[str, str], int] = field(default_factory=dict)  # (publisher, nonce) -> the entry spending it

    def observe(self, kind: str, entry: Mapping[str, Any]) -> None:
        """Note one entry of `kind` (as its content says); raises EntryError or KeyError for a malformed one."""
        if kind == "registration" or kind == FINGERPRINT_KIND:
            registration_id = entry["registration_id"]
            if kind == "registration" and FIELD not in entry:
                self.uncommitted.add(registration_id)
            else:
                self.latest[registration_id] = (entry["log_index"], _checked(entry[FIELD]))
                self.uncommitted.discard(registration_id)
        statement = entry.get("statement")
        if statement is not None:  # a publisher-signed request: its nonce is spent
            self.nonces[(entry["publisher_id"], statement["nonce"])] = entry["log_index"]


# --- pins: what the audit mark vouches for --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TablePin:
    max_id: int  # -1 for an empty table
    rows: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Pins:
    """The fingerprint rows and used nonces a passing audit saw, for the next incremental audit to hold them to."""

    tables: dict[str, TablePin]
    nonces: TablePin  # max_id unused (-1)
    uncommitted: int  # registrations still without a commitment: while any remain, audits are full

    def to_json(self) -> dict[str, Any]:
        def pin(value: TablePin) -> dict[str, Any]:
            return {"max_id": value.max_id, "rows": value.rows, "sha256": value.sha256}

        return {
            "tables": {table: pin(value) for table, value in self.tables.items()},
            "nonces": pin(self.nonces),
            "uncommitted": self.uncommitted,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Pins:
        return cls(
            {table: TablePin(**value) for table, value in obj["tables"].items()},
            TablePin(**obj["nonces"]),
            obj["uncommitted"],
        )


def _pin_table(session: Session, table: str, marked: TablePin | None) -> tuple[TablePin, TablePin, set[str]]:
    """One read in key order: the pin of every row, the pin of the rows up to `marked.max_id`, and the owners of
    the rows past it. A pin over a prefix is the hash state at that prefix, so one hash serves both."""
    spec = ROW_TABLES[table]
    limit = -1 if marked is None else marked.max_id
    hasher = _pin_hasher(table)
    below: TablePin | None = None
    count, max_id, owners = 0, -1, set[str]()
    query = select(*spec.columns()).order_by(col(spec.columns()[0]))
    for chunk in _stream(session, query).partitions():
        rows = list(map(tuple, chunk))
        split = _past(rows, limit)
        _pin(hasher, rows[:split], spec.blobs)
        count += split
        if split < len(rows):
            if below is None:
                below = TablePin(limit, count, hasher.hexdigest())
            _pin(hasher, rows[split:], spec.blobs)
            count += len(rows) - split
            owners.update(row[1] for row in rows[split:])
        max_id = max([max_id, *(row[0] for row in rows if type(row[0]) is int)])
    if below is None:
        below = TablePin(limit, count, hasher.hexdigest())
    return TablePin(max_id, count, hasher.hexdigest()), below, owners


def _past(rows: Sequence[tuple[Any, ...]], limit: int) -> int:
    """Where rows in key order pass `limit`: SQLite orders a key some tampering made text after every number."""
    for position, row in enumerate(rows):
        if type(row[0]) is not int or row[0] > limit:
            return position
    return len(rows)


def _nonce_pin(nonces: Iterable[tuple[str, str]]) -> TablePin:
    try:
        ordered = sorted(nonces)
    except TypeError:  # a tampered row holds a blob, which does not compare with text: a set no pin was made of
        ordered = sorted(nonces, key=repr)
    encoded = _PIN_JSON.encode(ordered).encode()
    return TablePin(-1, len(ordered), hashlib.sha256(b"provreg/nonce-pin/v1\n" + encoded).hexdigest())


# --- the checks ---------------------------------------------------------------------------------------------------


def check_all(session: Session, commitments: Commitments, report: AuditReport) -> Pins:
    """The full audit's part: every registration's rows against its latest commitment, every used nonce against
    the signed entries."""
    for table in ROW_TABLES:
        seen = set()
        for registration_id, digest in _digests(session, table):
            seen.add(registration_id)
            _compare(registration_id, table, digest, commitments, report)
        for registration_id, (index, rows) in commitments.latest.items():
            if table in rows and registration_id not in seen:
                report.add(
                    f"{table} rows of {registration_id} are gone: log entry {index} commits to "
                    f"{rows[table]['rows']}; rows were deleted"
                )
    report.fingerprinted = len(commitments.latest)
    stored = _used_nonces(session)
    for (publisher_id, nonce), index in commitments.nonces.items():
        if (publisher_id, nonce) not in stored:
            _nonce_gone(publisher_id, index, report)
    for publisher_id, nonce in sorted(stored - commitments.nonces.keys())[:5]:
        report.add(f"used nonce {nonce!r} of {publisher_id} was spent by no log entry: a row was inserted")
    tables = {table: _pin_table(session, table, None)[0] for table in ROW_TABLES}
    return Pins(tables, _nonce_pin(stored), len(commitments.uncommitted))


def check_since(session: Session, commitments: Commitments, marked: Pins, report: AuditReport) -> Pins:
    """The incremental audit's part, given what the entries since the mark commit to."""
    tables = {}
    for table in ROW_TABLES:
        tables[table], below, owners = _pin_table(session, table, marked.tables.get(table))
        if below != marked.tables.get(table, below):
            report.add(
                f"{table} rows the last audit passed (ids up to {below.max_id}) were changed, deleted or inserted "
                f"since: {marked.tables[table].rows} then, {below.rows} now; 'provreg audit --full' names them"
            )
        for registration_id in sorted(owners - commitments.latest.keys() - commitments.uncommitted)[:5]:
            report.add(
                f"{table} rows of {registration_id} were added after the last audit, but no log entry since "
                "commits to them: rows inserted"
            )
    stored = read_commitments(session, commitments.latest)
    for registration_id, rows in stored.items():
        for table in sorted(rows.keys() | commitments.latest[registration_id][1].keys()):
            _compare(registration_id, table, rows.get(table), commitments, report)
    report.fingerprinted = len(stored)
    used = _used_nonces(session)
    for (publisher_id, nonce), index in commitments.nonces.items():
        if (publisher_id, nonce) not in used:
            _nonce_gone(publisher_id, index, report)
    before = used - commitments.nonces.keys()
    if _nonce_pin(before) != marked.nonces:
        report.add("the used nonces the last audit passed were changed, deleted or inserted since")
    now = marked.nonces if before == used else _nonce_pin(used)
    return Pins(tables, now, marked.uncommitted + len(commitments.uncommitted))


def _compare(
    registration_id: str,
    table: str,
    digest: dict[str, Any] | None,
    commitments: Commitments,
    report: AuditReport,
) -> None:
    if registration_id in commitments.uncommitted:
        return  # logged before commitments; committed (`commit_uncommitted`) once the audit passes
    committed = commitments.latest.get(registration_id)
    if committed is None:
        found = 0 if digest is None else digest["rows"]
        report.add(f"{found} {table} rows belong to {registration_id}, which no log entry commits to: rows inserted")
        return
    index, rows = committed
    expected = rows.get(table)
    if digest != expected:
        stored, logged = (0 if value is None else value["rows"] for value in (digest, expected))
        report.add(
            f"{table} rows of {registration_id} differ from what log entry {index} commits to "
            f"({stored} stored, {logged} committed)"
        )


def _used_nonces(session: Session) -> set[tuple[str, str]]:
    query = select(UsedNonce.publisher_id, UsedNonce.nonce)
    return {(publisher_id, nonce) for chunk in _stream(session, query).partitions() for publisher_id, nonce in chunk}


def _nonce_gone(publisher_id: str, index: int, report: AuditReport) -> None:
    report.add(
        f"the nonce of log entry {index} (publisher {publisher_id}) has no used_nonce row: a row was deleted, so a "
        "replay of that request would pass"
    )


# --- committing rows that no entry covers yet ---------------------------------------------------------------------


def events(session: Session, registration_ids: Sequence[str], reason: str) -> list[log.Event]:
    """One FINGERPRINT_KIND event per registration, committing to its rows as stored now (inside the caller's
    write transaction, after its rows are flushed)."""
    stored = read_commitments(session, registration_ids)
    return [
        log.Event(
            FINGERPRINT_KIND,
            registration_id,
            {"registration_id": registration_id, "reason": reason, FIELD: stored[registration_id]},
        )
        for registration_id in registration_ids
    ]


def commit_uncommitted(session: Session, keyring: LogKeyring, registration_ids: Iterable[str], now: datetime) -> int:
    """Commit the rows of registrations logged before entries committed to them ("backfill" entries, in log order).

    Trust on first use: this vouches for the rows as they are now, so it runs only after an audit passed. Several
    processes may start at once: whichever commits a registration first does, the others skip it.
    """
    wanted = set(registration_ids)
    ordered = [
        registration_id
        for registration_id in session.exec(select(Registration.id).order_by(col(Registration.log_index))).all()
        if registration_id in wanted
    ]
    committed = 0
    for start in range(0, len(ordered), _BATCH):
        batch = ordered[start : start + _BATCH]
        try:
            take_write_lock(session)
            done = set(
                session.exec(
                    select(LogEntry.subject).where(LogEntry.kind == FINGERPRINT_KIND, col(LogEntry.subject).in_(batch))
                ).all()
            )
            todo = [registration_id for registration_id in batch if registration_id not in done]
            if todo:
                log.append(session, events(session, todo, "backfill"), now)
                log.sign_checkpoint(session, keyring, now)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        committed += len(todo)
    return committed
