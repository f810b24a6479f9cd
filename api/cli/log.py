"""Transparency-log commands: verify a receipt offline, audit the store, manage the registry's signing keys."""

from __future__ import annotations

import base64
import binascii
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import (
    JsonOption,
    app,
    emit_json,
    existing_data_dir,
    fail_cleanly,
    log_key_app,
    open_registry,
    settings,
    stderr,
    stdout,
    view_json,
)

if TYPE_CHECKING:
    from registry.log.keyring import LogKeyring
    from registry.log.note import Verifier


@app.command()
def verify(
    ctx: typer.Context,
    receipt_file: Annotated[Path, typer.Argument(metavar="RECEIPT", help="receipt JSON file, or - for stdin")],
    vkey: Annotated[
        list[str] | None,
        typer.Option("--vkey", help="trusted registry verifier key (repeatable); default: this data directory's"),
    ] = None,
    publisher_key: Annotated[
        str | None, typer.Option(help="pin the publisher's public key (base64 of the raw 32 bytes)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a receipt offline: publisher signature, leaf hash, inclusion proof, checkpoint signature.

    Accepts a bare receipt or any JSON object carrying one under "receipt" (a `register --json` line, the
    API's 201 body).
    """
    from registry.log.receipts import unwrap_receipt, verify_receipt

    with fail_cleanly():
        text = unwrap_receipt(_read(receipt_file))
        verifiers = _verifiers(ctx, vkey)
        pinned = None if publisher_key is None else _public_key(publisher_key)
        result = verify_receipt(text, verifiers, publisher_key=pinned)
    summary = {
        "ok": True,
        "log_index": result.log_index,
        "kind": result.kind,
        "origin": result.checkpoint.origin,
        "checkpoint_size": result.checkpoint.size,
        "publisher_key_id": result.publisher_key_id,
        "publisher_key": result.entry.get("public_key") if result.publisher_key_id else None,
        "registration_id": result.entry.get("registration_id"),
    }
    if as_json:
        emit_json(summary)
        return
    subject = f" {summary['registration_id']}" if summary["registration_id"] else ""
    stdout.print(
        f"OK: {result.kind}{subject} is entry {result.log_index} of log {result.checkpoint.origin}, proven against "
        f"its signed checkpoint of size {result.checkpoint.size}",
        highlight=False,
    )
    if summary["publisher_key"] and publisher_key is None:
        stderr.print(
            f"signed by publisher key {summary['publisher_key']} (key id {result.publisher_key_id}); "
            f"to pin the key you expect, pass --publisher-key {summary['publisher_key']}",
            highlight=False,
        )


def _read(path: Path) -> str:
    """The file's (or stdin's) text, read no further than the largest receipt wrapper there can be."""
    from registry.errors import InvalidRequest, VerificationFailed
    from registry.log.receipts import WRAPPER_LIMITS

    limit = WRAPPER_LIMITS.max_bytes
    try:
        if str(path) == "-":
            raw = sys.stdin.buffer.read(limit + 1)
        else:
            with path.open("rb") as handle:
                raw = handle.read(limit + 1)
        if len(raw) > limit:
            raise VerificationFailed(f"{path} is over {limit:,} bytes: no receipt is that long")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"cannot read {path}: {exc}") from None


def _verifiers(ctx: typer.Context, vkeys: list[str] | None) -> list[Verifier]:
    from registry.errors import InvalidRequest
    from registry.log.keyring import LogKeyring
    from registry.log.note import NoteError, Verifier

    if vkeys:
        try:
            return [Verifier.from_vkey(vkey.strip()) for vkey in vkeys]
        except NoteError as exc:
            raise InvalidRequest(f"--vkey: {exc}") from None
    keys_dir = existing_data_dir(ctx, otherwise="pass the registry's verifier key with --vkey") / "log-keys"
    if not keys_dir.exists():
        raise InvalidRequest("pass the registry's verifier key with --vkey (GET /v1/log/key publishes it)")
    stderr.print(f"using the verifier keys of {keys_dir}", highlight=False)
    return LogKeyring.open(keys_dir, None).verifiers


def _public_key(text: str) -> bytes:
    from registry.errors import InvalidRequest

    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("--publisher-key must be base64") from None
    if len(raw) != 32:
        raise InvalidRequest("--publisher-key must be a raw 32-byte Ed25519 public key")
    return raw


@app.command()
def audit(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full/--incremental",
            help="recheck every entry and row (default), or only what came after the last passing audit",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Recompute the log from its stored entries and hold every node, checkpoint and state row against it.

    Every column that mirrors an entry (kind, subject, registrations, revocations, publishers and their keys)
    is derived again from the hashed entry, and every registration's fingerprint rows and every used nonce are
    held against what the entries commit to. A passing audit signs a mark the start-up audit continues from.
    """
    from api.cli.exits import EXIT_CODES
    from registry import errors, transparency

    with fail_cleanly(), open_registry(ctx, writes=False) as registry:
        report = transparency.audit_log(registry=registry, full=full)
    if as_json:
        emit_json(view_json(report))
    elif report.ok:
        checked = "" if report.start == 0 else f" (entries from {report.start} rechecked)"
        stdout.print(f"OK: {report.size} entries and {report.checkpoints} checkpoints are consistent{checked}")
        if report.start == 0:
            fingerprinted = report.fingerprinted
            stdout.print(f"the fingerprint rows of {fingerprinted} registrations and the used nonces match the log")
        else:
            stdout.print(
                "the fingerprint rows and used nonces match the last audit's mark, and the rows of the "
                f"{report.fingerprinted} registrations committed since match their entries"
            )
        if report.backfilled:
            stdout.print(
                f"committed the fingerprint rows of {report.backfilled} registrations logged before entries "
                "committed to them (once, after upgrading)"
            )
    else:
        for problem in report.problems:
            stderr.print(f"[red]✗[/red] {problem}", highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_CODES[errors.LogTampered])


@log_key_app.command("show")
def show(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Print the registry's verifier keys (vkey form)."""
    from registry import transparency

    with fail_cleanly():
        view = transparency.log_keys(keyring=_keyring(ctx))
    if as_json:
        emit_json(view_json(view))
        return
    for key in view.keys:
        stdout.print(f"{key.vkey}  {'active' if key.active else 'retired'}", highlight=False)


@log_key_app.command("rotate")
def rotate(ctx: typer.Context) -> None:
    """Add a new signing key; old and new both sign until the old one is retired."""
    with fail_cleanly():
        verifier = _keyring(ctx).rotate()
    stdout.print(verifier.vkey(), highlight=False)
    stderr.print("Both keys now sign checkpoints; publish the new key, then 'provreg log-key retire' the old one.")


@log_key_app.command("retire")
def retire(ctx: typer.Context, key: Annotated[str, typer.Argument(help="vkey or hex key id")]) -> None:
    """Stop signing with a key (it stays listed, so old checkpoints still verify)."""
    with fail_cleanly():
        verifier = _keyring(ctx).retire(key)
    stdout.print(f"retired {verifier.vkey()}", highlight=False)


def _keyring(ctx: typer.Context) -> LogKeyring:
    from registry.log.keyring import LogKeyring

    existing_data_dir(ctx)
    config = settings(ctx)
    return LogKeyring.open(config.data_dir / "log-keys", config.log_origin)
