"""Alembic's entry point, run by `registry.migrations` with the connection (or, for `--sql`, the URL) it passes."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import registry.models  # noqa: F401 - registers the tables on SQLModel.metadata, which autogenerate compares
from registry.db import UTCDateTime


def _render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """Plain SQLAlchemy types in generated migrations: a migration must not change when our Python types do."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


config = context.config
connection = config.attributes.get("connection")
if connection is None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic needs sqlalchemy.url or a connection (config.attributes['connection'])")
    # Batch mode: SQLite cannot alter most of a table in place, so batch steps copy it (a no-op on PostgreSQL).
    context.configure(
        url=url,
        target_metadata=SQLModel.metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        render_item=_render_item,
    )
else:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )
with context.begin_transaction():
    context.run_migrations()
