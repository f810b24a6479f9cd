"""The check pipeline's seams: the match index, the match policy, reindexing a new algorithm, kept pictures."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import encode, make_publisher, photo, photo_bytes

from fingerprint import algorithms
from fingerprint.algorithms import HashRecord
from fingerprint.kinds.image import fingerprint_image
from registry import matching, reindex, service, views
from registry.errors import ConfigurationError, InvalidRequest, NotFound
from registry.runtime import Registry
from registry.settings import Settings

CAP = 50_000_000


def _check(registry: Registry, content: bytes, **kwargs: object) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_policy_is_validated_and_one_for_every_path(tmp_path: Path, register: Callable[[bytes], str]) -> None:
    with pytest.raises(ValueError, match="strong"):
        Settings(data_dir=tmp_path, match_threshold=70)  # above the weak radius: refused, not silently capped
    strict = Settings(data_dir=tmp_path / "strict", match_threshold=0, match_weak_threshold=0)
    assert strict.match_policy.radius(64) == 0 and Settings().match_policy.radius(64) == 8
    registry = Registry.open(strict)
    registry.load()
    try:
        publisher = make_publisher(registry, "Strict Times")
        content = photo_bytes("chelsea")
        statement, signature = publisher.signed(content)
        with registry.session() as session:
            service.register(
                session=session, registry=registry, statement=statement, signature=signature, content=content
            )
        recoded = encode(photo("chelsea"), "JPEG", quality=40)
        assert _check(registry, recoded, mode="fast").verdict == "unregistered"
        pdq = fingerprint_image(recoded, max_pixels=CAP).primary()["pdq"].value.hex()
        with registry.session() as session:
            found = matching.lookup(session=session, registry=registry, alg="pdq", value=pdq)
        assert found.max_distance == 0 and found.matches == []
    finally:
        registry.close()


def test_check_view_lists_hashes_by_algorithm(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(photo_bytes("rocket"))
    view = _check(registry, photo_bytes("rocket"), mode="fast")
    assert view.kind == "image" and set(view.hashes) == set(algorithms.ALGORITHMS)
    assert view.hashes["pdq"] == view.pdq


def test_reindex_backfills_a_new_algorithm_from_one_file(
    tmp_path: Path, registry: Registry, register: Callable[[bytes], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [register(photo_bytes(name)) for name in ("rocket", "coffee")]
    (tmp_path / "throwaway.py").write_text(THROWAWAY)
    monkeypatch.setattr(algorithms, "__path__", [*algorithms.__path__, str(tmp_path)])
    algorithms.discover()
    try:
        progress: list[tuple[int, int]] = []
        with registry.session() as session:
            report = reindex.reindex(
                session=session, registry=registry, algorithms=["throwaway"], progress=lambda *p: progress.append(p)
            )
        assert (report.registrations, report.hashes_added, report.failed) == (2, 2, [])
        assert progress[-1] == (2, 2)
        with registry.session() as session:  # idempotent: nothing left to do
            again = reindex.reindex(session=session, registry=registry, algorithms=["throwaway"])
        assert (again.registrations, again.hashes_added) == (0, 0)
        value = fingerprint_image(photo_bytes("coffee"), max_pixels=CAP).primary()["throwaway"].value.hex()
        with registry.session() as session:
            found = matching.lookup(session=session, registry=registry, alg="throwaway", value=value)
            shown = matching.check(session=session, registry=registry, content=photo_bytes("coffee"), mode="fast")
        assert [m.registration_id for m in found.matches] == [ids[1]]
        assert shown.hashes["throwaway"] == value
        with registry.session() as session, pytest.raises(InvalidRequest, match="unknown algorithm"):
            reindex.reindex(session=session, registry=registry, algorithms=["nosuch"])
    finally:
        monkeypatch.undo()
        algorithms.discover()


def test_kept_pictures_expire(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(photo_bytes("astronaut"))
    doctored = photo("astronaut")
    doctored.paste((250, 30, 30), (200, 80, 300, 160))
    view = _check(registry, encode(doctored, "PNG"), pictures="keep")
    assert view.verdict == "altered"
    (picture,) = view.comparisons
    assert picture.registration_id == view.matches[0].registration_id
    assert registry.pictures.get(picture.id).startswith(b"\x89PNG")
    path = registry.pictures.directory / f"{picture.id}.png"
    old = path.stat().st_mtime - registry.settings.picture_ttl_seconds - 1
    os.utime(path, (old, old))
    with pytest.raises(NotFound, match="expired"):
        registry.pictures.get(picture.id)
    with pytest.raises(NotFound):
        registry.pictures.get("../registry.sqlite3")


def test_a_data_directory_of_the_old_schema_is_refused(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    with sqlite3.connect(tmp_path / "registry.sqlite3") as connection:
        connection.execute("CREATE TABLE registration (id TEXT PRIMARY KEY, width INTEGER)")
    with pytest.raises(ConfigurationError, match="schema"):
        Registry.open(Settings(data_dir=tmp_path))


def test_hash_records_carry_quality() -> None:
    records = fingerprint_image(photo_bytes("astronaut"), max_pixels=CAP).of("pdq")
    assert all(isinstance(r, HashRecord) and r.quality == 100 for r in records[:1])


THROWAWAY = """
import imagehash

from fingerprint.algorithms._imagehash import imagehash_value
from fingerprint.algorithms.base import HashAlgorithm


class Throwaway(HashAlgorithm):
    name = "throwaway"
    bits = 64

    def compute(self, pixels):
        return imagehash_value(imagehash.average_hash, pixels)


ALGORITHM = Throwaway()
"""
