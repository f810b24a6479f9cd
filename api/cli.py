"""`provreg`: the registry from the command line, over the same service functions as the HTTP API.

Local commands act on the data directory directly: whoever can read and write it is the operator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from fingerprint.media import sniff_media_type
from registry import errors, service
from registry.keys import generate_private_key, load_private_key, raw_public_key, save_private_key
from registry.runtime import Registry
from registry.settings import Settings
from registry.statements import REGISTRATION_DOMAIN, format_timestamp, new_nonce, sign

# Exit statuses, in one place. 1 is reserved for "some files in a batch failed"; 2 is click's usage error.
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
}
# Directories are searched for these; files named explicitly are always tried.
MEDIA_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif", ".heic", ".heif"}

app = typer.Typer(
    name="provreg",
    help="Provenance registry: register signed originals, check media against them, look up hashes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
publisher_app = typer.Typer(help="Manage publishers (local operator actions).", no_args_is_help=True)
app.add_typer(publisher_app, name="publisher")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


@dataclass
class _Options:
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
    ctx.obj = _Options(data_dir=data_dir)


def _settings(ctx: typer.Context) -> Settings:
    return Settings(data_dir=ctx.obj.data_dir)


@contextmanager
def _fail_cleanly() -> Iterator[None]:
    """A domain error ends the command with its message and mapped exit status, never a traceback."""
    try:
        yield
    except errors.RegistryError as exc:
        stderr.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(exit_code_for(exc)) from None


@contextmanager
def _open_registry(ctx: typer.Context) -> Iterator[Registry]:
    registry = Registry.open(_settings(ctx))
    try:
        registry.load()
        yield registry
    finally:
        registry.close()


def _emit_json(obj: dict[str, Any]) -> None:
    stdout.out(json.dumps(obj, ensure_ascii=False, default=str), highlight=False)


def _view_json(view: BaseModel) -> dict[str, Any]:
    return view.model_dump(mode="json")


# --- publisher --------------------------------------------------------------------------------------------------


@publisher_app.command("create")
def publisher_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the organisation's public name")],
    key_out: Annotated[Path, typer.Option("--key-out", help="file to write the new private key to (mode 0600)")],
    expires_in_days: Annotated[int, typer.Option(min=1, help="days until the verification lapses")] = 365,
    method: Annotated[str, typer.Option(help="how the operator verified the organisation")] = "local-operator",
    evidence: Annotated[str, typer.Option(help="what was checked, for auditors")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Create and verify a publisher; write its private key to KEY_OUT and print the publisher id."""
    with _fail_cleanly():
        key = generate_private_key()
        save_private_key(key_out, key)  # first: a publisher whose key was never written would be unusable
        try:
            with _open_registry(ctx) as registry, registry.session() as session:
                created = service.create_publisher(
                    session=session,
                    name=name,
                    public_key=raw_public_key(key),
                    verification=service.Verification(
                        method=method,
                        evidence=evidence,
                        verified_by="provreg CLI (local operator)",
                        expires_at=datetime.now(UTC) + timedelta(days=expires_in_days),
                    ),
                )
        except BaseException:
            key_out.unlink(missing_ok=True)
            raise
    if as_json:
        _emit_json({**_view_json(created), "key_file": str(key_out)})
        return
    stdout.out(created.id)
    stderr.print(
        f"Created publisher [bold]{created.name}[/bold], verified until {created.verification.expires_at:%Y-%m-%d}."
    )
    stderr.print(f"Private key: {key_out} (keep it secret; the registry never sees it)")
    stderr.print(f"API key for the HTTP API (shown only now): {created.api_key}", highlight=False)


# --- batch helpers ----------------------------------------------------------------------------------------------


