"""`provreg init` and `provreg migrate`: create a registry on purpose (no command that reads one creates it by
accident), and bring its database's schema to this version's.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from api.cli.common import (
    JsonOption,
    app,
    emit_json,
    existing_data_dir,
    fail_cleanly,
    open_registry,
    settings,
    stderr,
    stdout,
    view_json,
)


@app.command()
def init(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Create an empty registry in the data directory (or open an existing one) and print its log verifier key."""
    from registry import transparency

    existed = ctx.obj.data_dir.is_dir()
    with fail_cleanly(), open_registry(ctx, writes=True, create=True) as registry:
        keys = transparency.log_keys(keyring=registry.keyring)
    if as_json:
        emit_json({"data_dir": str(registry.settings.data_dir.absolute()), "created": not existed, **view_json(keys)})
        return
    state = "Registry already present" if existed else "Created an empty registry"
    stderr.print(f"{state} in {registry.settings.data_dir.absolute()}; its log verifier key:", highlight=False)
    for key in keys.keys:
        if key.active:
            stdout.out(key.vkey, highlight=False)


@app.command()
def migrate(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="revision to upgrade or downgrade to: an id, 'head' or 'base'")
    ] = "head",
    sql: Annotated[bool, typer.Option("--sql", help="print the SQL it would run, change nothing (a dry run)")] = False,
    as_json: JsonOption = False,
) -> None:
    """Migrate the database's schema (back it up first); adopts a database made before migrations existed."""
    from registry import migrations
    from registry.db import make_engine

    with fail_cleanly():
        existing_data_dir(ctx)
        engine = make_engine(settings(ctx).sqlalchemy_url)
        try:
            if sql:
                stdout.out(migrations.migration_sql(engine, to), highlight=False)
                return
            result = migrations.migrate(engine, to)
        finally:
            engine.dispose()
    if as_json:
        emit_json(asdict(result))
        return
    if result.adopted:
        stderr.print(f"Adopted a database made before migrations: stamped {migrations.BASELINE}", highlight=False)
    if result.direction == "none":
        stderr.print(f"Already at {result.to_revision or 'base'}; nothing to do", highlight=False)
        return
    stderr.print(
        f"{result.direction.capitalize()}d from {result.from_revision or 'base'} to {result.to_revision or 'base'}:",
        highlight=False,
    )
    for revision in result.applied:
        stdout.out(revision, highlight=False)
