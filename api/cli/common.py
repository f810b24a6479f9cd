"""What every `provreg` command shares: the app, global options, exit statuses, output and error handling."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel
from rich.console import Console
from sqlmodel import Session

from api.client import LocalTransport, PublisherClient
from registry import errors, publishers
from registry.keys import raw_public_key
from registry.runtime import Registry
from registry.settings import Settings

# Exit statuses, in one place. 1 is "some files in a batch failed"; 2 is click's usage error.
EXIT_BATCH_FAILURES = 1
EXIT_CODES: dict[type[errors.RegistryError], int] = {
    errors.InvalidRequest: 3,
    errors.UnsupportedMedia: 3,
    errors.MediaTooLarge: 3,
    errors.Unauthenticated: 4,
    errors.Forbidden: 4,
    errors.NotFound: 5,
    errors.Conflict: 6,
    errors.NotReady: 7,
    errors.ConfigurationError: 8,
    errors.VerificationFailed: 9,
    errors.LogTampered: 10,
}

app = typer.Typer(
    name="provreg",
    help="Provenance registry: register signed originals, check media against them, verify the log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
publisher_app = typer.Typer(help="Publishers and their keys.", no_args_is_help=True)
log_key_app = typer.Typer(help="The registry's own checkpoint-signing keys (operator).", no_args_is_help=True)
app.add_typer(publisher_app, name="publisher")
app.add_typer(log_key_app, name="log-key")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


@dataclass
class Options:
    data_dir: Path


def exit_code_for(exc: errors.RegistryError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_BATCH_FAILURES


@app.callback()
def _global_options(
    ctx: typer.Context,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", envvar="PROVREG_DATA_DIR", help="where the database, index and originals live")
    ] = Path("provreg-data"),
) -> None:
    ctx.obj = Options(data_dir=data_dir)


def settings(ctx: typer.Context) -> Settings:
    return Settings(data_dir=ctx.obj.data_dir)


@contextmanager
def fail_cleanly() -> Iterator[None]:
    """A domain error ends the command with its message and mapped exit status, never a traceback."""
    try:
        yield
    except errors.RegistryError as exc:
        stderr.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(exit_code_for(exc)) from None


@contextmanager
def open_registry(ctx: typer.Context, *, writes: bool) -> Iterator[Registry]:
    """Open the data directory; commands that write audit the log first and refuse a tampered one."""
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
    with nullcontext(session) if session is not None else registry.session() as lookup:
        publisher = publishers.publisher_for_key(session=lookup, public_key=raw_public_key(private_key))
    return PublisherClient(LocalTransport(registry, session), publisher_id=publisher.id, private_key=private_key)
