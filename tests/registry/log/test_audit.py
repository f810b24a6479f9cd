"""The audit derives every mirrored column from the hashed leaves, and the start-up audit resumes from its mark."""

from __future__ import annotations

import time

import pytest
from conftest import PublisherHandle, photo_bytes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_transparency import _register, _rotate

from api.client import LocalTransport
from registry import errors, matching
from registry.log.audit import AuditReport, audit, read_mark
from registry.runtime import Registry
from registry.settings import Settings


def _revoke(registry: Registry, publisher: PublisherHandle, key: Ed25519PrivateKey, registration_id: str) -> None:
    publisher.client(LocalTransport(registry), key).revoke_registration(registration_id, "published in error")


@pytest.fixture
def history(registry: Registry, publisher: PublisherHandle) -> str:
    """A log whose start-up mark covers the publisher only; registrations, a revocation and a rotation follow.

    Returns the revoked registration's id.
    """
    assert registry.audit_log(full=False).ok
    revoked = _register(registry, publisher, photo_bytes("rocket")).id
    _register(registry, publisher, photo_bytes("coffee"))
    _revoke(registry, publisher, publisher.private_key, revoked)
    _rotate(registry, publisher, publisher.private_key, Ed25519PrivateKey.generate())
    return revoked


def _tamper(registry: Registry, sql: str, ids: dict[str, str] | None = None) -> None:
    """Run `sql` on the database behind the registry's back; `{name}` in it becomes the quoted id of `ids[name]`."""
    if ids is not None:
        sql = sql.format(**{name: f"'{value}'" for name, value in ids.items()})
    with registry.engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for statement in sql.split("; "):
            connection.exec_driver_sql(statement)


def _full(registry: Registry) -> AuditReport:
    with registry.session() as session:
        return audit(session, registry.keyring)


def _since_mark(registry: Registry) -> AuditReport:
    with registry.session() as session:
        mark = read_mark(session, registry.keyring)
        assert mark is not None and mark.size > 0
        return audit(session, registry.keyring, mark)


# Each of these passed the audit that trusted the denormalised columns.
TAMPERS = {
    # The issue's attack: the revocation disappears and its entry's kind column no longer says so.
    "revocation erased, kind column relabelled": "DELETE FROM content_revocation; "
    "UPDATE log_entry SET kind = 'publisher_verification' WHERE kind = 'content_revocation'",
    "kind column of a rotation entry": "UPDATE log_entry SET kind = 'publisher_verification' "
    "WHERE kind = 'key_rotation'",
    "subject column": "UPDATE log_entry SET subject = 'reg_0000' WHERE kind = 'registration'",
    "revocation reason": "UPDATE content_revocation SET reason = 'never mind'",
    "revocation time": "UPDATE content_revocation SET revoked_at = '2001-01-01 00:00:00.000000'",
    "registration content hash": "UPDATE registration SET content_sha256 = "
    "'0000000000000000000000000000000000000000000000000000000000000000' WHERE log_index = 1",
    "registration media type": "UPDATE registration SET media_type = 'image/png'",
    "publisher key replaced": "UPDATE publisher_key SET public_key = zeroblob(32) WHERE retired_at IS NULL",
    "rotation undone": "UPDATE publisher_key SET retired_at = NULL; "
    "DELETE FROM publisher_key WHERE created_at = (SELECT max(created_at) FROM publisher_key)",
    "publisher renamed": "UPDATE publisher SET name = 'Daily Bugle'",
    "verification extended": "UPDATE publisher SET verification_expires_at = '2999-01-01 00:00:00.000000'",
}


@pytest.mark.parametrize("tamper", TAMPERS)
def test_audits_derive_mirrored_columns_from_the_leaves(
    settings: Settings, registry: Registry, publisher: PublisherHandle, history: str, tamper: str
) -> None:
    assert _full(registry).ok and _since_mark(registry).ok
    _tamper(registry, TAMPERS[tamper])
    full, incremental = _full(registry), _since_mark(registry)
    assert not full.ok and full.problems
    assert not incremental.ok and incremental.start > 0  # the rows were written after the mark

    restarted = Registry.open(settings)
    restarted.load()
    assert restarted.log_problem
    with pytest.raises(errors.LogTampered, match="refuses writes"):
        restarted.require_writable()
    restarted.close()


