"""The `MatchIndex` protocol's behaviour, the same for every implementation (conftest: faiss and pgvector)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ADMIN_TOKEN, encode, make_publisher, photo, photo_bytes
from sqlalchemy import text

from fingerprint.algorithms import HashRecord
from fingerprint.hashes import HashValue
from fingerprint.kinds.image import fingerprint_image
from registry import matching, service, views, work
from registry.errors import ConfigurationError
from registry.index.pgvector import search_sql
from registry.media import limits as media_limits
from registry.runtime import Registry
from registry.settings import Settings

CAP = 50_000_000


def _check(registry: Registry, content: bytes, **kwargs: object) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)  # type: ignore[arg-type]


def _stored(registry: Registry, registration_id: str, alg: str = "pdq") -> tuple[bytes, int | None]:
    """The canonical stored hash of a registration, and its quality."""
    with registry.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT value, quality FROM media_hash "
                "WHERE registration_id = :r AND alg = :a AND variant = 'canonical'"
            ),
            {"r": registration_id, "a": alg},
        ).one()
    return bytes(row[0]), row[1]


def _flipped(value: bytes, bits: int) -> HashValue:
    """`value` with its first `bits` bits inverted: exactly `bits` away."""
    number = int.from_bytes(value, "big") ^ (((1 << bits) - 1) << (len(value) * 8 - bits))
    return HashValue(number.to_bytes(len(value), "big"))


def test_index_answers_in_registration_ids_with_evidence(registry: Registry, register: Callable[[bytes], str]) -> None:
    rocket = register(photo_bytes("rocket"))
    query = fingerprint_image(encode(photo("rocket"), "JPEG", quality=60), max_pixels=CAP, query=True)
    (candidate,) = registry.index.search("pdq", query.of("pdq"), 31)
    assert candidate.registration_id == rocket
    best = candidate.best("pdq")
    assert best is not None and best.variant == "canonical" and best.query_variant == "identity"
    assert best.distance <= 31
    assert registry.index.stats()["hashes_pdq"] >= 1 and registry.index.stats()["originals"] == 1
    registry.index.remove([rocket])
    assert registry.index.search("pdq", query.of("pdq"), 31) == []


@pytest.mark.parametrize(("alg", "radius"), [("pdq", 31), ("pdq", 63), ("phash", 8)])
def test_radius_is_inclusive_and_exact(
    registry: Registry, register: Callable[[bytes], str], alg: str, radius: int
) -> None:
    coffee = register(photo_bytes("coffee"))
    value, _ = _stored(registry, coffee, alg)
    at_radius = HashRecord(alg, "identity", _flipped(value, radius))
    found = registry.index.search(alg, [at_radius], radius)
    assert [c.registration_id for c in found] == [coffee]
    assert min(e.distance for e in found[0].hashes if e.variant == "canonical") == radius
    assert all(e.distance <= radius for e in found[0].hashes)
    just_outside = HashRecord(alg, "identity", _flipped(value, radius + 1))
    assert all(e.variant != "canonical" for c in registry.index.search(alg, [just_outside], radius) for e in c.hashes)


def test_quality_below_the_minimum_is_not_searched(registry: Registry, register: Callable[[bytes], str]) -> None:
    chelsea = register(photo_bytes("chelsea"))
    value, quality = _stored(registry, chelsea)
    assert quality is not None
    query = [HashRecord("pdq", "identity", HashValue(value))]
    assert [c.registration_id for c in registry.index.search("pdq", query, 0, min_quality=quality)] == [chelsea]
    assert registry.index.search("pdq", query, 0, min_quality=quality + 1) == []


def test_every_query_variant_reports_its_own_evidence(registry: Registry, register: Callable[[bytes], str]) -> None:
    astronaut = register(photo_bytes("astronaut"))
    value, _ = _stored(registry, astronaut)
    queries = [HashRecord("pdq", "identity", _flipped(value, 3)), HashRecord("pdq", "rotate_180", _flipped(value, 5))]
    (candidate,) = registry.index.search("pdq", queries, 10)
    canonical = sorted((e.query_variant, e.distance) for e in candidate.hashes if e.variant == "canonical")
    assert canonical == [("identity", 3), ("rotate_180", 5)]


def test_descriptor_votes_find_the_original_and_respect_removal(
    registry: Registry, register: Callable[[bytes], str]
) -> None:
    rocket = register(photo_bytes("rocket"))
    register(photo_bytes("coffee"))
    cropped = photo("rocket").crop((40, 30, 400, 330))
    content = encode(cropped, "JPEG", quality=80)
    query, _ = work.query_fingerprint(content, media_limits(registry.settings), "0" * 64, True)
    votes = registry.index.vote(query.features)
    assert votes and votes[0].registration_id == rocket and votes[0].votes > 0
    registry.index.remove([rocket])
    assert all(c.registration_id != rocket for c in registry.index.vote(query.features))


def test_check_and_lookup_through_the_index(registry: Registry, register: Callable[[bytes], str]) -> None:
    coffee = register(photo_bytes("coffee"))
    recoded = encode(photo("coffee"), "JPEG", quality=50)
    for mode in ("full", "fast"):
        view = _check(registry, recoded, mode=mode)
        assert view.verdict == "copy" and view.matches[0].registration_id == coffee, mode
    assert _check(registry, photo_bytes("chelsea")).verdict == "unregistered"
    pdq = fingerprint_image(recoded, max_pixels=CAP).primary()["pdq"].value.hex()
    with registry.session() as session:
        found = matching.lookup(session=session, registry=registry, alg="pdq", value=pdq)
    assert [m.registration_id for m in found.matches] == [coffee]


def test_registration_by_another_process_is_seen_without_restart(settings: Settings, registry: Registry) -> None:
    server_view = Registry.open(settings)  # e.g. the API server, while the CLI registers
    server_view.load()
    try:
        assert _check(server_view, photo_bytes("chelsea")).verdict == "unregistered"
        publisher = make_publisher(registry, "Another Process")
        content = photo_bytes("chelsea")
        statement, signature = publisher.signed(content)
        with registry.session() as session:
            service.register(
                session=session, registry=registry, statement=statement, signature=signature, content=content
            )
        assert _check(server_view, photo_bytes("chelsea")).verdict == "copy"
    finally:
        server_view.close()


def test_strong_hit_without_stored_features_still_matches(registry: Registry, register: Callable[[bytes], str]) -> None:
    coffee = register(photo_bytes("coffee"))
    with registry.engine.begin() as connection:
        connection.execute(text("DELETE FROM local_features WHERE registration_id = :id"), {"id": coffee})
    fresh = Registry.open(registry.settings)
    fresh.load()
    try:
        view = _check(fresh, encode(photo("coffee"), "JPEG", quality=70))
        assert view.verdict == "copy" and view.matches[0].registration_id == coffee
        assert view.matches[0].inliers == 0  # aligned from its PDQ hash
    finally:
        fresh.close()


@pytest.fixture
def pgvector_settings(tmp_path: Path, postgres_url: str) -> Settings:
    """The pgvector index alone, for what only it has (its SQL, its schema)."""
    return Settings(data_dir=tmp_path / "pg", admin_token=ADMIN_TOKEN, database_url=postgres_url, index="pgvector")


@pytest.fixture
def pgvector_registry(pgvector_settings: Settings) -> Iterator[Registry]:
    registry = Registry.open(pgvector_settings)
    registry.load()
    yield registry
    registry.close()


def test_pgvector_searches_by_its_hnsw_indexes(pgvector_registry: Registry) -> None:
    """The partial HNSW index per algorithm is what answers, not a scan of every hash row."""
    registry = pgvector_registry
    with registry.engine.connect() as connection:
        indexes = dict(
            connection.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'media_hash'")).all()
        )
        assert "hnsw" in indexes["ix_media_hash_code_pdq"] and "bit_hamming_ops" in indexes["ix_media_hash_code_pdq"]
        sql = search_sql("pdq", 256).replace(":codes", "ARRAY['x' || repeat('0', 64)]")
        plan = "\n".join(
            row[0]
            for row in connection.exec_driver_sql(
                f"EXPLAIN {sql.replace(':top_k', '10').replace(':radius', '31').replace(':min_quality', '50')}"
            )
        )
    assert "Index Scan using ix_media_hash_code_pdq" in plan, plan


def test_pgvector_needs_postgresql(tmp_path: object) -> None:
    with pytest.raises(ConfigurationError, match="PROVREG_INDEX=pgvector needs a PostgreSQL database"):
        Settings(index="pgvector")
    with pytest.raises(ConfigurationError, match="TOP_K must not exceed"):
        Settings(pgvector_top_k=500, pgvector_ef_search=100)


def test_pgvector_schema_is_completed_when_the_index_opens(
    pgvector_settings: Settings, pgvector_registry: Registry
) -> None:
    """What a migration (or a new algorithm) left missing is created at start; what exists is left alone."""
    settings, registry = pgvector_settings, pgvector_registry
    with registry.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_media_hash_code_phash"))
    reopened = Registry.open(settings)
    reopened.load()
    reopened.close()
    with registry.engine.connect() as connection:
        query = text("SELECT indexname FROM pg_indexes WHERE tablename = 'media_hash'")
        names = set(connection.execute(query).scalars())
    assert {f"ix_media_hash_code_{alg}" for alg in ("dhash", "pdq", "phash")} <= names


@pytest.mark.slow
def test_a_smaller_retrieval_subset_still_finds_a_crop_and_rebuilds_the_saved_index(
    settings: Settings, registry: Registry, register: Callable[[bytes], str]
) -> None:
    """`PROVREG_RETRIEVAL_FEATURES` bounds the vote index; verification still reads every stored descriptor."""
    rocket = register(photo_bytes("rocket"))
    register(photo_bytes("coffee"))
    registry.index.save()  # saved with the default subset: a restart with another size must not reuse it
    small = Registry.open(settings.model_copy(update={"retrieval_features": 48}))
    small.load()
    try:
        assert small.index.stats()["descriptors"] == 2 * 48
        cropped = encode(photo("rocket").crop((40, 30, 400, 330)), "JPEG", quality=80)
        query, _ = work.query_fingerprint(cropped, media_limits(small.settings), "0" * 64, True)
        assert small.index.vote(query.features)[0].registration_id == rocket
        view = _check(small, cropped)
        assert view.matches and view.matches[0].registration_id == rocket
    finally:
        small.close()


def test_retrieval_features_must_be_positive() -> None:
    for bad in (0, -5):
        with pytest.raises(ValueError, match="retrieval_features"):
            Settings(retrieval_features=bad)
    assert Settings(retrieval_features=72).retrieval_features == 72
