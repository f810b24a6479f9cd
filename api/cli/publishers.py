"""Publisher commands: create, verify, revoke lost keys and API keys (operator), rotate and revoke keys (publisher)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import (
    JsonOption,
    emit_json,
    fail_cleanly,
    local_client,
    open_registry,
    publisher_app,
    stderr,
    stdout,
    view_json,
)

if TYPE_CHECKING:
    from registry.publishers import Verification

ExpiresOption = Annotated[int, typer.Option(min=1, help="days until the verification lapses")]


@publisher_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the organisation's public name")],
    key_out: Annotated[Path, typer.Option("--key-out", help="file to write the new private key to (mode 0600)")],
    expires_in_days: ExpiresOption = 365,
    method: Annotated[str, typer.Option(help="how the operator verified the organisation")] = "local-operator",
    evidence: Annotated[str, typer.Option(help="what was checked, for auditors")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create and verify a publisher; write its private key to KEY_OUT and print the publisher id.

    Creates the data directory if it does not exist yet.
    """
    from registry import publishers
    from registry.keys import generate_private_key, raw_public_key, save_private_key

    with fail_cleanly():
        key = generate_private_key()
        save_private_key(key_out, key)  # first: a publisher whose key was never written would be unusable
        try:
            with open_registry(ctx, writes=True, create=True) as registry, registry.session() as session:
                created = publishers.create_publisher(
                    session=session,
                    registry=registry,
                    name=name,
                    public_key=raw_public_key(key),
                    verification=_verification(method, evidence, expires_in_days),
                )
        except BaseException:
            key_out.unlink(missing_ok=True)
            raise
    if as_json:
        emit_json({**view_json(created), "key_file": str(key_out)})
        return
    stdout.out(created.id)
    expires = created.verification.expires_at
    stderr.print(f"Created publisher [bold]{created.name}[/bold], verified until {expires:%Y-%m-%d}.")
    stderr.print(f"Private key: {key_out} (keep it secret; the registry never sees it)", highlight=False)
    stderr.print(f"API key for the HTTP API (shown only now): {created.api_key}", highlight=False)


@publisher_app.command("verify")
def verify(
    ctx: typer.Context,
    publisher_id: Annotated[str, typer.Argument(help="the publisher to re-verify")],
    expires_in_days: ExpiresOption = 365,
    method: Annotated[str, typer.Option(help="how the operator verified the organisation")] = "local-operator",
    evidence: Annotated[str, typer.Option(help="what was checked, for auditors")] = "",
    end: Annotated[bool, typer.Option("--end", help="end the verification now instead of renewing it")] = False,
    as_json: JsonOption = False,
) -> None:
    """Renew (or, with --end, withdraw) a publisher's verification. Logged."""
    from registry import publishers

    with fail_cleanly(), open_registry(ctx, writes=True) as registry, registry.session() as session:
        verification = _verification(method, evidence, expires_in_days)
        if end:
            verification = publishers.Verification(method, evidence, verification.verified_by, datetime.now(UTC))
        view = publishers.set_verification(
            session=session, registry=registry, publisher_id=publisher_id, verification=verification
        )
    if as_json:
        emit_json(view_json(view))
    else:
        state = "verified" if view.verified else "NOT verified"
        stdout.print(f"{view.id} ({view.name}) is {state} until {view.verification.expires_at:%Y-%m-%d %H:%M}Z")


@publisher_app.command("rotate-key")
def rotate_key(
    ctx: typer.Context,
    key: Annotated[Path, typer.Option("--key", help="the current private key file")],
    new_key_out: Annotated[Path, typer.Option("--new-key-out", help="file to write the new private key to")],
    as_json: JsonOption = False,
) -> None:
    """Make a new key current; both keys sign the rotation. The old key file can then be archived."""
    from registry.keys import generate_private_key, load_private_key, save_private_key

    with fail_cleanly():
        old_key = load_private_key(key)
        new_key = generate_private_key()
        save_private_key(new_key_out, new_key)
        try:
            with open_registry(ctx, writes=True) as registry:
                view = local_client(registry, old_key).rotate_key(new_key)
        except BaseException:
            new_key_out.unlink(missing_ok=True)
            raise
    if as_json:
        emit_json({**view_json(view), "key_file": str(new_key_out)})
    else:
        stdout.print(f"{view.id}: the current key is now {view.key_id} ({new_key_out})", highlight=False)