@pytest.mark.slow
def test_the_issues_attack_is_named_and_the_revocation_is_gone(registry: Registry, history: str) -> None:
    _tamper(registry, TAMPERS["revocation erased, kind column relabelled"])
    with registry.session() as session:
        assert matching.registration_status(session, [history])[history].revocation is None  # what the attack buys
    problems = " | ".join(_full(registry).problems)
    assert "kind and subject columns say publisher_verification" in problems
    assert "(content_revocation) has no matching row" in problems


def test_start_up_catches_a_deleted_row_below_the_mark(settings: Settings, registry: Registry, history: str) -> None:
    assert registry.audit_log(full=False).ok  # the mark now covers the revocation
    _tamper(registry, "DELETE FROM content_revocation")
    report = _since_mark(registry)
    assert report.start == report.size  # nothing new: only the counts below the mark were read
    assert any("content_revocation entries precede the last audit, but 0 rows do" in p for p in report.problems)


def test_start_up_resumes_from_the_mark_and_moves_it(registry: Registry, history: str) -> None:
    with registry.session() as session:
        before = read_mark(session, registry.keyring)
    report = registry.audit_log(full=False)
    assert report.ok and before is not None and report.start == before.size < report.size
    with registry.session() as session:
        after = read_mark(session, registry.keyring)
    assert after is not None and (after.size, after.root) == (report.size, report.root)
    assert after.counts == {
        "publisher_verification": 1,
        "registration": 2,
        "content_revocation": 1,
        "key_rotation": 1,
        "key_revocation": 0,
        "operator_key_revocation": 0,
        "fingerprint_rows": 0,
    }
    assert after.full_audit_at == before.full_audit_at  # only a full audit resets the schedule
    assert registry.audit_log(full=True).start == 0


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE log_audit_mark SET note = replace(note, 'mark v2', 'mark v3')",  # no longer signed
        "UPDATE log_node SET hash = zeroblob(32) WHERE level = 2 AND position = 0",  # in the mark's frontier (5)
        "DELETE FROM log_entry WHERE log_index > 0; DELETE FROM log_node WHERE position > 0; "
        "DELETE FROM log_checkpoint WHERE size > 1",  # the log rolled back to before the mark
    ],
)
def test_start_up_refuses_a_mark_the_store_no_longer_supports(
    settings: Settings, registry: Registry, history: str, tamper: str
) -> None:
    assert registry.audit_log(full=False).ok
    _tamper(registry, tamper)
    restarted = Registry.open(settings)
    restarted.load()
    assert restarted.log_problem
    restarted.close()


def test_a_failed_audit_removes_the_mark(registry: Registry, history: str) -> None:
    assert registry.audit_log(full=False).ok
    _tamper(registry, "UPDATE content_revocation SET reason = 'never mind'")  # below the mark
    assert not registry.audit_log(full=True).ok
    report = registry.audit_log(full=False)  # what the next start-up runs
    assert report.start == 0 and not report.ok


def test_a_missing_mark_means_a_full_audit(registry: Registry, history: str) -> None:
    _tamper(registry, "DELETE FROM log_audit_mark")
    report = registry.audit_log(full=False)
    assert report.ok and report.start == 0


def test_scheduled_full_audit_finds_an_edit_below_the_mark(
    settings: Settings, registry: Registry, history: str
) -> None:
    assert registry.audit_log(full=False).ok  # the mark now covers the revocation
    _tamper(registry, "UPDATE content_revocation SET reason = 'never mind'")
    assert _since_mark(registry).ok  # an edit in place below the mark is for the full audit to find
    registry = Registry.open(settings.model_copy(update={"full_audit_interval_hours": 0.5 / 3600}))
    registry.load_in_background()
    try:
        deadline = time.monotonic() + 60
        while registry.log_problem is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert registry.log_problem and "reason" in registry.log_problem
    finally:
        registry.close()
