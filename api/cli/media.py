"""Commands on media: register originals, check queries, hash files, look up hashes, revoke and prove registrations."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import (
    JsonOption,
    app,
    emit_json,
    fail_cleanly,
    local_client,
    open_registry,
    settings,
    stderr,
    stdout,
    view_json,
)

if TYPE_CHECKING:
    from registry.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 5  # `serve`: how long requests may run on after SIGTERM before they are cancelled
PathsArgument = Annotated[
    list[Path],
    typer.Argument(metavar="PATH", help="media files of any kind, or directories (searched recursively)"),
]


def expand(paths: list[Path]) -> list[Path]:
    """Files as named, plus media files found recursively under directories (by every kind's file suffixes,
    `registry.kinds`), in a stable order."""
    from registry.kinds import file_suffixes

    suffixes = file_suffixes()
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
                )
            )
        else:
            found.append(path)
    if not found:
        from registry.errors import InvalidRequest

        listed = ", ".join(sorted(suffixes))
        raise InvalidRequest(f"no image or video files ({listed}) under {', '.join(map(str, paths))}")
    return found


def _stdin_paths() -> Iterator[Path]:
    """Paths from stdin as they arrive (a platform can pipe its ingest into `check --jsonl`); blank lines skipped."""
    for line in sys.stdin:
        if name := line.rstrip("\r\n"):
            yield Path(name)


def run_batch(
    files: Iterable[Path],
    work: Callable[[Path], dict[str, Any]],
    *,
    as_json: bool,
    label: str,
    show: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Run `work` per file; a failing file is reported with its reason and never stops the others.

    `files` may be a stream (stdin): a progress bar is shown only for a list. Returns the batch's exit status
    (`exits.batch_exit_code`).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from api.cli.exits import EXIT_UNREADABLE, UNREADABLE_CODE, batch_exit_code, exit_code_for
    from registry.errors import RegistryError

    failures: list[int] = []
    total = 0
    show_progress = isinstance(files, Sized) and len(files) > 1 and not as_json and stderr.is_terminal
    progress = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True
    )
    with progress if show_progress else nullcontext():
        task = progress.add_task(label, total=len(files)) if isinstance(files, Sized) and show_progress else None
        for path in files:
            total += 1
            try:
                result = {"file": str(path), **work(path)}
            except RegistryError as exc:
                failures.append(exit_code_for(exc))
                result = {"file": str(path), "error": {"code": exc.code, "message": exc.message}}
            except OSError as exc:
                failures.append(EXIT_UNREADABLE)
                result = {"file": str(path), "error": {"code": UNREADABLE_CODE, "message": exc.strerror or str(exc)}}
            if as_json:
                emit_json(result)
                sys.stdout.flush()  # a line per file as it is done, also into a pipe
            elif "error" in result:
                stderr.print(f"[red]✗[/red] {path}: {result['error']['message']}", highlight=False)
            else:
                (show or _print_result)(result)
            if task is not None:
                progress.advance(task)
    if failures and not as_json:
        stderr.print(f"[red]{len(failures)} of {total} file(s) failed[/red]")
    return batch_exit_code(failures, total)


def _print_result(result: dict[str, Any]) -> None:
    name = result["file"]
    if "verdict" in result:
        _print_check(name, result)
    else:
        note = " (already registered)" if result.get("already_registered") else ""
        stdout.print(f"[green]✓[/green] {name} -> {result['registration_id']}{note}", highlight=False)
        for prior in result.get("prior_registrations", [])[:1]:
            stdout.print(f"  {_first_registered(prior)}: this is a later registration of it", highlight=False)


def _first_registered(prior: dict[str, Any]) -> str:
    """'first registered by Daily Planet on 2026-11-03 (reg_..., log entry 3)'."""
    return (
        f"first registered by {prior['publisher']} on {str(prior['created_at'])[:10]} "
        f"({prior['registration_id']}, log entry {prior['log_index']})"
    )


def _print_check(name: str, result: dict[str, Any]) -> None:
    if not result["matches"]:
        stdout.print(f"[yellow]unregistered[/yellow]  {name}", highlight=False)
    for match in result["matches"][:1]:
        flags = ["verified" if match["verified"] else "NOT verified"]
        if match["revoked"] and not result.get("withdrawn"):
            flags.append("REVOKED by its publisher")
        if match["key_compromised"]:
            flags.append("signed with a COMPROMISED key")
        colour = "red" if result["verdict"] == "altered" else "green"
        # a copy of a withdrawn original is still a copy of it, but nobody stands behind it now: that comes first
        said = (
            f"[yellow]withdrawn by its publisher[/yellow] ({result['verdict']}, withdrawn in log entry "
            f"{match['revocation_log_index']})"
            if result.get("withdrawn")
            else f"[{colour}]{result['verdict']}[/{colour}]"
        )
        # a kind without PDQ has no picture distance to quote (its findings are in the match's `facts`)
        measured = f"; distance {match['distance']}, {match['variant']}" if result.get("pdq") is not None else ""
        stdout.print(
            f"{said}  {name} -> {match['registration_id']} ({match['publisher']}, {', '.join(flags)}{measured})",
            highlight=False,
        )
        for prior in match.get("prior_registrations", [])[:1]:
            stdout.print(f"  {_first_registered(prior)}", highlight=False)
        found = match.get("facts") or {}
        for segment in [*match.get("segments", []), *found.get("segments", [])]:
            stdout.print(
                f"  {segment['start']:.2f}-{segment['end']:.2f} s shows the original's "
                f"{segment['original_start']:.2f}-{segment['original_end']:.2f} s (speed x{segment['speed']:.2f})",
                highlight=False,
            )
        for span in [*match.get("spans", []), *found.get("spans", [])]:
            stdout.print(f"  {span['kind']} {span['start']:.2f}-{span['end']:.2f} s", highlight=False)
        for region in match["regions"]:
            stdout.print(
                f"  altered region at x={region['x']} y={region['y']} w={region['w']} h={region['h']} "
                f"({region['share']:.1%} of the picture)",
                highlight=False,
            )
    if result.get("assessment") is not None:
        _print_assessment(result["assessment"])
    for picture in result.get("pictures", []):
        stdout.print(f"  picture: {picture}", highlight=False)
    for warning in result["warnings"]:
        stderr.print(f"  [yellow]warning:[/yellow] {warning}", highlight=False)


def _print_assessment(assessment: dict[str, Any]) -> None:
    colour = {"likely_manipulated": "red", "inconclusive": "yellow"}.get(assessment["verdict"], "green")
    probability = ""
    if assessment["p_manipulated"] is not None:
        low, high = assessment["interval"]
        probability = f", p={assessment['p_manipulated']:.2f} [{low:.2f}-{high:.2f}] ({assessment['model_version']})"
    frames = f" ({assessment['frames']} frames)" if assessment["frames"] > 1 else ""
    stdout.print(
        f"  assessment{frames}: [{colour}]{assessment['verdict']}[/{colour}]{probability}: {assessment['reason']}",
        highlight=False,
    )
    for signal in assessment["signals"]:
        if signal["fired"]:
            stdout.print(f"    {signal['name']}: {signal['reason']}", highlight=False)
    stdout.print(f"    [dim]{assessment['caveat']}[/dim]", highlight=False)


@app.command()
def register(
    ctx: typer.Context,
    paths: PathsArgument,
    key: Annotated[Path, typer.Option("--key", help="the publisher's private key file")],
    title: Annotated[str | None, typer.Option(help="metadata title for every file")] = None,
    source_url: Annotated[str | None, typer.Option(help="metadata source_url for every file")] = None,
    as_json: JsonOption = False,
) -> None:
    """Sign and register originals with the publisher's key; each gets a receipt from the log.

    One file (a long video, say) shows its registration's stages on a progress bar; several show the batch's."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from registry import errors, service
    from registry.keys import load_private_key

    with fail_cleanly():
        private_key = load_private_key(key)
        files = expand(paths)
        stages = Progress(
            TextColumn("registering {task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
            disable=as_json or len(files) != 1,
        )
        with open_registry(ctx, writes=True) as registry, stages:
            client = local_client(registry, private_key)
            metadata = {k: v for k, v in (("title", title), ("source_url", source_url)) if v is not None}

            def register_one(path: Path) -> dict[str, Any]:
                content = path.read_bytes()
                task = stages.add_task(path.name, total=1.0)
                try:
                    registration = client.register(
                        content, metadata, progress=lambda done: stages.update(task, completed=done)
                    )
                except errors.AlreadyRegistered as exc:
                    existing = exc.details["registration_id"]
                    with registry.session() as session:
                        receipt = service.registration_receipt(session=session, registration_id=existing)
                    return {
                        "registration_id": existing,
                        "sha256": hashlib.sha256(content).hexdigest(),
                        "receipt": receipt,
                        "already_registered": True,
                    }
                finally:
                    stages.remove_task(task)
                return {
                    "registration_id": registration.id,
                    "sha256": registration.content.sha256,
                    "receipt": registration.receipt,
                    "prior_registrations": [
                        prior.model_dump(mode="json") for prior in registration.prior_registrations
                    ],
                }

            code = run_batch(files, register_one, as_json=as_json, label="registering")
    raise typer.Exit(code)


@app.command()
def check(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="PATH", help="image files or directories (searched recursively); none with --jsonl"),
    ] = None,
    jsonl: Annotated[
        bool,
        typer.Option("--jsonl", help="read paths from stdin, one per line; print one JSON line per path as it is done"),
    ] = False,
    fast: Annotated[bool, typer.Option("--fast", help="global hashes only: no transform, no altered regions")] = False,
    visualize: Annotated[
        Path | None,
        typer.Option(
            "--visualize",
            metavar="OUT_DIR",
            help="write a PNG per match (original | query aligned | altered regions), or the assessment's heat-map",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Is each file a copy of a registered original, or a doctored version of one (and where was it changed)?"""
    if fast and visualize is not None:
        raise typer.BadParameter("--visualize needs the full analysis; drop --fast")
    if jsonl == bool(paths):
        raise typer.BadParameter("name PATHs, or read them from stdin with --jsonl (not both)")
    from registry import matching

    with fail_cleanly(), open_registry(ctx, writes=False) as registry:

        def check_one(path: Path) -> dict[str, Any]:
            content = path.read_bytes()
            with registry.session() as session:
                if visualize is None:
                    mode: matching.CheckMode = "fast" if fast else "full"
                    return view_json(matching.check(session=session, registry=registry, content=content, mode=mode))
                outcome = matching.run_check(session=session, registry=registry, content=content, pictures="draw")
            visualize.mkdir(parents=True, exist_ok=True)
            written = []
            drawn = list(outcome.pictures.items())
            if outcome.heatmap is not None:
                drawn.append(("heatmap", outcome.heatmap))
            for name, png in drawn:
                target = visualize / f"{path.stem}--{name}.png"
                target.write_bytes(png)
                written.append(str(target))
            return {**view_json(outcome.view), "pictures": written}

        files = _stdin_paths() if jsonl else expand(paths or [])
        code = run_batch(files, check_one, as_json=as_json or jsonl, label="checking")
    raise typer.Exit(code)


@app.command()
def lookup(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(metavar="HEX", help="the hash value")],
    alg: Annotated[str, typer.Option("--alg", help="sha256, or a perceptual algorithm that 'provreg hash' prints")],
    max_distance: Annotated[int | None, typer.Option(help="default: the algorithm's match threshold")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many registrations")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Registrations whose ALG hash is within MAX_DISTANCE of HEX ('provreg hash FILE' prints a file's)."""
    from registry import matching

    with fail_cleanly(), open_registry(ctx, writes=False) as registry, registry.session() as session:
        result = matching.lookup(
            session=session, registry=registry, alg=alg, value=value, max_distance=max_distance, limit=limit
        )
    if as_json:
        emit_json(view_json(result))
        return
    if not result.matches:
        stdout.print(f"no registration within {result.max_distance} of that {alg} value")
    for match in result.matches:
        flags = ("" if match.verified else " (NOT verified)") + (" (REVOKED)" if match.revoked else "")
        stdout.print(
            f"{match.registration_id}  distance {match.distance}  {match.publisher}{flags}  {match.media_type}  "
            f"{match.created_at:%Y-%m-%d %H:%M}Z",
            highlight=False,
        )


@app.command()
def revoke(
    ctx: typer.Context,
    registration_id: Annotated[str, typer.Argument(help="the registration to withdraw")],
    key: Annotated[Path, typer.Option("--key", help="the publisher's current private key file")],
    reason: Annotated[str, typer.Option(help="why, for the public record")] = "",
    as_json: JsonOption = False,
) -> None:
    """Withdraw one of your registrations. It stays in the log; matches then say it was revoked."""
    from registry.keys import load_private_key

    with fail_cleanly():
        private_key = load_private_key(key)
        with open_registry(ctx, writes=True) as registry:
            revocation = local_client(registry, private_key).revoke_registration(registration_id, reason)
    if as_json:
        emit_json(view_json(revocation))
    else:
        stdout.print(f"revoked {registration_id} (log entry {revocation.log_index})")


@app.command()
def receipt(
    ctx: typer.Context, registration_id: Annotated[str, typer.Argument(help="the registration to prove")]
) -> None:
    """Print a fresh receipt (against the latest checkpoint) that anyone can verify offline."""
    from registry import service
    from registry.log.receipts import receipt_json

    with fail_cleanly(), open_registry(ctx, writes=False) as registry, registry.session() as session:
        stdout.out(receipt_json(service.registration_receipt(session=session, registration_id=registration_id)))


@app.command("hash")
def hash_files(
    ctx: typer.Context,
    paths: PathsArgument,
    alg: Annotated[
        str | None, typer.Option("--alg", help="print only this hash, one line per file (for 'provreg lookup')")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print each file's SHA-256 and perceptual hashes, the values 'provreg lookup' searches for. Needs no registry."""
    from registry.matching import lookup_algorithms

    if alg is not None and alg not in lookup_algorithms():
        raise typer.BadParameter(f"--alg must be one of {', '.join(lookup_algorithms())}")
    config = settings(ctx)

    def show(result: dict[str, Any]) -> None:
        if alg is not None:
            # a whole-file hash (videohash) exists for its own kind only: other files have no such value to print
            stdout.out(result["hashes"].get(alg, "-"), highlight=False)
            return
        size = "" if result["width"] is None else f", {result['width']}x{result['height']}"
        stdout.print(f"{result['file']}  ({result['media_type']}{size})", highlight=False)
        for name, value in result["hashes"].items():
            stdout.print(f"  {name:<8}{value}", highlight=False)

    with fail_cleanly():
        files = expand(paths)
        code = run_batch(
            files, lambda path: file_hashes(path.read_bytes(), config), as_json=as_json, label="hashing", show=show
        )
    raise typer.Exit(code)


def file_hashes(content: bytes, config: Settings) -> dict[str, Any]:
    """A file's hashes by the name `lookup --alg` takes, plus what was decoded; no registry involved."""
    from registry import work
    from registry.media import limits

    fp = work.reference_fingerprint(content, limits(config), hashlib.sha256(content).hexdigest(), False)
    hashes = {"sha256": fp.sha256} | {alg: record.value.hex() for alg, record in fp.primary().items()}
    # width and height where the kind has them (pictures, videos), else null
    return {
        "media_type": fp.media_type,
        "width": fp.facts.get("width"),
        "height": fp.facts.get("height"),
        "hashes": hashes,
    }


@app.command()
def reindex(
    ctx: typer.Context,
    alg: Annotated[
        list[str] | None, typer.Option("--alg", help="only this algorithm (repeatable); default: every algorithm")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compute hashes of algorithms added since originals were registered (resumable, safe to rerun)."""
    from rich.progress import Progress

    from registry import reindex as backfill

    with (
        fail_cleanly(),
        open_registry(ctx, writes=True) as registry,
        registry.session() as session,
        Progress(console=stderr, transient=True, disable=as_json) as progress,
    ):
        task = progress.add_task("reindexing", total=None)
        report = backfill.reindex(
            session=session,
            registry=registry,
            algorithms=alg or None,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        emit_json(view_json(report))
    else:
        stdout.print(
            f"{', '.join(report.algorithms)}: {report.hashes_added} hashes added for {report.registrations} "
            f"registrations, {len(report.failed)} failed",
            highlight=False,
        )
        for failure in report.failed:
            stderr.print(f"  {failure.registration_id}: {failure.reason}", highlight=False)
    raise typer.Exit(1 if report.failed else 0)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="server processes on the one port; more than 1 needs PostgreSQL")
    ] = 1,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs)."""
    import os

    from registry.errors import ConfigurationError

    config = settings(ctx)
    with fail_cleanly():
        if workers > 1 and config.sqlalchemy_url.startswith("sqlite"):
            raise ConfigurationError(
                f"--workers {workers} needs PostgreSQL (PROVREG_DATABASE_URL): SQLite lets one process write at a "
                "time, so several workers would only queue on its file lock. Serve with one worker, or move the "
                "registry to PostgreSQL"
            )

    import uvicorn

    from api.app import create_app
    from api.observe import configure_logging
    from registry.heap import return_large_buffers

    configure_logging()
    return_large_buffers()
    with fail_cleanly():
        application = create_app(config)  # also refuses bad settings here, before any worker starts
    if config.admin_token is None:
        stderr.print(f"Development mode: the admin token is in {config.data_dir / 'admin-token'}", highlight=False)
    if workers > 1:
        # Each worker builds its own app from the environment; every one of them reads the same database.
        os.environ["PROVREG_DATA_DIR"] = str(config.data_dir.absolute())
        os.environ["PROVREG_INDEX_BEFORE_SERVING"] = "true"
    # Requests still running a few seconds after SIGTERM are cancelled, which stops their media work too.
    uvicorn.run(
        "api.app:create_app" if workers > 1 else application,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # ours has request ids
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