@publisher_app.command("revoke-key")
def revoke_key(
    ctx: typer.Context,
    revoked_key_id: Annotated[str, typer.Argument(help="the (retired) key to report compromised")],
    key: Annotated[Path, typer.Option("--key", help="the current private key file")],
    compromised_since: Annotated[str, typer.Option(help="RFC 3339 UTC time, e.g. 2026-01-31T12:00:00Z")],
    as_json: JsonOption = False,
) -> None:
    """Report a retired key compromised since a moment: what it signed from then on is flagged."""
    from registry.keys import load_private_key

    with fail_cleanly():
        current = load_private_key(key)
        since = _timestamp(compromised_since)
        with open_registry(ctx, writes=True) as registry:
            view = local_client(registry, current).revoke_key(revoked_key_id, since)
    if as_json:
        emit_json(view_json(view))
    else:
        stdout.print(f"key {view.key_id} revoked, compromised since {since} (log entry {view.log_index})")


@publisher_app.command("revoke-lost-key")
def revoke_lost_key(
    ctx: typer.Context,
    publisher_id: Annotated[str, typer.Argument(help="the publisher that lost the key")],
    revoked_key_id: Annotated[str, typer.Argument(help="the lost key")],
    compromised_since: Annotated[str, typer.Option(help="RFC 3339 UTC time, e.g. 2026-01-31T12:00:00Z")],
    reason: Annotated[str, typer.Option(help="why, for auditors")],
    new_key_out: Annotated[
        Path | None,
        typer.Option(
            "--new-key-out", help="file for the replacement private key (needed when the lost key is current)"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Operator: revoke a key the publisher lost; a lost current key is replaced by a new one. Logged."""
    from registry import publishers
    from registry.keys import generate_private_key, raw_public_key, save_private_key

    with fail_cleanly():
        since = _timestamp(compromised_since)
        new_key = None
        if new_key_out is not None:
            new_key = generate_private_key()
            save_private_key(new_key_out, new_key)
        try:
            with open_registry(ctx, writes=True) as registry, registry.session() as session:
                view = publishers.revoke_lost_key(
                    session=session,
                    registry=registry,
                    publisher_id=publisher_id,
                    revoked_key_id=revoked_key_id,
                    compromised_since=since,
                    reason=reason,
                    revoked_by="provreg CLI (local operator)",
                    new_public_key=None if new_key is None else raw_public_key(new_key),
                )
        except BaseException:
            if new_key_out is not None:
                new_key_out.unlink(missing_ok=True)
            raise
    if as_json:
        emit_json({**view_json(view), "key_file": None if new_key_out is None else str(new_key_out)})
        return
    stdout.print(f"key {view.key_id} revoked, compromised since {since} (log entry {view.log_index})")
    if new_key_out is not None:
        stderr.print(f"New current key: {new_key_out} (hand it to the publisher securely)", highlight=False)


@publisher_app.command("revoke-api-keys")
def revoke_api_keys(
    ctx: typer.Context,
    publisher_id: Annotated[str, typer.Argument(help="the publisher whose API keys to revoke")],
    replace: Annotated[
        bool, typer.Option("--replace/--no-replace", help="issue one new API key (printed once)")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Operator: revoke every API key of a publisher and end its web desk sessions at once; print the new key."""
    from registry import publishers

    with fail_cleanly(), open_registry(ctx, writes=True) as registry, registry.session() as session:
        view = publishers.revoke_api_keys(
            session=session, registry=registry, publisher_id=publisher_id, replace=replace
        )
    if as_json:
        emit_json(view_json(view))
        return
    stderr.print(f"{view.publisher_id}: {view.revoked} API keys revoked, {view.sessions_ended} desk sessions ended")
    if view.api_key is not None:
        stderr.print("New API key for the HTTP API (shown only now; hand it over securely):")
        stdout.out(view.api_key)


def _verification(method: str, evidence: str, expires_in_days: int) -> Verification:
    from registry.publishers import Verification

    return Verification(
        method=method,
        evidence=evidence,
        verified_by="provreg CLI (local operator)",
        expires_at=datetime.now(UTC) + timedelta(days=expires_in_days),
    )


def _timestamp(text: str) -> datetime:
    from registry.statements import parse_timestamp

    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
