"""Descriptor votes: add, search, the flat-to-inverted-file switch, blobs, and concurrent use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fingerprint.descriptor_index import DescriptorIndex, Vote
from fingerprint.features import LocalFeatures

SMALL = {"nlist": 16, "nprobe": 4, "train_at": 3_000}  # trains after about a dozen references


def reference(seed: int, count: int = 300) -> LocalFeatures:
    rng = np.random.default_rng(seed)
    points = rng.random((count, 2)) * 500
    return LocalFeatures(500, 500, 1.0, points, rng.integers(0, 256, (count, 32), np.uint8))


def noisy_copy(features: LocalFeatures, flips: int, seed: int, keep: int = 200) -> LocalFeatures:
    """The first `keep` descriptors with `flips` random bits flipped in each: a query's view of the same points."""
    rng = np.random.default_rng(seed)
    bits = np.unpackbits(features.descriptors[:keep], axis=1)
    for row in bits:
        row[rng.choice(256, flips, replace=False)] ^= 1
    return LocalFeatures(500, 500, 1.0, features.points[:keep], np.packbits(bits, axis=1))


def filled(count: int, **options: int) -> DescriptorIndex:
    index = DescriptorIndex(**options)
    index.add_many([(1000 + i, reference(i)) for i in range(count)])
    return index


def test_votes_find_the_reference_a_query_came_from() -> None:
    index = filled(20)
    assert not index.trained and index.references == 20
    votes = index.search([noisy_copy(reference(7), flips=24, seed=1)])
    assert votes[0].key == 1007
    assert votes[0].votes > 100
    assert all(v.votes < 20 for v in votes[1:])


def test_unrelated_query_collects_no_votes() -> None:
    index = filled(20)
    assert index.search([reference(999)]) == []


def test_every_feature_sets_best_are_kept_however_many_votes_another_set_gives() -> None:
    # a page: its whole-page features resemble many originals strongly, its inset weakly matches one other
    index = filled(20)
    page = LocalFeatures(
        500,
        500,
        1.0,
        np.concatenate([noisy_copy(reference(i), 24, i, keep=40).points for i in range(12)]),
        np.concatenate([noisy_copy(reference(i), 24, i, keep=40).descriptors for i in range(12)]),
    )
    inset = noisy_copy(reference(15), flips=24, seed=3, keep=20)
    votes = {v.key: v.votes for v in index.search([page, inset], limit=5)}
    assert 1015 in votes and votes[1015] >= 15  # fewer than the page's dozen, yet kept
    assert sum(v >= 30 for v in votes.values()) == 5  # the page's own 5 best
    assert len(votes) == 6


def test_only_a_prefix_of_each_reference_is_indexed() -> None:
    index = DescriptorIndex(per_reference=50)
    index.add(1, reference(1))
    assert len(index) == 50
    votes = index.search([noisy_copy(reference(1), flips=10, seed=2)])
    assert votes == [Vote(1, 50)]


def test_index_switches_to_an_inverted_file_and_keeps_finding() -> None:
    index = DescriptorIndex(**SMALL)
    for i in range(40):  # one at a time: the switch happens at the 12th
        index.add(1000 + i, reference(i))
        assert index.trained == (i >= 11)
    assert len(index) == 40 * 256
    for target in (3, 25, 39):  # before, around and after the switch
        votes = index.search([noisy_copy(reference(target), flips=20, seed=target)])
        assert votes and votes[0].key == 1000 + target


def test_training_is_deterministic() -> None:
    assert filled(20, **SMALL).to_bytes() == filled(20, **SMALL).to_bytes()


def test_blob_round_trip_keeps_results_and_accepts_new_references() -> None:
    for options in ({}, SMALL):
        index = filled(20, **options)
        loaded = DescriptorIndex.from_bytes(index.to_bytes())
        assert (loaded.references, len(loaded), loaded.trained) == (index.references, len(index), index.trained)
        query = [noisy_copy(reference(5), flips=20, seed=3)]
        assert loaded.search(query) == index.search(query)
        loaded.add(5000, reference(5000))
        assert loaded.search([noisy_copy(reference(5000), flips=20, seed=4)])[0].key == 5000


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda blob: blob[:8], "too short"),
        (lambda blob: b"NOPE" + blob[4:], "not a descriptor-index"),
        (lambda blob: blob[:4] + b"\x07" + blob[5:], "version 7"),
        (lambda blob: blob[:40] + b"\x00" * 16, "corrupt"),
    ],
)
def test_bad_blobs_are_refused(mangle: object, message: str) -> None:
    blob = filled(2).to_bytes()
    with pytest.raises(ValueError, match=message):
        DescriptorIndex.from_bytes(mangle(blob))  # type: ignore[operator]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        DescriptorIndex(nlist=8, nprobe=9)
    with pytest.raises(ValueError):
        DescriptorIndex(nlist=100, train_at=50)
    mirrored = LocalFeatures(10, 10, 1.0, np.zeros((1, 2)), np.zeros((1, 32), np.uint8), mirrored=True)
    with pytest.raises(ValueError, match="upright"):
        DescriptorIndex().add(1, mirrored)
    with pytest.raises(ValueError, match="limit"):
        DescriptorIndex().search([reference(1)], limit=0)


def test_empty_index_and_empty_query() -> None:
    index = DescriptorIndex()
    assert index.search([reference(1)]) == []
    index.add(1, reference(1))
    empty = LocalFeatures(10, 10, 1.0, np.zeros((0, 2)), np.zeros((0, 32), np.uint8))
    assert index.search([empty]) == []


def test_progress_is_reported() -> None:
    seen: list[tuple[int, int]] = []
    DescriptorIndex().add_many([(i, reference(i, 20)) for i in range(5)], progress=lambda d, t: seen.append((d, t)))
    assert seen == [(5, 5)]


def test_concurrent_searches_and_adds() -> None:
    index = filled(10, **SMALL)
    queries = {i: [noisy_copy(reference(i), flips=20, seed=i)] for i in range(10)}

    def search(i: int) -> int:
        return index.search(queries[i % 10])[0].key

    def add(i: int) -> None:
        index.add(2000 + i, reference(2000 + i))

    with ThreadPoolExecutor(4) as pool:
        adds = [pool.submit(add, i) for i in range(10)]
        found = list(pool.map(search, range(40)))
        for future in adds:
            future.result()
    assert found == [1000 + i % 10 for i in range(40)]
    assert index.references == 20 and index.trained


def test_a_loaded_flat_index_trains_when_it_grows() -> None:
    loaded = DescriptorIndex.from_bytes(filled(10, **SMALL).to_bytes())
    assert not loaded.trained
    loaded.add_many([(1000 + i, reference(i)) for i in range(10, 15)])
    assert loaded.trained and loaded.references == 15
    assert loaded.search([noisy_copy(reference(2), flips=20, seed=5)])[0].key == 1002
