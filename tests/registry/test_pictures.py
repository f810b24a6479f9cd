"""The kept-files store: bounded in bytes per client and in all, the oldest going first, expired files swept."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry.errors import NotFound
from registry.pictures import TALLY, PictureStore, Quota, kept_for


def _store(tmp_path: Path, suffix: str = ".png", *, total: int = 1000, client: int = 600) -> PictureStore:
    return PictureStore(tmp_path / "kept", ttl_seconds=600, suffix=suffix, quota=Quota(total, client))


def _age(store: PictureStore, picture_id: str, seconds: float) -> None:
    """Make a kept file look `seconds` older than it is (oldest-first is by modification time)."""
    path = store.directory / f"{picture_id}{store.suffix}"
    when = path.stat().st_mtime - seconds
    os.utime(path, (when, when))


def _keep(store: PictureStore, owner: str, size: int, age: float = 0) -> str:
    with kept_for(owner):
        picture_id, _ = store.keep(bytes(size))
    _age(store, picture_id, age)
    return picture_id


def _held(store: PictureStore, ids: list[str]) -> list[bool]:
    held = []
    for picture_id in ids:
        try:
            store.get(picture_id)
            held.append(True)
        except NotFound:
            held.append(False)
    return held


def test_a_client_beyond_its_cap_loses_its_own_oldest_first(tmp_path: Path) -> None:
    store = _store(tmp_path)
    alice = [_keep(store, "alice", 200, age=100 - i) for i in range(3)]  # 600: at her cap
    bob = _keep(store, "bob", 300, age=200)  # older than all of hers
    newest = _keep(store, "alice", 250)
    assert _held(store, alice) == [False, False, True] and _held(store, [bob, newest]) == [True, True]


def test_beyond_the_total_everyones_oldest_goes_first(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ids = [_keep(store, owner, 300, age=100 - i) for i, owner in enumerate(("alice", "bob", "carol"))]
    ids.append(_keep(store, "dave", 300))
    assert _held(store, ids) == [False, True, True, True]
    assert sum(store.usage().bytes.values()) == 900


def test_a_file_larger_than_a_cap_is_not_kept_and_answers_as_expired(tmp_path: Path) -> None:
    store = _store(tmp_path)
    before = TALLY.counts["refused", "picture"]
    kept = _keep(store, "alice", 100)
    assert not store.fits(601)
    with kept_for("alice"):
        huge, _ = store.keep(bytes(601))
    with pytest.raises(NotFound, match="expired"):
        store.get(huge)
    assert _held(store, [kept]) == [True] and TALLY.counts["refused", "picture"] == before + 1


def test_kinds_share_the_caps_and_are_counted_apart(tmp_path: Path) -> None:
    pictures, analyses = _store(tmp_path, ".png"), _store(tmp_path, ".json")
    picture = _keep(pictures, "alice", 400, age=10)
    analysis = _keep(analyses, "alice", 300)  # alice at 700 > 600: her older picture goes
    assert _held(pictures, [picture]) == [False] and _held(analyses, [analysis]) == [True]
    usage = pictures.usage()
    assert usage.bytes == {"picture": 0, "analysis": 300, "query": 0} and usage.files["analysis"] == 1
    with pytest.raises(NotFound):
        pictures.get(analysis)  # each store serves its own kind only


def test_expired_files_are_swept_first(tmp_path: Path) -> None:
    store = _store(tmp_path)
    stale = _keep(store, "alice", 500, age=601)
    fresh = _keep(store, "bob", 500)
    assert not (store.directory / f"{stale}.png").exists() and _held(store, [fresh]) == [True]
    _age(store, fresh, 601)
    store.sweep()
    assert sum(store.usage().files.values()) == 0


def test_concurrent_keepers_never_overshoot_together(tmp_path: Path) -> None:
    """Each keep holds the directory's lock (as another process's would), so the caps hold at every moment."""
    store = _store(tmp_path, total=5000, client=5000)

    def keep(i: int) -> int:
        with kept_for(f"client-{i % 5}"):
            store.keep(bytes(700))
        return sum(store.usage().bytes.values())

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(keep, range(40)))
    assert max(seen) <= 5000 and sum(store.usage().bytes.values()) <= 5000


def test_files_kept_or_removed_by_another_process_are_counted_at_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    mine = _keep(store, "alice", 300)
    assert store.usage().bytes["picture"] == 300
    (store.directory / ("x" * 40 + ".png")).write_bytes(bytes(200))  # another worker's
    assert store.usage().bytes["picture"] == 500
    (store.directory / f"{mine}.png").unlink()  # evicted by another worker
    assert store.usage().bytes["picture"] == 200