def _expand(paths: list[Path]) -> list[Path]:
    """Files as named, plus media files found recursively under directories, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES and not p.name.startswith(".")
                )
            )
        else:
            found.append(path)
    return found


def _run_batch(files: list[Path], work: Callable[[Path], dict[str, Any]], *, as_json: bool, label: str) -> int:
    """Run `work` per file; a failing file is reported with its reason and never stops the others."""
    failures = 0
    show_progress = len(files) > 1 and not as_json and stderr.is_terminal
    progress = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True
    )
    with progress if show_progress else _nothing():
        task = progress.add_task(label, total=len(files)) if show_progress else None
        for path in files:
            try:
                result = {"file": str(path), **work(path)}
            except errors.RegistryError as exc:
                failures += 1
                result = {"file": str(path), "error": {"code": exc.code, "message": exc.message}}
            except OSError as exc:
                failures += 1
                result = {"file": str(path), "error": {"code": "unreadable", "message": exc.strerror or str(exc)}}
            if as_json:
                _emit_json(result)
            else:
                _print_result(result)
            if task is not None:
                progress.advance(task)
    if failures and not as_json:
        stderr.print(f"[red]{failures} of {len(files)} file(s) failed[/red]")
    return EXIT_BATCH_FAILURES if failures else 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _print_result(result: dict[str, Any]) -> None:
    name = result["file"]
    if "error" in result:
        stderr.print(f"[red]✗[/red] {name}: {result['error']['message']}", highlight=False)
    elif "verdict" in result:
        matches = result["matches"]
        if not matches:
            stdout.print(f"[yellow]unregistered[/yellow]  {name}", highlight=False)
        for match in matches[:1]:
            verified = "verified" if match["verified"] else "NOT verified"
            stdout.print(
                f"[green]{result['verdict']}[/green]  {name} -> {match['registration_id']} "
                f"({match['publisher']}, {verified}; distance {match['distance']}, {match['variant']})",
                highlight=False,
            )
        for warning in result["warnings"]:
            stderr.print(f"  [yellow]warning:[/yellow] {warning}", highlight=False)
    else:
        note = " (already registered)" if result.get("already_registered") else ""
        stdout.print(f"[green]✓[/green] {name} -> {result['registration_id']}{note}", highlight=False)


# --- register / check / lookup ----------------------------------------------------------------------------------


@app.command()
def register(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="image files or directories (searched recursively)")],
    key: Annotated[Path, typer.Option("--key", help="the publisher's private key file")],
    title: Annotated[str | None, typer.Option(help="metadata title for every file")] = None,
    source_url: Annotated[str | None, typer.Option(help="metadata source_url for every file")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per file on stdout")] = False,
) -> None:
    """Sign and register originals with the publisher's key."""
    with _fail_cleanly():
        private_key = load_private_key(key)
        files = _expand(paths)
        with _open_registry(ctx) as registry:
            with registry.session() as session:
                publisher = service.publisher_for_key(session=session, public_key=raw_public_key(private_key))
                publisher_id = publisher.id
            metadata = {k: v for k, v in (("title", title), ("source_url", source_url)) if v is not None}

            def register_one(path: Path) -> dict[str, Any]:
                content = path.read_bytes()
                sha256 = hashlib.sha256(content).hexdigest()
                media_type = sniff_media_type(content)
                if media_type is None:
                    raise errors.UnsupportedMedia("not a supported image (JPEG, PNG, WebP, AVIF or HEIC)")
                statement = {
                    "type": "registration",
                    "publisher_id": publisher_id,
                    "key_id": hashlib.sha256(raw_public_key(private_key)).hexdigest(),
                    "content": {"sha256": sha256, "media_type": media_type, "size": len(content)},
                    "metadata": metadata,
                    "created_at": format_timestamp(datetime.now(UTC)),
                    "nonce": new_nonce(),
                }
                signature = sign(private_key, REGISTRATION_DOMAIN, statement)
                with registry.session() as session:
                    try:
                        registration = service.register(
                            session=session,
                            registry=registry,
                            statement=json.dumps(statement),
                            signature=signature,
                            content=content,
                        )
                    except errors.AlreadyRegistered as exc:
                        return {
                            "registration_id": exc.details["registration_id"],
                            "sha256": sha256,
                            "already_registered": True,
                        }
                return {"registration_id": registration.id, "sha256": sha256}

            code = _run_batch(files, register_one, as_json=as_json, label="registering")
    raise typer.Exit(code)


@app.command()
def check(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="image files or directories (searched recursively)")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per file on stdout")] = False,
) -> None:
    """Is each file a copy of a registered original?"""
    with _fail_cleanly(), _open_registry(ctx) as registry:

        def check_one(path: Path) -> dict[str, Any]:
            with registry.session() as session:
                return _view_json(service.check(session=session, registry=registry, content=path.read_bytes()))

        code = _run_batch(_expand(paths), check_one, as_json=as_json, label="checking")
    raise typer.Exit(code)


@app.command()
def lookup(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(metavar="HEX", help="the hash value")],
    alg: Annotated[str, typer.Option("--alg", help=f"one of {', '.join(service.LOOKUP_ALGORITHMS)}")],
    max_distance: Annotated[int | None, typer.Option(help="default: the algorithm's match threshold")] = None,
    limit: Annotated[int, typer.Option(min=1, max=service.MAX_LOOKUP_RESULTS)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Registrations whose ALG hash is within MAX_DISTANCE of HEX."""
    with _fail_cleanly(), _open_registry(ctx) as registry, registry.session() as session:
        result = service.lookup(
            session=session, registry=registry, alg=alg, value=value, max_distance=max_distance, limit=limit
        )
    if as_json:
        _emit_json(_view_json(result))
        return
    if not result.matches:
        stdout.print(f"no registration within {result.max_distance} of that {alg} value")
    for match in result.matches:
        stdout.print(
            f"{match.registration_id}  distance {match.distance}  {match.publisher}"
            f"{'' if match.verified else ' (NOT verified)'}  {match.media_type}  {match.created_at:%Y-%m-%d %H:%M}Z",
            highlight=False,
        )


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings(ctx)
    with _fail_cleanly():
        application = create_app(settings)
    if settings.admin_token is None:
        stderr.print(f"Development mode: the admin token is in {settings.data_dir / 'admin-token'}", highlight=False)
    uvicorn.run(application, host=host, port=port, log_level="info")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
