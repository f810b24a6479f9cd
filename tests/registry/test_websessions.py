"""Desk sessions in the database: how long one holds, how many a publisher keeps, and the operator's revocation of
API keys from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import PublisherHandle, make_publisher
from typer.testing import CliRunner

from api.cli import app
from registry import publishers, websessions
from registry.runtime import Registry
from registry.settings import Settings

HOURS_8 = timedelta(hours=8)


def _start(registry: Registry, handle: PublisherHandle, now: datetime) -> str:
    with registry.session() as session:
        key = publishers.authenticated_key(session=session, api_key=handle.api_key)
        return websessions.start(session=session, key=key, lifetime=HOURS_8, now=now)


def _holder(registry: Registry, token: str, now: datetime) -> str | None:
    with registry.session() as session:
        found = websessions.resolve(session=session, token=token, now=now)
        return None if found is None else found.id


def test_a_session_ends_with_its_lifetime_or_the_verification_it_was_opened_under(registry: Registry) -> None:
    now = datetime.now(UTC)
    lasting = make_publisher(registry, "Long Verified", expires_at=now + timedelta(days=30))
    lapsing = make_publisher(registry, "Lapsing Soon", expires_at=now + timedelta(hours=1))
    token = _start(registry, lasting, now)
    assert _holder(registry, token, now + HOURS_8 - timedelta(seconds=1)) == lasting.id
    assert _holder(registry, token, now + HOURS_8) is None
    token = _start(registry, lapsing, now)
    assert _holder(registry, token, now + timedelta(minutes=59)) == lapsing.id
    assert _holder(registry, token, now + timedelta(hours=1)) is None
    # Lapsed already: signing in still works (to see and withdraw registrations), for the usual lifetime.
    later = now + timedelta(hours=2)
    assert _holder(registry, _start(registry, lapsing, later), later + timedelta(hours=7)) == lapsing.id
    assert _holder(registry, "", now) is None and _holder(registry, "x" * 500, now) is None


def test_a_publisher_holds_a_bounded_number_of_sessions_and_expired_ones_are_swept(registry: Registry) -> None:
    handle = make_publisher(registry, "Busy Desk")
    now = datetime.now(UTC)
    tokens = [_start(registry, handle, now + timedelta(seconds=i)) for i in range(websessions.MAX_PER_PUBLISHER + 2)]
    probe = now + timedelta(minutes=1)
    held = [token for token in tokens if _holder(registry, token, probe)]
    assert held == tokens[2:]  # the two oldest ended
    _start(registry, handle, now + HOURS_8 + timedelta(minutes=5))  # all the others have expired by then
    with registry.session() as session:
        assert websessions.end_for_publisher(session, handle.id) == 1


def test_the_operator_revokes_api_keys_from_the_command_line(settings: Settings, registry: Registry) -> None:
    handle = make_publisher(registry, "Daily Planet")
    token = _start(registry, handle, datetime.now(UTC))
    runner = CliRunner()
    base = ["--data-dir", str(settings.data_dir), "publisher", "revoke-api-keys", handle.id]
    done = runner.invoke(app, [*base, "--json"])
    assert done.exit_code == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["revoked"] == 1 and answer["sessions_ended"] == 1 and answer["api_key"].startswith("prk_")
    assert _holder(registry, token, datetime.now(UTC)) is None
    with registry.session() as session:
        assert publishers.authenticate(session=session, api_key=answer["api_key"]).id == handle.id
    plain = runner.invoke(app, [*base, "--no-replace"])
    assert plain.exit_code == 0 and plain.stdout == "" and "1 API keys revoked" in plain.stderr
