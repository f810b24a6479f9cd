"""Engine and sessions: SQLite in WAL mode by default; any PostgreSQL URL works with the same SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, event, inspect, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

from registry.errors import ConfigurationError


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


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint; safe against corruption
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Bumped whenever a table changes shape; a data directory of another version is refused, not silently misread.
SCHEMA_VERSION = 2


def init_db(engine: Engine) -> None:
    """Create the tables of a new database, or check that an existing one has this version's schema."""
    # Importing the models registers their tables on SQLModel.metadata.
    from registry import models

    existing = set(inspect(engine).get_table_names())
    if existing and "schema_version" not in existing:
        raise ConfigurationError(
            f"the database at {engine.url.render_as_string(hide_password=True)} was created by an earlier provreg "
            f"(schema 1); this version needs schema {SCHEMA_VERSION}. Register the originals into a new data "
            "directory (PROVREG_DATA_DIR / --data-dir) or keep using the earlier version"
        )
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        stored = session.get(models.SchemaVersion, 1)
        if stored is None:
            session.add(models.SchemaVersion(id=1, version=SCHEMA_VERSION))
        elif stored.version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"the database has schema {stored.version}; this version of provreg needs schema {SCHEMA_VERSION}"
            )
        if session.get(models.WriteLock, 1) is None:
            session.add(models.WriteLock(id=1, generation=0))
        session.commit()


def take_write_lock(session: Session) -> None:
    """Serialise writers for the rest of this transaction, on SQLite and PostgreSQL alike.

    Writing first means SQLite takes its write lock before any read (no stale-snapshot upgrade failures), and
    PostgreSQL holds the row lock, so ids are committed in the order they were assigned; index catch-up relies
    on that.
    """
    session.execute(text("UPDATE write_lock SET generation = generation + 1 WHERE id = 1"))
