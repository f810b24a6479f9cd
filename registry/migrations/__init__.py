"""Schema migrations (Alembic) for SQLite and PostgreSQL, run from here: no alembic.ini is needed at run time.

    from registry.db import make_engine
    from registry import migrations
    engine = make_engine("sqlite:///provreg-data/registry.sqlite3")
    migrations.schema_state(engine)          # SchemaState(current='0001_baseline', stamped=False, head=...)
    migrations.migrate(engine)               # adopt (stamp) a database of the release before migrations, upgrade

Revisions live in `versions/`, one file each, in a straight line from `0001_baseline` (the schema that release
made with `create_all`). A database that release made has no `alembic_version` table, only its `schema_version`
row (2): it is treated as being at the baseline and stamped before the first upgrade.
"""

from __future__ import annotations

import io
import re
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from registry.db import make_engine
from registry.errors import ConfigurationError, InvalidRequest

BASELINE = "0001_baseline"
_LEGACY_SCHEMA_VERSION = 2  # what the release before migrations wrote into `schema_version`
_LOCK_KEY = 0x70726F76  # "prov": the advisory lock that serialises migrations of one PostgreSQL database
_DIRECTORY = Path(__file__).parent


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: str | None  # the revision the tables are at; None: no tables yet
    stamped: bool  # False for a database of the release before migrations (at the baseline, not yet stamped)
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.stamped and self.current == self.head


@dataclass(frozen=True, slots=True)
class MigrationResult:
    from_revision: str | None
    to_revision: str | None
    direction: str  # "upgrade", "downgrade" or "none"
    adopted: bool  # a database of the release before migrations was stamped with the baseline first
    applied: list[str] = field(default_factory=list)  # revisions run, in the order they ran


def _config(
    connection: Connection | None = None, *, url: str | None = None, output: io.StringIO | None = None
) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(_DIRECTORY))
    config.set_main_option("file_template", "%%(rev)s")  # the revision id already carries the slug
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@cache
def script() -> ScriptDirectory:
    """The revision files, read once per process: every registry opened checks its database against them."""
    return ScriptDirectory.from_config(_config())


def revisions() -> list[str]:
    """Every revision, oldest first (the history is one straight line)."""
    heads = script().get_heads()
    if len(heads) != 1:
        raise ConfigurationError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them into one")
    return [revision.revision for revision in reversed(list(script().walk_revisions()))]


def head() -> str:
    return revisions()[-1]


def _resolve(target: str) -> str | None:
    """A revision id (or `head`, `base`, an unambiguous prefix) as a full id; None is the empty database."""
    if target == "base":
        return None
    try:
        found = script().get_revision(target)
    except CommandError as exc:
        raise InvalidRequest(f"no migration {target!r}: {exc}; known: {', '.join(revisions())}") from None
    if found is None:
        raise InvalidRequest(f"no migration {target!r}; known: {', '.join(revisions())}")
    return found.revision


def _state(connection: Connection) -> SchemaState:
    tables = set(inspect(connection).get_table_names())
    latest = head()
    url = connection.engine.url.render_as_string(hide_password=True)
    if "alembic_version" in tables:
        stamps = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
        if len(stamps) > 1:
            raise ConfigurationError(f"the database at {url} has several migration heads: {', '.join(stamps)}")
        current = stamps[0] if stamps else None
        if current is not None and current not in revisions():
            raise ConfigurationError(
                f"the database at {url} is at migration {current}, which this provreg does not know (its newest is "
                f"{latest}): a newer provreg migrated it. Run that release, or downgrade the database with it "
                f"('provreg migrate --to {latest}')"
            )
        return SchemaState(current=current, stamped=True, head=latest)
    if "schema_version" in tables:
        version = connection.execute(text("SELECT version FROM schema_version WHERE id = 1")).scalar()
        if version != _LEGACY_SCHEMA_VERSION:
            raise ConfigurationError(f"the database at {url} has schema {version}, which no provreg migration knows")
        return SchemaState(current=BASELINE, stamped=False, head=latest)
    if tables:
        raise ConfigurationError(
            f"the database at {url} was created by an earlier provreg (schema 1), which cannot be migrated. Register "
            "the originals into a new data directory (PROVREG_DATA_DIR / --data-dir) or keep using the earlier version"
        )
    return SchemaState(current=None, stamped=False, head=latest)


