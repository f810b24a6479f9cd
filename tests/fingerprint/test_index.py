from __future__ import annotations

import threading

import numpy as np
import pytest

from fingerprint.index import BinaryIndex


def _codes(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32), dtype=np.uint8)


def _flip(code: np.ndarray, bits: int) -> np.ndarray:
    out = code.copy()
    for bit in range(bits):
        out[bit // 8] ^= 1 << (bit % 8)
    return out


def test_range_search_is_inclusive_and_sorted() -> None:
    index = BinaryIndex(256)
    codes = _codes(1000)
    index.add(np.arange(1000) + 100, codes)
    query = _flip(codes[7], 31)
    hits = index.range_search(query, 31)[0]
    assert [(hit.id, hit.distance) for hit in hits] == [(107, 31)]
    assert index.range_search(query, 30) == [[]]
    near = np.stack([codes[3], _flip(codes[3], 5)])
    index.add(np.array([5000]), near[1:])
    assert [(h.id, h.distance) for h in index.range_search(codes[3], 10)[0]] == [(103, 0), (5000, 5)]


def test_batched_queries_answer_each_query() -> None:
    index = BinaryIndex(256)
    codes = _codes(100)
    index.add(np.arange(100), codes)
    results = index.range_search(np.stack([codes[1], _codes(1, seed=9)[0], codes[2]]), 20)
    assert [[h.id for h in r] for r in results] == [[1], [], [2]]


def test_empty_index_and_bad_shapes() -> None:
    index = BinaryIndex(64)
    assert index.range_search(np.zeros(8, dtype=np.uint8), 10) == [[]]
    assert index.max_id == -1
    with pytest.raises(ValueError, match="64-bit"):
        index.range_search(np.zeros(32, dtype=np.uint8), 10)
    with pytest.raises(ValueError, match="one id per code"):
        index.add(np.arange(2), np.zeros((3, 8), dtype=np.uint8))
    with pytest.raises(ValueError):
        BinaryIndex(12)


def test_bytes_round_trip() -> None:
    index = BinaryIndex(256)
    codes = _codes(50)
    index.add(np.arange(50) * 2, codes)
    loaded = BinaryIndex.from_bytes(index.to_bytes(), 256)
    assert len(loaded) == 50 and loaded.max_id == 98
    assert [h.id for h in loaded.range_search(codes[10], 0)[0]] == [20]
    with pytest.raises(ValueError, match="64-bit"):
        BinaryIndex.from_bytes(index.to_bytes(), 64)
    with pytest.raises(ValueError, match="cannot read"):
        BinaryIndex.from_bytes(b"not an index", 256)


def test_concurrent_adds_and_searches_stay_consistent() -> None:
    index = BinaryIndex(256)
    codes = _codes(4000)
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        for i in range(start, 4000, 4):
            index.add(np.array([i]), codes[i : i + 1])

    def reader() -> None:
        try:
            for i in range(300):
                for hit in index.range_search(codes[i], 0)[0]:
                    assert hit.id == i
        except BaseException as exc:  # surfaced below: threads swallow exceptions
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)] + [
        threading.Thread(target=reader) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(index) == 4000 and sorted(index.ids().tolist()) == list(range(4000))
