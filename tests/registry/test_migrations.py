"""Schema migrations on SQLite and PostgreSQL: the head matches the models, a database of the release before
migrations is adopted and upgraded, and every step goes down and up again with the registry's data intact."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import DATA, PHOTOS, PublisherHandle, encode, make_publisher, photo, photo_bytes
from sqlalchemy import Engine, MetaData, create_engine, inspect, text
from sqlmodel import SQLModel
from typer.testing import CliRunner

from api.cli import app
from api.client import LocalTransport
from registry import matching, migrations, service
from registry.db import make_engine
from registry.errors import ConfigurationError
from registry.log.audit import audit
from registry.runtime import Registry
from registry.settings import Settings

pytestmark = [pytest.mark.backends, pytest.mark.empty_database]  # migrations start from an empty database
RELEASE = DATA / "release-0.1.0"


def _diff(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), metadata)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


def test_the_migration_head_is_the_models(engine: Engine) -> None:
    """A model changed without a migration fails here: add one (README: "Adding a migration")."""
    assert migrations.migrate(engine).applied == migrations.revisions()
    assert _diff(engine, SQLModel.metadata) == []
    assert migrations.schema_state(engine).up_to_date


def test_the_baseline_is_the_schema_the_release_before_migrations_made(
    engine: Engine, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Compared with the DDL that release's `create_all` ran, committed when it shipped."""
    migrations.migrate(engine, migrations.BASELINE)
    if engine.dialect.name == "sqlite":
        shipped = create_engine(f"sqlite:///{tmp_path / 'shipped.sqlite3'}")
    else:
        shipped = create_engine(request.getfixturevalue("postgres_server").create_database())
    with shipped.begin() as connection:
        lines = (RELEASE / f"schema-{engine.dialect.name}.sql").read_text().splitlines()
        script = "\n".join(line for line in lines if not line.startswith("--"))
        for statement in filter(str.strip, script.split(";")):
            connection.exec_driver_sql(statement)
    release = MetaData()
    release.reflect(shipped)
    assert _diff(engine, release) == []
    with engine.connect() as ours, shipped.connect() as theirs:
        for table in ("schema_version", "write_lock"):
            rows = f"SELECT * FROM {table}"
            assert ours.execute(text(rows)).all() == theirs.execute(text(rows)).all()
    shipped.dispose()


def _register_photos(settings: Settings) -> tuple[PublisherHandle, list[str]]:
    registry = Registry.open(settings)
    registry.load()
    publisher = make_publisher(registry, "Daily Planet")
    client = publisher.client(LocalTransport(registry))
    ids = [client.register(photo_bytes(name), {"title": name}).id for name in PHOTOS[:2]]
    registry.close()
    return publisher, ids


def _as_the_release_before_migrations_left_it(engine: Engine) -> None:
    migrations.migrate(engine, migrations.BASELINE)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))


def _assert_intact(settings: Settings, ids: list[str]) -> None:
    """The log audits clean from its first entry and every original still matches itself."""
    registry = Registry.open(settings)
    registry.load()
    assert registry.log_problem is None
    with registry.session() as session:
        report = audit(session, registry.keyring)
        assert report.ok and report.size == 1 + len(ids), report.problems
        for name, registration_id in zip(PHOTOS, ids, strict=False):
            result = matching.check(session=session, registry=registry, content=photo_bytes(name))
            assert result.matches[0].registration_id == registration_id and result.matches[0].exact
    registry.close()


