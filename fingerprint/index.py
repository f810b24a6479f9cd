"""Exact Hamming search over one algorithm's codes, kept apart from the algorithms themselves.

faiss `IndexBinaryFlat` scans every code (about 1 ms per query at 1M 256-bit codes): exact, no training, and a
new code is searchable the moment `add` returns. Ids are the caller's (database row ids), so the database stays
the only source of truth and the index can always be rebuilt from it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np


@dataclass(frozen=True, slots=True)
class IndexHit:
    id: int
    distance: int


class ReadWriteLock:
    """Many concurrent searches (faiss releases the GIL), one writer at a time, writers not starved."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class BinaryIndex:
    """Thread-safe exact index of `bits`-long binary codes under caller-chosen int64 ids."""

    def __init__(self, bits: int) -> None:
        if bits % 8:
            raise ValueError("binary codes must be a whole number of bytes")
        self.bits = bits
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(bits))
        self._lock = ReadWriteLock()
        self._max_id = -1

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def max_id(self) -> int:
        """The largest id added so far, -1 when empty: what an incremental catch-up starts after."""
        return self._max_id

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        codes = self._codes(codes)
        if len(ids) != len(codes):
            raise ValueError("one id per code")
        if not len(ids):
            return
        with self._lock.writing():
            self._index.add_with_ids(codes, ids)
            self._max_id = max(self._max_id, int(ids.max()))

    def range_search(self, codes: np.ndarray, max_distance: int) -> list[list[IndexHit]]:
        """For each query code, every indexed code within `max_distance` bits (inclusive), nearest first."""
        codes = self._codes(codes)
        with self._lock.reading():
            if not self._index.ntotal:
                return [[] for _ in range(len(codes))]
            # faiss range search keeps distances strictly below the radius.
            limits, distances, labels = self._index.range_search(codes, max_distance + 1)
        results = []
        for q in range(len(codes)):
            lo, hi = int(limits[q]), int(limits[q + 1])
            order = np.argsort(distances[lo:hi], kind="stable")
            results.append([IndexHit(int(labels[lo + i]), int(distances[lo + i])) for i in order])
        return results

    def ids(self) -> np.ndarray:
        with self._lock.reading():
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def to_bytes(self) -> bytes:
        with self._lock.reading():
            return faiss.serialize_index_binary(self._index).tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes, bits: int) -> BinaryIndex:
        """Read `to_bytes` output; raises ValueError if it is unreadable or holds other codes."""
        try:
            loaded = faiss.deserialize_index_binary(np.frombuffer(blob, dtype=np.uint8))
        except RuntimeError as exc:
            raise ValueError(f"cannot read a binary index: {exc}") from None
        if loaded.d != bits or not isinstance(loaded, faiss.IndexBinaryIDMap2):
            raise ValueError(f"the saved index does not hold {bits}-bit codes under ids")
        index = cls(bits)
        index._index = loaded
        ids = index.ids()
        index._max_id = int(ids.max()) if len(ids) else -1
        return index

    def _codes(self, codes: np.ndarray) -> np.ndarray:
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        if codes.ndim == 1:
            codes = codes[None, :]
        if codes.shape[1] * 8 != self.bits:
            raise ValueError(f"expected {self.bits}-bit codes, got {codes.shape[1] * 8}-bit")
        return codes
