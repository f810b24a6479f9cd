"""Alembic's entry point, run by `registry.migrations` with the connection (or, for `--sql`, the URL) it passes."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import registry.models  # noqa: F401 - registers the tables on SQLModel.metadata, which autogenerate compares

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    url = config.get_main_option("sqlalchemy.url")
    # Batch mode: SQLite cannot alter most of a table in place, so batch steps copy it (a no-op on PostgreSQL).
    context.configure(
        url=url, target_metadata=SQLModel.metadata, literal_binds=True, render_as_batch=url.startswith("sqlite")
    )
else:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
with context.begin_transaction():
    context.run_migrations()