@pytest.mark.slow
def test_a_data_dir_of_the_release_before_migrations_is_refused_then_migrated(
    settings: Settings, engine: Engine
) -> None:
    _, ids = _register_photos(settings)
    _as_the_release_before_migrations_left_it(engine)
    state = migrations.schema_state(engine)
    assert (state.current, state.stamped) == (migrations.BASELINE, False)

    with pytest.raises(ConfigurationError, match="provreg migrate"):
        Registry.open(settings)

    runner = CliRunner()
    dry = runner.invoke(app, ["--data-dir", str(settings.data_dir), "migrate", "--sql"])
    assert dry.exit_code == 0, dry.stderr
    assert "DROP TABLE schema_version" in dry.stdout and migrations.BASELINE in dry.stdout
    assert migrations.schema_state(engine) == state  # a dry run changes nothing

    done = runner.invoke(app, ["--data-dir", str(settings.data_dir), "migrate", "--json"])
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout) == {
        "from_revision": migrations.BASELINE,
        "to_revision": migrations.head(),
        "direction": "upgrade",
        "adopted": True,
        "applied": migrations.revisions()[1:],
    }
    assert _diff(engine, SQLModel.metadata) == []
    _assert_intact(settings, ids)

    again = runner.invoke(app, ["--data-dir", str(settings.data_dir), "migrate"])
    assert again.exit_code == 0 and "nothing to do" in again.stderr


def test_auto_migrate_at_start_up(settings: Settings, engine: Engine) -> None:
    _, ids = _register_photos(settings)
    _as_the_release_before_migrations_left_it(engine)
    _assert_intact(settings.model_copy(update={"auto_migrate": True}), ids)
    assert migrations.schema_state(engine).up_to_date


@pytest.mark.slow
def test_every_step_goes_down_and_up_with_data(settings: Settings, engine: Engine) -> None:
    _, ids = _register_photos(settings)
    for revision in reversed(migrations.revisions()[:-1]):
        result = migrations.migrate(engine, revision)
        assert result.direction == "downgrade" and result.to_revision == revision
        assert migrations.schema_state(engine).current == revision
    # At the baseline the release before migrations can read the database again: its version row is back.
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_version")).scalar() == 2
    assert migrations.migrate(engine).applied == migrations.revisions()[1:]
    _assert_intact(settings, ids)

    assert migrations.migrate(engine, "base").applied == list(reversed(migrations.revisions()))
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}


def test_unknown_revisions_are_refused(settings: Settings, engine: Engine) -> None:
    migrations.migrate(engine)
    runner = CliRunner()
    bad = runner.invoke(app, ["--data-dir", str(settings.data_dir), "migrate", "--to", "9999_nonexistent"])
    assert bad.exit_code == 3 and "no migration '9999_nonexistent'" in bad.stderr
    with engine.begin() as connection:  # as a newer provreg would leave it
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    with pytest.raises(ConfigurationError, match="a newer provreg migrated it"):
        Registry.open(settings)


def test_a_database_from_before_schema_2_is_refused(settings: Settings, engine: Engine) -> None:
    """Schema 1 had neither version table; it cannot be migrated (its image facts were never kept)."""
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE publisher (id VARCHAR(40) PRIMARY KEY)"))
    with pytest.raises(ConfigurationError, match=r"earlier provreg \(schema 1\), which cannot be migrated"):
        Registry.open(settings)


def test_prior_registrations_of_the_same_bytes_are_backfilled(settings: Settings, engine: Engine) -> None:
    """Revision 0006 names, for registrations made before it, the earlier registrations of the same bytes by
    another publisher; perceptual near-duplicates are not backfilled (README: "first registrant")."""
    registry = Registry.open(settings)
    registry.load()
    newsroom, agency = make_publisher(registry, "Daily Planet"), make_publisher(registry, "Pool Agency")
    first, same = (
        handle.client(LocalTransport(registry)).register(photo_bytes("rocket"), {"title": "pool"}).id
        for handle in (newsroom, agency)
    )
    resaved = agency.client(LocalTransport(registry)).register(encode(photo("rocket"), "PNG"), {"title": "png"}).id
    registry.close()
    migrations.migrate(engine, "0005_jobs")
    migrations.migrate(engine)
    registry = Registry.open(settings)
    registry.load()
    with registry.session() as session:
        priors = {
            registration_id: [
                (p.registration_id, p.exact)
                for p in service.get_registration(session=session, registration_id=registration_id).prior_registrations
            ]
            for registration_id in (first, same, resaved)
        }
    registry.close()
    assert priors == {first: [], same: [(first, True)], resaved: []}
