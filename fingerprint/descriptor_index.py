"""Candidate retrieval by descriptor votes: which originals share many ORB descriptors with a query?

A query whose global hashes found nothing (a crop, a rotation, a screenshot) still shares local descriptors with its
original. Each original contributes the first `INDEXED_PER_REFERENCE` of its stored descriptors (a spread-out,
strongest-first prefix; verification uses all of them); each query descriptor votes for the originals of its nearest
indexed neighbours within `VOTE_DISTANCE` bits, and the originals with the most votes go on to geometric verification.

Exact search over millions of descriptors is too slow for a query of 2,000 descriptors (measured in
docs/derivatives.md), so the index is an inverted file (faiss `IndexBinaryIVF`): descriptors are filed under their
nearest of `NLIST` centroids, and a query descriptor scans the `NPROBE` nearest lists. Until `TRAIN_AT` descriptors
exist it is exact (flat); at that point the centroids are chosen from the descriptors present, deterministically
(an even sample refined by binary k-means with majority votes), every descriptor moves into the lists, and later
additions are filed without retraining. Rebuilding from the same registrations in the same order gives the same index.

>>> import numpy as np
>>> from fingerprint.features import LocalFeatures
>>> rng = np.random.default_rng(0)
>>> features = LocalFeatures(100, 100, 1.0, rng.random((50, 2)) * 100, rng.integers(0, 256, (50, 32), np.uint8))
>>> index = DescriptorIndex()
>>> index.add(7, features)
>>> index.search([features])[0].key
7
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from fingerprint.blobs import BlobHeader
from fingerprint.features import DESCRIPTOR_BYTES, LocalFeatures
from fingerprint.index import ReadWriteLock

_BITS = DESCRIPTOR_BYTES * 8

# Descriptors indexed per original (a prefix of the stored ones).
INDEXED_PER_REFERENCE = 256
# Query descriptors (per orientation) that vote: a prefix, so the strongest and most spread out. 500 found the true
# original in the top 5 as often as 1,000 did, at half the search time.
QUERY_PREFIX = 500
# Nearest indexed neighbours each query descriptor looks at, and how close one must be to vote. Matching ORB
# descriptors of the same point sit at 10-50 bits; unrelated ones at about 128.
NEIGHBOURS = 4
VOTE_DISTANCE = 56
# Fewer votes than this is what unrelated originals collect (median 7 of them at 10,000 registered).
MIN_VOTES = 8
# The inverted file: lists, lists scanned per query descriptor, and the size at which the flat index is replaced.
NLIST = 2048
NPROBE = 6
TRAIN_AT = 200_000
_KMEANS_ITERATIONS = 2
_TRAIN_SAMPLE = 100_000

# magic, version, per_reference, nlist, nprobe, train_at, references
_HEADER = BlobHeader("descriptor-index", b"PRDI", 1, "<4sBxxxIIIIQ")


@dataclass(frozen=True, slots=True)
class Vote:
    """An original, by the key it was added under, and how many query descriptors voted for it."""

    key: int
    votes: int


class DescriptorIndex:
    """Thread-safe vote index of reference descriptors under caller-chosen int64 keys (the registry: a
    `local_features` row id, which it maps to its registration)."""

    def __init__(
        self,
        *,
        per_reference: int = INDEXED_PER_REFERENCE,
        nlist: int = NLIST,
        nprobe: int = NPROBE,
        train_at: int = TRAIN_AT,
    ) -> None:
        if per_reference <= 0 or nlist <= 0 or not 0 < nprobe <= nlist or train_at < nlist:
            raise ValueError("need per_reference > 0, 0 < nprobe <= nlist and train_at >= nlist")
        self.per_reference = per_reference
        self.nlist = nlist
        self.nprobe = nprobe
        self.train_at = train_at
        self._index: faiss.IndexBinaryIDMap | faiss.IndexBinaryIVF = faiss.IndexBinaryIDMap(
            faiss.IndexBinaryFlat(_BITS)
        )
        self._references = 0
        self._lock = ReadWriteLock()
        self._adding = threading.Lock()

    @property
    def trained(self) -> bool:
        """True once the index is an inverted file (searches are approximate from then on)."""
        return isinstance(self._index, faiss.IndexBinaryIVF)

    @property
    def references(self) -> int:
        return self._references

    def __len__(self) -> int:
        """Indexed descriptors."""
        return int(self._index.ntotal)

    def add(self, key: int, features: LocalFeatures) -> None:
        """Index an original's descriptors; it is searchable when this returns."""
        self.add_many([(key, features)])

    def add_many(
        self,
        items: Sequence[tuple[int, LocalFeatures]],
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Index many originals in one go (start-up, rebuilds); `progress(done, total)` after each chunk."""
        if any(f.mirrored for _, f in items):
            raise ValueError("index the original's upright features, not mirrored ones")
        chunk = 2_000
        for start in range(0, len(items), chunk):
            part = items[start : start + chunk]
            ids = np.concatenate(
                [np.full(min(f.count, self.per_reference), rid, np.int64) for rid, f in part] or [np.zeros(0, np.int64)]
            )
            codes = np.concatenate(
                [f.descriptors[: self.per_reference] for _, f in part] or [np.zeros((0, DESCRIPTOR_BYTES), np.uint8)]
            )
            with self._adding:
                if not self.trained and len(self) + len(codes) >= self.train_at:
                    self._train_and_move(codes, ids)
                else:
                    with self._lock.writing():
                        if len(codes):
                            self._index.add_with_ids(np.ascontiguousarray(codes), ids)
                self._references += len(part)
            if progress is not None:
                progress(min(start + chunk, len(items)), len(items))

    def search(self, features: Sequence[LocalFeatures], *, limit: int = 10, min_votes: int = MIN_VOTES) -> list[Vote]:
        """Originals with at least `min_votes` votes from the query's descriptors, most votes first.

        Pass the query's feature sets (upright, mirrored, insets); each original counts its best set, and the result
        holds every set's `limit` best: a photo inside a page gets fewer votes from its inset than the page's own
        text and icons get from the whole page, and must not be crowded out by them.
        """
        if limit <= 0:
            raise ValueError("limit must be positive")
        best: dict[int, int] = {}
        kept: set[int] = set()
        for feature in features:
            if not feature.count:
                continue
            with self._lock.reading():
                if not self._index.ntotal:
                    return []
                distances, labels = self._index.search(feature.descriptors[:QUERY_PREFIX], NEIGHBOURS)
            counted = _count_votes(distances, labels)
            for key, votes in counted.items():
                best[key] = max(best.get(key, 0), votes)
            ranked = sorted(((v, r) for r, v in counted.items() if v >= min_votes), key=lambda t: (-t[0], t[1]))
            kept.update(key for _, key in ranked[:limit])
        return [Vote(r, best[r]) for r in sorted(kept, key=lambda r: (-best[r], r))]

    def to_bytes(self) -> bytes:
        """A versioned blob: header, then the faiss index."""
        with self._lock.reading():
            body = faiss.serialize_index_binary(self._index).tobytes()
            header = _HEADER.pack(self.per_reference, self.nlist, self.nprobe, self.train_at, self._references)
        return header + body

    @classmethod
    def from_bytes(cls, blob: bytes) -> DescriptorIndex:
        """Parse `to_bytes` output; raises ValueError on anything else."""
        per_reference, nlist, nprobe, train_at, references = _HEADER.unpack(blob)
        try:
            loaded = faiss.deserialize_index_binary(np.frombuffer(blob, np.uint8, offset=_HEADER.size))
        except RuntimeError as exc:
            raise ValueError(f"descriptor-index blob is corrupt: {exc}") from None
        if not isinstance(loaded, faiss.IndexBinaryIDMap | faiss.IndexBinaryIVF):
            raise ValueError(f"descriptor-index blob holds a {type(loaded).__name__}, not an id-mapped or IVF index")
        if loaded.d != _BITS:
            raise ValueError(f"descriptor index holds {loaded.d}-bit codes, expected {_BITS}")
        index = cls(per_reference=per_reference, nlist=nlist, nprobe=nprobe, train_at=train_at)
        if isinstance(loaded, faiss.IndexBinaryIVF):
            loaded.nprobe = nprobe
        index._index = loaded
        index._references = references
        return index

    def _train_and_move(self, codes: np.ndarray, ids: np.ndarray) -> None:
        """Replace the flat index by an inverted file holding everything indexed so far plus `codes`."""
        flat = self._index
        assert isinstance(flat, faiss.IndexBinaryIDMap), "only the untrained flat index is moved"
        with self._lock.reading():
            old_codes = _all_codes(flat)
            old_ids = faiss.vector_to_array(flat.id_map).astype(np.int64)
        all_codes = np.concatenate([old_codes, codes])
        all_ids = np.concatenate([old_ids, ids])
        quantizer = faiss.IndexBinaryFlat(_BITS)
        quantizer.add(_centroids(all_codes, self.nlist))
        ivf = faiss.IndexBinaryIVF(quantizer, _BITS, self.nlist)
        ivf.is_trained = True
        ivf.nprobe = self.nprobe
        ivf.add_with_ids(np.ascontiguousarray(all_codes), all_ids)
        with self._lock.writing():
            self._index = ivf


def _count_votes(distances: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """One vote per (query descriptor, original) among the close neighbours."""
    close = (distances <= VOTE_DISTANCE) & (labels >= 0)
    rows, cols = np.nonzero(close)
    pairs = np.unique(np.c_[rows, labels[rows, cols]], axis=0)
    if not len(pairs):
        return {}
    references, counts = np.unique(pairs[:, 1], return_counts=True)
    return dict(zip(references.tolist(), counts.tolist(), strict=True))


def _all_codes(index: faiss.IndexBinaryIDMap) -> np.ndarray:
    flat = faiss.downcast_IndexBinary(index.index)
    codes = flat.xb  # type: ignore[attr-defined]  # faiss's stubs omit IndexBinaryFlat's code vector
    return faiss.vector_to_array(codes).reshape(-1, DESCRIPTOR_BYTES)


def _centroids(codes: np.ndarray, count: int) -> np.ndarray:
    """Deterministic binary k-means: an even sample, then a few rounds of nearest assignment and bitwise majority."""
    sample = codes[:: max(1, len(codes) // _TRAIN_SAMPLE)]
    centroids = np.ascontiguousarray(sample[:: max(1, len(sample) // count)][:count])
    bits = np.unpackbits(sample, axis=1)
    for _ in range(_KMEANS_ITERATIONS):
        flat = faiss.IndexBinaryFlat(_BITS)
        flat.add(centroids)
        _, nearest = flat.search(sample, 1)
        order = np.argsort(nearest.ravel(), kind="stable")
        members = nearest.ravel()[order]
        starts = np.flatnonzero(np.r_[True, members[1:] != members[:-1]])
        sums = np.add.reduceat(bits[order].astype(np.int32), starts, axis=0)
        sizes = np.diff(np.r_[starts, len(order)])
        majority = (2 * sums > sizes[:, None]).astype(np.uint8)  # an empty cluster keeps its old centroid
        centroids[members[starts]] = np.packbits(majority, axis=1)
    return centroids
