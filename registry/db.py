"""Engine and sessions: SQLite in WAL mode by default; any PostgreSQL URL works with the same SQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, event, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

ID_CHUNK = 500  # ids per IN (...) query, far below SQLite's bound-parameter limit


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **pool: Any) -> Engine:
    """An engine for `url`; `pool` (`pool_size`, `max_overflow`) sizes a PostgreSQL connection pool."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **pool)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint; safe against corruption
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def read_snapshot(session: Session) -> None:
    """Make the rest of this transaction's reads one consistent snapshot (call before its first statement).

    SQLite's read transactions already are; PostgreSQL's default READ COMMITTED takes a new snapshot per statement,
    so a multi-statement audit could see a log entry another worker appended but not its tree nodes.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def take_write_lock(session: Session) -> None:
    """Serialise writers for the rest of this transaction, on SQLite and PostgreSQL alike.

    Writing first means SQLite takes its write lock before any read (no stale-snapshot upgrade failures), and
    PostgreSQL holds the row lock, so ids are committed in the order they were assigned; index catch-up relies
    on that.
    """
    session.execute(text("UPDATE write_lock SET generation = generation + 1 WHERE id = 1"))


def id_chunks(values: Iterable[str]) -> Iterator[list[str]]:
    """Distinct `values`, sorted, in lists of at most ID_CHUNK: one `IN (...)` query each."""
    ordered = sorted(set(values))
    for start in range(0, len(ordered), ID_CHUNK):
        yield ordered[start : start + ID_CHUNK]
