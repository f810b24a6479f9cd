"""Which stored originals a clip is most likely cut from, for a bounded candidate list: the offset-consistent landmark
vote of `fingerprint.audio.match_audio`, over its speed hypotheses within `MAX_SPEED_CHANGE`, in one pass per original.

A shared-hash share does not rank: a resampled clip shares 1-16% of its hashes with its original while an unrelated
song shares up to half with another. Votes that agree on one offset at one speed do: chance hashes scatter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from fingerprint.audio import AudioFingerprint
from fingerprint.audio.compare import RESAMPLE_SPEEDS, TEMPO_SPEEDS
from fingerprint.audio.landmarks import pair_hashes

MAX_SPEED_CHANGE = 0.12  # the speeds a clip is ranked under: 0.88-1.12x, pitch kept or moved
_MAX_HITS_PER_HASH = 64


@dataclass(frozen=True, slots=True)
class ClipHashes:
    """A clip's landmark hashes under every speed hypothesis, concatenated: `hypothesis` numbers each one's."""

    hashes: np.ndarray
    anchors: np.ndarray
    hypothesis: np.ndarray
    counts: np.ndarray  # hashes per hypothesis

    @classmethod
    def of(cls, clip: AudioFingerprint) -> ClipHashes:
        frames, bins = clip.frames.astype(np.float64), clip.bins.astype(np.float64)
        mapped = [(s, bins) for s in TEMPO_SPEEDS if abs(s - 1) <= MAX_SPEED_CHANGE]
        mapped += [(s, bins / s) for s in RESAMPLE_SPEEDS if abs(s - 1) <= MAX_SPEED_CHANGE]
        pairs = [pair_hashes(frames * speed, b) for speed, b in mapped]
        return cls(
            np.concatenate([h for h, _ in pairs]),
            np.concatenate([a for _, a in pairs]),
            np.concatenate([np.full(len(h), k, np.int64) for k, (h, _) in enumerate(pairs)]),
            np.array([len(h) for h, _ in pairs]),
        )


def offset_votes(reference: AudioFingerprint, clip: ClipHashes) -> float:
    """The largest share of one hypothesis's hashes that agree on one offset (within a frame) in `reference`."""
    ref_hashes, ref_frames = reference.hashes()
    if len(ref_hashes) == 0 or len(clip.hashes) == 0:
        return 0.0
    lo = np.searchsorted(ref_hashes, clip.hashes, side="left")
    counts = np.minimum(np.searchsorted(ref_hashes, clip.hashes, side="right") - lo, _MAX_HITS_PER_HASH)
    if counts.sum() == 0:
        return 0.0
    index = np.repeat(np.arange(len(clip.hashes)), counts)
    ref_index = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    offsets = ref_frames[ref_index] - clip.anchors[index]
    low, width = int(offsets.min()), int(offsets.max() - offsets.min()) + 3
    histogram = np.bincount(clip.hypothesis[index] * width + (offsets - low + 1), minlength=len(clip.counts) * width)
    votes = histogram.reshape(len(clip.counts), width)
    smoothed = votes[:, :-2] + votes[:, 1:-1] + votes[:, 2:]  # a peak moves by a frame on re-encoding
    return float((smoothed.max(axis=1) / np.maximum(clip.counts, 1)).max())


# A vote's key packs (owner, hypothesis, offset): offsets are peak frames (about 60 a second), so 2^26 of them span
# about 13 days either way, and an owner number takes the bits above.
_OFFSET_BITS = 26
_OFFSET_BIAS = 1 << (_OFFSET_BITS - 1)
_MAX_HYPOTHESES = 128
# Hits one clip hash may collect over the whole index: a hash this common says nothing about which original it is,
# and the bound keeps a check's cost independent of how often one hash recurs.
MAX_HITS_PER_HASH = 4096


