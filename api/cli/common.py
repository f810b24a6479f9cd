"""What every `provreg` command shares: the app, global options, output and error handling.

`provreg --help` must answer at once, so this module and the command modules import only typer and rich at the
top; the registry, the fingerprint code and their heavy dependencies (SQLAlchemy, faiss, OpenCV, numpy) are
imported inside the commands that use them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from pydantic import BaseModel
    from sqlmodel import Session

    from api.client import PublisherClient
    from registry.runtime import Registry
    from registry.settings import Settings

DISTRIBUTION = "provenance-registry"
DEFAULT_DATA_DIR = Path("provreg-data")

# Plain (click-style) help: typer's rich help panels show every flag as `--json <bool>`.
app = typer.Typer(
    name="provreg",
    help="Provenance registry: register signed originals, check media against them, verify the log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
publisher_app = typer.Typer(help="Publishers and their keys.", no_args_is_help=True, rich_markup_mode=None)
log_key_app = typer.Typer(
    help="The registry's own checkpoint-signing keys (operator).", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(publisher_app, name="publisher")
app.add_typer(log_key_app, name="log-key")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


@dataclass
class Options:
    data_dir: Path


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        stdout.out(f"provreg {version(DISTRIBUTION)}", highlight=False)
    except PackageNotFoundError:
        stdout.out("provreg (version unknown: the package is not installed)", highlight=False)
    raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar="PROVREG_DATA_DIR", help="where the database, index and originals live")
    ] = DEFAULT_DATA_DIR,
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    ctx.obj = Options(data_dir=data_dir)


def settings(ctx: typer.Context) -> Settings:
    from registry.settings import Settings

    return Settings(data_dir=ctx.obj.data_dir)


def existing_data_dir(ctx: typer.Context, *, otherwise: str = "create one there with 'provreg init'") -> Path:
    """The data directory, which must exist: reading a registry never creates an empty one by mistake."""
    from registry.errors import ConfigurationError

    data_dir: Path = ctx.obj.data_dir
    if not data_dir.is_dir():
        raise ConfigurationError(
            f"no registry at {data_dir.absolute()}: point --data-dir (or PROVREG_DATA_DIR) at an existing data "
            f"directory, or {otherwise}"
        )
    return data_dir


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """A domain error ends the command with its message and mapped exit status, never a traceback."""
    from api.cli.exits import exit_code_for
    from registry.errors import RegistryError

    try:
        yield
    except RegistryError as exc:
        stderr.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(exit_code_for(exc)) from None


@contextmanager
def open_registry(ctx: typer.Context, *, writes: bool, create: bool = False) -> Iterator[Registry]:
    """Open the data directory (creating it only when `create`); commands that write audit the log first."""
    from registry.runtime import Registry

    if not create:
        existing_data_dir(ctx)
    registry = Registry.open(settings(ctx))
    try:
        registry.load(audit_log=writes)
        if writes:
            registry.require_writable()
        yield registry
    finally:
        registry.close()


def emit_json(obj: dict[str, Any]) -> None:
    stdout.out(json.dumps(obj, ensure_ascii=False, default=str), highlight=False)


def view_json(view: BaseModel) -> dict[str, Any]:
    return view.model_dump(mode="json")


def local_client(registry: Registry, private_key: Ed25519PrivateKey, session: Session | None = None) -> PublisherClient:
    """A client signing as the publisher whose current key this is, sending to `registry` in this process."""
    from api.client import LocalTransport, PublisherClient
    from registry import publishers
    from registry.keys import raw_public_key

    with nullcontext(session) if session is not None else registry.session() as lookup:
        publisher = publishers.publisher_for_key(session=lookup, public_key=raw_public_key(private_key))
    return PublisherClient(LocalTransport(registry, session), publisher_id=publisher.id, private_key=private_key)
