"""The content store under concurrent writers of the same bytes."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from registry.errors import NotFound
from registry.store import ContentStore

WRITERS = 16


def test_concurrent_puts_of_the_same_bytes_all_succeed(tmp_path: Path) -> None:
    """Several publishers registering the same pool footage at once: every writer succeeds, one file results.

    The temporary file name used to be shared by all threads of a process, so one writer's rename took the file
    from under another (about a quarter of such requests answered 500).
    """
    store = ContentStore(tmp_path)
    for round_ in range(10):
        data = os.urandom(256 * 1024) + bytes([round_])
        barrier = threading.Barrier(WRITERS)

        def put(data: bytes = data, barrier: threading.Barrier = barrier) -> str:
            barrier.wait()
            return store.put(data)

        with ThreadPoolExecutor(WRITERS) as pool:
            results = list(pool.map(lambda _: put(), range(WRITERS)))
        expected = hashlib.sha256(data).hexdigest()
        assert results == [expected] * WRITERS
        assert store.get(expected) == data
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name.endswith(".tmp")]
    assert leftovers == []


def test_put_is_idempotent_and_get_of_unknown_is_not_found(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    first = store.put(b"original bytes")
    assert store.put(b"original bytes") == first
    assert store.path(first).read_bytes() == b"original bytes"
    with pytest.raises(NotFound):
        store.get("0" * 64)
