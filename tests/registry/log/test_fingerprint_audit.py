"""The rows that decide verdicts are audited state: fingerprint rows and used nonces are held against the log.

Each tamper below passed every audit before registrations committed to their fingerprint rows; each is now caught
by the full audit, by the incremental one (whether the rows came before or after the last passing audit's mark)
and at start-up, where it also stops writes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audioclips import speech
from conftest import ADMIN_TOKEN, PublisherHandle, encode, make_publisher, photo, photo_bytes
from sqlalchemy import text
from sqlmodel import Session, select
from test_audit import _full, _since_mark, _tamper
from typer.testing import CliRunner
from videoclips import Clip
from videoclips import encode as encode_video

from api.cli import app
from api.client import LocalTransport
from fingerprint import algorithms
from registry import errors, matching, reindex
from registry.log import store as log_store
from registry.log.audit import read_mark
from registry.log.fingerprints import FIELD, FINGERPRINT_KIND, commit_uncommitted, read_commitments
from registry.log.note import sign_note
from registry.models import LogAuditMark, LogEntry, Registration
from registry.runtime import Registry
from registry.settings import Settings

CLIP = Clip(duration=4.0, width=160, height=90)


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, admin_token=ADMIN_TOKEN, database_url=None)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A data directory whose audit mark covers two newsrooms only; then their photos and a video with sound.

    Built once: each test tampers with its own copy.
    """
    data_dir = tmp_path_factory.mktemp("fingerprints") / "data"
    registry = Registry.open(_settings(data_dir))
    registry.load()
    planet, bugle = make_publisher(registry, "Daily Planet"), make_publisher(registry, "Daily Bugle")
    assert registry.audit_log(full=False).ok
    ids = {name: _register(registry, planet, photo_bytes(name)) for name in ("rocket", "coffee")}
    ids["astronaut"] = _register(registry, bugle, photo_bytes("astronaut"))
    ids["video"] = _register(registry, planet, encode_video(CLIP, speech(CLIP.duration, seed=3)))
    registry.close()
    return data_dir, ids


def _register(registry: Registry, publisher: PublisherHandle, content: bytes) -> str:
    return publisher.client(LocalTransport(registry)).register(content, {"title": "original"}).id