class LandmarkIndex:
    """Every stored original's landmark hashes in one inverted index (hash -> owner, anchor frame), so a clip is
    ranked against all of them in one pass: the same offset-consistent vote as `offset_votes`, for every owner at
    once (equal to it while no hash repeats more than `_MAX_HITS_PER_HASH` times in one original).

    Added originals go to a small sorted run that is merged into the main one when it reaches an eighth of it, so
    registering one more sound never re-sorts the whole index and a search reads two runs.
    """

    def __init__(self) -> None:
        self._runs: list[_Run] = []  # the main run, then at most one small one
        self._pending: list[_Run] = []  # added since the last search, unsorted
        self.originals = 0
        self._lock = threading.Lock()  # adds and merges against searches from other threads

    def __len__(self) -> int:
        return sum(len(run[0]) for run in self._runs) + sum(len(part[0]) for part in self._pending)

    def add(self, owner: int, fingerprint: AudioFingerprint) -> int:
        """Index one original's hashes under `owner` (a caller's number, below 2^31); the number added."""
        hashes, anchors = fingerprint.hashes()
        with self._lock:
            self._pending.append((hashes, anchors.astype(np.int32), np.full(len(hashes), owner, np.int32)))
            self.originals += 1
            if len(self._pending) >= 64:
                self._flush()
        return len(hashes)

    def rank(
        self, clip: ClipHashes, *, limit: int, excluded: set[int] | frozenset[int] = frozenset()
    ) -> list[tuple[int, float]]:
        """The `limit` owners with the largest offset-consistent vote share, as (owner, share), best first (ties by
        owner number); owners in `excluded` are left out."""
        if len(clip.counts) > _MAX_HYPOTHESES:
            raise ValueError(f"at most {_MAX_HYPOTHESES} speed hypotheses")
        with self._lock:
            self._flush()
            runs = list(self._runs)
        owners, hypotheses, offsets = [], [], []
        order = np.argsort(clip.hashes, kind="stable")  # sorted needles: the lookups walk each run once
        needles = clip.hashes[order]
        for hashes, frames, run_owners in runs:
            lo = np.searchsorted(hashes, needles, side="left")
            counts = np.minimum(np.searchsorted(hashes, needles, side="right") - lo, MAX_HITS_PER_HASH)
            if counts.sum() == 0:
                continue
            index = np.repeat(order, counts)
            at = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            owners.append(run_owners[at].astype(np.int64))
            hypotheses.append(clip.hypothesis[index])
            offsets.append(frames[at].astype(np.int64) - clip.anchors[index])
        if not owners:
            return []
        owner, hypothesis, offset = np.concatenate(owners), np.concatenate(hypotheses), np.concatenate(offsets)
        keep = ~np.isin(owner, np.fromiter(excluded, np.int64, len(excluded))) & (np.abs(offset) < _OFFSET_BIAS - 1)
        keys = ((owner[keep] * _MAX_HYPOTHESES + hypothesis[keep]) << _OFFSET_BITS) + offset[keep] + _OFFSET_BIAS
        present, votes = _counted(keys)
        if len(present) == 0:
            return []
        # a peak moves by a frame on re-encoding: each offset's vote counts its two neighbours', at every offset
        # next to a present one (the best may be between two)
        centres = _counted(np.concatenate([present - 1, present, present + 1]))[0]
        smoothed = sum(_votes_at(present, votes, centres + step) for step in (-1, 0, 1))
        group = centres >> _OFFSET_BITS
        share = smoothed / np.maximum(clip.counts[group % _MAX_HYPOTHESES], 1)
        owner_of = group // _MAX_HYPOTHESES
        order = np.lexsort((-share, owner_of))
        first = np.ones(len(order), bool)
        first[1:] = owner_of[order][1:] != owner_of[order][:-1]
        best_owner, best_share = owner_of[order][first], share[order][first]
        top = np.lexsort((best_owner, -best_share))[:limit]
        return [(int(best_owner[i]), float(best_share[i])) for i in top]

    def _flush(self) -> None:
        """Sort the pending originals into the small run, and merge that into the main one once it is an eighth of
        it: a search reads at most two runs, and one more original never re-sorts the whole index."""
        if not self._pending:
            return
        run = _sorted(*(np.concatenate([part[k] for part in self._pending]) for k in range(3)))
        self._pending = []
        if len(self._runs) == 2:
            run = _merge(self._runs.pop(), run)
        if self._runs and len(run[0]) * 8 < len(self._runs[0][0]):
            self._runs.append(run)
        else:
            self._runs = [_merge(self._runs[0], run)] if self._runs else [run]


_Run = tuple[np.ndarray, np.ndarray, np.ndarray]  # (hashes, anchor frames, owners), sorted by hash


def _sorted(hashes: np.ndarray, frames: np.ndarray, owners: np.ndarray) -> _Run:
    order = np.argsort(hashes, kind="stable")
    return hashes[order], frames[order], owners[order]


def _merge(a: _Run, b: _Run) -> _Run:
    return _sorted(*(np.concatenate([a[k], b[k]]) for k in range(3)))


def _counted(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, and how often each occurs: `np.unique(keys, return_counts=True)` by one sort
    (numpy's hash-based unique is ten times slower on millions of int64 keys)."""
    keys = np.sort(keys)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.diff(np.append(starts, len(keys)))


def _votes_at(present: np.ndarray, votes: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The vote count of each key (0 where it has none)."""
    at = np.minimum(np.searchsorted(present, keys), len(present) - 1)
    return np.where(present[at] == keys, votes[at], 0)
