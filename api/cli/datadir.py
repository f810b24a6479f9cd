"""`provreg init`: create a registry on purpose, since no command that reads one creates it by accident."""

from __future__ import annotations

import typer

from api.cli.common import JsonOption, app, emit_json, fail_cleanly, open_registry, stderr, stdout, view_json


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