@pytest.fixture
def copy(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[tuple[Registry, dict[str, str]]]:
    data_dir, ids = template
    shutil.copytree(data_dir, tmp_path / "data")
    registry = Registry.open(_settings(tmp_path / "data"))
    registry.load(audit_log=False)  # the mark stays where the template left it
    yield registry, ids
    registry.close()


_SWAP_OWNERS = (
    "UPDATE {table} SET registration_id = CASE registration_id WHEN {a} THEN 'swapping' ELSE {a} END "
    "WHERE registration_id IN ({a}, {b}){where}; "
    "UPDATE {table} SET registration_id = {b} WHERE registration_id = 'swapping'"
)

# Each of these passed `provreg audit` before registrations committed to their rows.
TAMPERS = {
    # The issue's attack: the two newsrooms' PDQ rows change owners.
    "pdq rows swapped between newsrooms": _SWAP_OWNERS.format(
        table="media_hash", a="{rocket}", b="{astronaut}", where=" AND alg = 'pdq'"
    ),
    "hash rows deleted": "DELETE FROM media_hash WHERE registration_id = {rocket}",
    "hash row forged": "INSERT INTO media_hash (registration_id, alg, variant, value, quality) "
    "SELECT {coffee}, alg, 'crop90', value, quality FROM media_hash "
    "WHERE registration_id = {astronaut} AND alg = 'pdq' AND variant = 'canonical'",
    "hash value changed": "UPDATE media_hash SET value = zeroblob(length(value)) "
    "WHERE registration_id = {coffee} AND alg = 'phash'",
    "hash quality changed": "UPDATE media_hash SET quality = 0 WHERE registration_id = {rocket}",
    "hash rows renumbered": "UPDATE media_hash SET id = id + 100000 WHERE registration_id = {rocket}",
    "local features deleted": "DELETE FROM local_features WHERE registration_id = {rocket}",
    "local features swapped": _SWAP_OWNERS.format(table="local_features", a="{rocket}", b="{astronaut}", where=""),
    "local features forged": "INSERT INTO local_features (registration_id, data) "
    "SELECT {video}, data FROM local_features WHERE registration_id = {astronaut}",
    "video frame track deleted": "DELETE FROM video_track WHERE registration_id = {video}",
    "sound fingerprint erased": "UPDATE video_track SET audio = NULL WHERE registration_id = {video}",
    "original's measured size changed": "UPDATE registration SET facts = "
    '\'{{"height": 90, "trim_box": [0, 0, 160, 90], "width": 160}}\' WHERE id = {rocket}',
    "used nonce deleted": "DELETE FROM used_nonce WHERE rowid = (SELECT max(rowid) FROM used_nonce)",
    "used nonce changed": "UPDATE used_nonce SET nonce = 'x' || nonce "
    "WHERE rowid = (SELECT min(rowid) FROM used_nonce)",
    # SQLite keeps a blob in a text column, and a blob never equals the text a replay's nonce is looked up by.
    "used nonce made a blob": "UPDATE used_nonce SET nonce = CAST(nonce AS BLOB) "
    "WHERE rowid = (SELECT min(rowid) FROM used_nonce)",
    "used nonce forged": "INSERT INTO used_nonce (publisher_id, nonce) "
    "SELECT publisher_id, 'forged-nonce-0123456789' FROM used_nonce LIMIT 1",
}


@pytest.mark.slow
@pytest.mark.parametrize("tamper", TAMPERS)
@pytest.mark.parametrize("marked", [False, True], ids=["rows after the mark", "rows below the mark"])
def test_fingerprint_and_nonce_tampering_is_caught(
    copy: tuple[Registry, dict[str, str]], tamper: str, marked: bool
) -> None:
    registry, ids = copy
    if marked:
        assert registry.audit_log(full=False).ok  # the mark now covers every registration
    assert _full(registry).ok and _since_mark(registry).ok
    _tamper(registry, TAMPERS[tamper], ids)
    full, incremental = _full(registry), _since_mark(registry)
    assert not full.ok and full.problems
    assert not incremental.ok and incremental.start > 0

    restarted = Registry.open(registry.settings)
    restarted.load()
    assert restarted.log_problem
    with pytest.raises(errors.LogTampered, match="refuses writes"):
        restarted.require_writable()
    restarted.close()


@pytest.mark.slow
def test_a_value_of_a_type_no_column_holds_is_reported_not_a_crash(copy: tuple[Registry, dict[str, str]]) -> None:
    """SQLite stores what it is given: a fraction in an integer column is a difference, not an audit that stops."""
    registry, ids = copy
    assert registry.audit_log(full=False).ok
    _tamper(registry, "UPDATE media_hash SET quality = quality - 0.5 WHERE registration_id = {rocket}", ids)
    assert f"media_hash rows of {ids['rocket']} differ" in " ".join(_full(registry).problems)
    assert "media_hash rows the last audit passed" in " ".join(_since_mark(registry).problems)


def test_the_issues_attack_is_named(copy: tuple[Registry, dict[str, str]]) -> None:
    """Swapped PDQ rows make one newsroom's photo a derivative of the other's original; the audit names both."""
    registry, ids = copy
    _tamper(registry, TAMPERS["pdq rows swapped between newsrooms"], ids)
    restarted = Registry.open(registry.settings)
    restarted.load(audit_log=False)  # as before: the audit said nothing, and the index reads the rows
    with restarted.session() as session:  # what the attack buys: the Bugle's photo, recompressed, is the Planet's
        view = matching.check(session=session, registry=restarted, content=encode(photo("astronaut"), quality=70))
    restarted.close()
    # the Planet's original is named a derivative source at distance 0 (the image analysis, which reads pixels,
    # still sees the difference and calls it altered rather than a copy)
    named = {m.registration_id: m for m in view.matches if m.verdict in ("copy", "altered")}
    assert ids["rocket"] in named and named[ids["rocket"]].distance == 0
    problems = " | ".join(_full(registry).problems)
    assert f"media_hash rows of {ids['rocket']}" in problems and f"media_hash rows of {ids['astronaut']}" in problems


def test_provreg_audit_no_longer_says_ok(copy: tuple[Registry, dict[str, str]]) -> None:
    registry, ids = copy
    data_dir = str(registry.settings.data_dir)
    clean = CliRunner().invoke(app, ["--data-dir", data_dir, "audit", "--json"])
    assert clean.exit_code == 0, clean.stderr
    assert json.loads(clean.stdout)["fingerprinted"] == len(ids)
    _tamper(registry, TAMPERS["used nonce deleted"], ids)
    tampered = CliRunner().invoke(app, ["--data-dir", data_dir, "audit"])
    assert tampered.exit_code == 10 and "has no used_nonce row" in tampered.stderr


def test_a_registration_entry_commits_to_its_rows(copy: tuple[Registry, dict[str, str]]) -> None:
    registry, ids = copy
    with registry.session() as session:
        stored = read_commitments(session, ids.values())
        entries = {name: log_store.entry(session, _log_index(session, ids[name])) for name in ids}
    for name, entry in entries.items():
        assert entry[FIELD] == stored[ids[name]]
    assert set(entries["rocket"][FIELD]) == {"media_hash", "local_features", "registration"}
    assert set(entries["video"][FIELD]) == {"media_hash", "video_track", "registration"}
    assert entries["rocket"][FIELD]["media_hash"]["rows"] == 6


def _log_index(session: Session, registration_id: str) -> int:
    registration = session.get(Registration, registration_id)
    assert registration is not None
    return registration.log_index


_PLUG_IN = """
import imagehash

from fingerprint.algorithms._imagehash import imagehash_value
from fingerprint.algorithms.base import HashAlgorithm


class Later(HashAlgorithm):
    name = "later"
    bits = 64

    def compute(self, pixels):
        return imagehash_value(imagehash.average_hash, pixels)


ALGORITHM = Later()
"""


@pytest.fixture
def later_algorithm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An algorithm added after the registrations: `provreg reindex` has rows to add."""
    (tmp_path / "later.py").write_text(_PLUG_IN)
    monkeypatch.setattr(algorithms, "__path__", [*algorithms.__path__, str(tmp_path)])
    algorithms.discover()
    yield
    monkeypatch.undo()
    algorithms.discover()


def test_rows_reindex_adds_are_committed_and_audited(
    copy: tuple[Registry, dict[str, str]], later_algorithm: None
) -> None:
    registry, ids = copy
    assert registry.audit_log(full=False).ok  # the mark covers the registrations, not what reindex adds
    with registry.session() as session:
        added = reindex.reindex(session=session, registry=registry, algorithms=["later"])
    assert added.hashes_added == 3  # the photos; the video has no such hash
    with registry.session() as session:
        logged = session.exec(select(LogEntry.entry).where(LogEntry.kind == FINGERPRINT_KIND)).all()
    assert sorted(json.loads(text)["registration_id"] for text in logged) == sorted(
        ids[name] for name in ("rocket", "coffee", "astronaut")
    )
    assert all(json.loads(text)["reason"] == "reindex" for text in logged)
    assert _full(registry).ok and _since_mark(registry).ok

    _tamper(registry, "DELETE FROM media_hash WHERE alg = 'later' AND registration_id = {coffee}", ids)
    assert f"media_hash rows of {ids['coffee']} differ" in " ".join(_full(registry).problems)
    assert f"media_hash rows of {ids['coffee']} differ" in " ".join(_since_mark(registry).problems)


def _as_before_commitments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Log registrations as the releases before fingerprint commitments did: without `fingerprint_rows`."""
    append = log_store.append

    def without(session: Session, events: list[log_store.Event], now: datetime) -> list[dict[str, object]]:
        bare = [log_store.Event(e.kind, e.subject, {k: v for k, v in e.body.items() if k != FIELD}) for e in events]
        return append(session, bare, now)

    monkeypatch.setattr(log_store, "append", without)


def _v1_mark(registry: Registry) -> None:
    """The mark those releases signed: no fingerprint pins."""
    with registry.session() as session:
        mark = read_mark(session, registry.keyring)
        assert mark is not None
        text = mark.to_text().replace("provreg audit mark v2", "provreg audit mark v1").rsplit("\n", 2)[0] + "\n"
        session.merge(LogAuditMark(id=1, note=sign_note(text, registry.keyring.signers)))
        session.commit()


@pytest.mark.slow
@pytest.mark.parametrize("mark", ["v1 mark", "v2 mark"])
def test_an_earlier_data_directory_has_its_rows_committed_once(
    settings: Settings, registry: Registry, publisher: PublisherHandle, monkeypatch: pytest.MonkeyPatch, mark: str
) -> None:
    """Registrations logged without a commitment (by an earlier release, or by a worker not yet upgraded) pass
    their first audit, which commits their rows as they are; from then on they are audited like any other."""
    assert registry.audit_log(full=False).ok  # the publisher
    with monkeypatch.context() as patch:
        _as_before_commitments(patch)
        old = [_register(registry, publisher, photo_bytes(name)) for name in ("rocket", "coffee")]
    if mark == "v1 mark":
        _v1_mark(registry)
    registry.close()

    restarted = Registry.open(settings)
    restarted.load()  # the first start of the new release
    assert restarted.log_problem is None
    with restarted.session() as session:
        backfill = [
            json.loads(text)
            for text in session.exec(select(LogEntry.entry).where(LogEntry.kind == FINGERPRINT_KIND)).all()
        ]
        assert [entry["registration_id"] for entry in backfill] == old
        assert all(entry["reason"] == "backfill" for entry in backfill)
        stored = read_commitments(session, old)
        assert [entry[FIELD] for entry in backfill] == [stored[registration_id] for registration_id in old]
    again = restarted.audit_log(full=False)  # full once more: the mark counted them as uncommitted
    assert again.ok and again.full and again.uncommitted == [] and again.backfilled == 0
    assert restarted.audit_log(full=False).start == again.size  # incremental from now on
    assert _register(restarted, publisher, photo_bytes("astronaut"))  # writes go on

    _tamper(restarted, "DELETE FROM local_features WHERE registration_id = {rocket}", {"rocket": old[0]})
    assert not _full(restarted).ok and not _since_mark(restarted).ok
    restarted.close()


def test_committing_earlier_rows_twice_commits_them_once(
    registry: Registry, publisher: PublisherHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes starting at once both find the same uncommitted registrations: the second skips them."""
    with monkeypatch.context() as patch:
        _as_before_commitments(patch)
        old = _register(registry, publisher, photo_bytes("rocket"))
    now = datetime.now(UTC)
    with registry.session() as session:
        assert commit_uncommitted(session, registry.keyring, [old], now) == 1
        assert commit_uncommitted(session, registry.keyring, [old], now) == 0
    assert _full(registry).ok


@pytest.mark.backends
def test_registration_and_reindex_audit_clean_and_a_swap_is_caught(
    registry: Registry, publisher: PublisherHandle, later_algorithm: None
) -> None:
    """On SQLite and PostgreSQL: the ids a flush assigns are the ids the entry commits to."""
    assert registry.audit_log(full=False).ok
    ids = {name: _register(registry, publisher, photo_bytes(name)) for name in ("rocket", "coffee")}
    with registry.session() as session:
        reindex.reindex(session=session, registry=registry, algorithms=["later"])
    assert _full(registry).ok and _since_mark(registry).ok
    assert registry.audit_log(full=False).ok
    with registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE media_hash SET value = :value WHERE registration_id = :id AND alg = 'pdq'"),
            {"value": bytes(32), "id": ids["coffee"]},
        )
    assert not _full(registry).ok and not _since_mark(registry).ok
