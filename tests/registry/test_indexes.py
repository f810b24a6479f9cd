"""The database is the source of truth: saved indexes are used only when they agree with it."""

from __future__ import annotations

import logging

import pytest
from conftest import PublisherHandle, photo_bytes
from sqlalchemy import text

from registry import matching, service
from registry.runtime import Registry
from registry.settings import Settings


def _register(registry: Registry, publisher: PublisherHandle, name: str) -> str:
    content = photo_bytes(name)
    statement, signature = publisher.signed(content)
    with registry.session() as session:
        return service.register(
            session=session, registry=registry, statement=statement, signature=signature, content=content
        ).id


def _verdict(registry: Registry, name: str) -> str:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=photo_bytes(name)).verdict


def _reopen(settings: Settings) -> Registry:
    registry = Registry.open(settings)
    registry.load()
    return registry


def test_saved_index_is_reused_and_caught_up(
    settings: Settings, registry: Registry, publisher: PublisherHandle, caplog: pytest.LogCaptureFixture
) -> None:
    _register(registry, publisher, "rocket")
    registry.index.save()
    _register(registry, publisher, "coffee")  # committed after the save: the file is one behind
    caplog.set_level(logging.INFO, logger="registry.index")
    reopened = _reopen(settings)
    assert "index phash: loaded 1 saved codes, caught up 1" in caplog.text
    assert "index descriptors: loaded 1 saved originals, caught up 1" in caplog.text
    assert _verdict(reopened, "rocket") == _verdict(reopened, "coffee") == "copy"
    reopened.close()


def test_corrupt_index_file_is_rebuilt(
    settings: Settings, registry: Registry, publisher: PublisherHandle, caplog: pytest.LogCaptureFixture
) -> None:
    _register(registry, publisher, "rocket")
    registry.index.save()
    path = settings.data_dir / "index" / "pdq.index"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    caplog.set_level(logging.INFO, logger="registry.index")
    reopened = _reopen(settings)
    assert "checksum or format mismatch" in caplog.text and "index pdq: built from the database, 4 codes" in caplog.text
    assert _verdict(reopened, "rocket") == "copy"
    reopened.close()


def test_index_ahead_of_the_database_is_rebuilt(
    settings: Settings, registry: Registry, publisher: PublisherHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """A database restored from an older backup: the saved index knows rows the database does not."""
    _register(registry, publisher, "rocket")
    coffee = _register(registry, publisher, "coffee")
    registry.index.save()
    with registry.engine.begin() as connection:
        connection.execute(text("DELETE FROM media_hash WHERE registration_id = :id"), {"id": coffee})
        connection.execute(text("DELETE FROM local_features WHERE registration_id = :id"), {"id": coffee})
        connection.execute(text("DELETE FROM registration WHERE id = :id"), {"id": coffee})
    caplog.set_level(logging.INFO, logger="registry.index")
    reopened = _reopen(settings)
    assert "disagrees with the database; rebuilding" in caplog.text
    assert _verdict(reopened, "coffee") == "unregistered"
    assert _verdict(reopened, "rocket") == "copy"
    reopened.close()


def test_hash_queries_use_their_indexes(registry: Registry) -> None:
    """With two single-column indexes SQLite sometimes planned a scan of every hash row per match."""
    with registry.engine.connect() as connection:
        for sql in (
            "SELECT value, variant FROM media_hash WHERE registration_id = 'r' AND alg = 'pdq'",
            "SELECT id, value FROM media_hash WHERE alg = 'pdq' AND id > 5 ORDER BY id LIMIT 10",
        ):
            plan = " | ".join(str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "SEARCH media_hash USING INDEX" in plan and "SCAN" not in plan, plan