def schema_state(engine: Engine) -> SchemaState:
    with engine.connect() as connection:
        return _state(connection)


def _lock(connection: Connection) -> None:
    """Serialise migrations across processes (every worker of a server may start at once) until commit."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def _plan(state: SchemaState, target: str) -> tuple[str | None, str, list[str]]:
    """The target revision, the direction and the revisions to run, in order."""
    order = revisions()
    resolved = _resolve(target)
    start = -1 if state.current is None else order.index(state.current)
    end = -1 if resolved is None else order.index(resolved)
    if end > start:
        return resolved, "upgrade", order[start + 1 : end + 1]
    if end < start:
        return resolved, "downgrade", list(reversed(order[end + 1 : start + 1]))
    return resolved, "none", []


def migrate(engine: Engine, to: str = "head") -> MigrationResult:
    """Bring the database to revision `to` (up or down) in one transaction where the backend allows it."""
    with engine.begin() as connection:
        _lock(connection)
        state = _state(connection)  # read under the lock: another process may just have migrated
        target, direction, applied = _plan(state, to)
        config = _config(connection)
        adopt = not state.stamped and state.current is not None
        if adopt:
            command.stamp(config, BASELINE)
        if direction == "upgrade":
            command.upgrade(config, target or "base")
        elif direction == "downgrade":
            command.downgrade(config, target or "base")
    return MigrationResult(state.current, target, direction, adopt, applied)


def migration_sql(engine: Engine, to: str = "head") -> str:
    """The SQL `migrate(engine, to)` would run, from the database's current revision, without running it.

    Offline SQL cannot read a table to copy it, so on SQLite it covers revisions without batch (table-copying) steps.
    """
    state = schema_state(engine)
    target, direction, _ = _plan(state, to)
    output = io.StringIO()
    config = _config(url=engine.url.render_as_string(hide_password=False), output=output)
    if not state.stamped and state.current is not None:
        command.stamp(config, BASELINE, sql=True)
    if direction != "none":
        run = command.upgrade if direction == "upgrade" else command.downgrade
        run(config, f"{state.current or 'base'}:{target or 'base'}", sql=True)
    return output.getvalue()


def init_db(engine: Engine, *, auto_migrate: bool = False) -> None:
    """Create the tables of a new database, or check that an existing one is at this version's migration head.

    A stale schema is migrated only when configured (`auto_migrate`): an upgrade can take long and cannot always
    be undone, so by default the operator runs `provreg migrate` on purpose.
    """
    state = schema_state(engine)
    if state.up_to_date:
        return
    if state.current is None or auto_migrate:
        migrate(engine)
        return
    raise ConfigurationError(
        f"the database at {engine.url.render_as_string(hide_password=True)} is at schema migration {state.current}"
        f"{'' if state.stamped else ' (made before migrations)'}; this provreg needs {state.head}. Back it up, then "
        "run 'provreg migrate' (or set PROVREG_AUTO_MIGRATE=true to migrate at start-up)"
    )


def new_revision(message: str, url: str | None = None) -> Path:
    """Write `versions/NNNN_<slug>.py` holding what the models have and the migration head lacks (autogenerate).

    It compares against a scratch SQLite database at the head, or against `url` (a database at the head) for what
    only PostgreSQL has. Review the file: autogenerate misses renames and data changes.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    rev_id = f"{len(revisions()) + 1:04d}_{slug}"[:32]  # alembic_version.version_num is VARCHAR(32)
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(url or f"sqlite:///{scratch}/head.sqlite3")
        try:
            if not schema_state(engine).up_to_date:
                migrate(engine)
            with engine.begin() as connection:
                written = command.revision(_config(connection), message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)
