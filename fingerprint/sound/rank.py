"""Which stored originals a clip is most likely cut from, for a bounded candidate list: the offset-consistent landmark
vote of `fingerprint.audio.match_audio`, over its speed hypotheses within `MAX_SPEED_CHANGE`, in one pass per original.

A shared-hash share does not rank: a resampled clip shares 1-16% of its hashes with its original while an unrelated
song shares up to half with another. Votes that agree on one offset at one speed do: chance hashes scatter.
"""

from __future__ import annotations

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
