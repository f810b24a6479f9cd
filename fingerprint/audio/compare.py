"""Match a query's sound to an original's, and compare them over a segment the picture has already aligned.

`match_audio` finds where a clip's sound sits in an original by offset voting over landmark hashes, under a small
grid of speed hypotheses, so it works when the picture was replaced. `compare_segment` takes an alignment (from the
frames or from `match_audio`) and asks, a tenth of a second at a time, whether the query's spectral peaks fall where
the original's are: where they do not, the sound was replaced (`audio_altered`); where the original speaks and the
query is silent, it was stripped (`audio_missing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import cv2
import numpy as np

from fingerprint.audio.landmarks import LOUDNESS_STEP, AudioFingerprint, pair_hashes

# Speeds tried, as original seconds per query second. A tempo change (pitch kept, as editors and `atempo` do it)
# only stretches time: steps of 2.2% leave a 1 s hash pair less than one 16 ms frame off. Resampling also scales
# pitch, and a peak at 1500 Hz moves a 15.6 Hz bin per 1% of speed, so those hypotheses are 0.5% apart.
TEMPO_SPEEDS = tuple(float(s) for s in np.round(np.geomspace(0.8, 1.25, 21), 4))
RESAMPLE_SPEEDS = tuple(float(s) for s in np.round(np.geomspace(0.8, 1.25, 91), 4) if abs(s - 1) > 1e-3)
MIN_VOTES = 12  # aligned hash pairs below which there is no match: unrelated 10 s clips reach 4-8
MIN_SCORE = 0.04  # aligned share of the query's hashes; a re-encoded excerpt scores 0.2-0.6
_MAX_HITS_PER_HASH = 64  # a hash that common (a steady tone) says little about where the clip sits

# compare_segment: a query peak agrees when the original has a peak within this many frames and bins of it.
PEAK_TOLERANCE_FRAMES, PEAK_TOLERANCE_BINS = 2, 1
WINDOW = 0.6  # seconds of peaks pooled for each step's similarity
# Share of agreeing peaks under which a window is altered: half the segment's genuine level, within these bounds.
# Re-encoded originals agree at 0.5-0.9, another voice at 0-0.15.
ALTERED_BELOW = (0.2, 0.4)
MIN_WINDOW_PEAKS = 4  # fewer peaks than this in a window and its similarity is not judged
SPAN_AGREEMENT_MAX = 0.3  # pooled over an altered span; genuine dips pool at 0.35-0.45, swaps at 0-0.23
MIN_SPAN_PEAKS = 10  # an altered span needs this much evidence
ACTIVE_DB = -50.0  # louder than this is sound worth comparing (dBFS, 0.1 s RMS)
SILENT_DB = -65.0  # quieter than this where the original is active is missing sound
MIN_SPAN = 0.4  # seconds: shorter flagged runs are noise
MAX_GAP = 0.3  # seconds: flagged runs this close are one span

SpanKind = Literal["audio_altered", "audio_missing"]


@dataclass(frozen=True, slots=True)
class AudioMatch:
    """Where a query's sound sits in an original: query seconds [start, end] play original [original_start, ...].

    `speed` is original seconds per query second; `offset` is the original time at query time 0, so
    original_time = offset + speed * query_time. `score` is the share of the query's hashes that agree.
    """

    offset: float
    speed: float
    score: float
    votes: int
    start: float
    end: float
    original_start: float
    original_end: float


@dataclass(frozen=True, slots=True)
class AudioSpan:
    """A stretch of the query, in query seconds, whose sound differs from the original's."""

    start: float
    end: float
    kind: SpanKind


@dataclass(frozen=True, slots=True)
class AudioComparison:
    """The query's sound against the original's over one aligned segment.

    `similarity` is the share of the query's peaks that the original has too (None when neither side has sound
    there); `profile` is the same per `profile_step` seconds from the segment's start (NaN where not judged).
    """

    similarity: float | None
    spans: tuple[AudioSpan, ...]
    query_has_audio: bool
    profile_step: float
    profile: tuple[float, ...]


def match_audio(reference: AudioFingerprint, query: AudioFingerprint) -> AudioMatch | None:
    """The best alignment of `query` inside `reference` over all speed hypotheses; None when none gathers enough."""
    ref_hashes, ref_frames = reference.hashes()
    if len(ref_hashes) == 0 or len(query.frames) < 2:
        return None
    q_frames = query.frames.astype(np.float64)
    q_bins = query.bins.astype(np.float64)
    best: _Votes | None = None
    for hypotheses in (
        [(speed, q_bins) for speed in TEMPO_SPEEDS],
        [(speed, q_bins / speed) for speed in RESAMPLE_SPEEDS],
    ):
        for speed, bins in hypotheses:
            candidate = _vote(ref_hashes, ref_frames, q_frames * speed, bins, speed=speed)
            if candidate is not None and (best is None or candidate.votes > best.votes):
                best = candidate
        # A clear match with pitch kept needs no look at pitch-shifted hypotheses (the common case, and 80% of
        # the work when skipped).
        if best is not None and best.votes >= 3 * MIN_VOTES and best.votes >= 2 * MIN_SCORE * best.hashes:
            break
    if best is None or best.votes < MIN_VOTES or best.votes < MIN_SCORE * best.hashes:
        return None
    # The grid leaves up to 1% of speed error, 0.1 s over a 10 s clip: a line through the agreeing pairs removes it.
    if np.ptp(best.query_frames) > 0:
        speed, offset = np.polyfit(best.query_frames, best.reference_frames, 1)
    else:
        speed, offset = best.speed, float(np.mean(best.reference_frames - best.query_frames * best.speed))
    frame_s = reference.frame_seconds
    return AudioMatch(
        offset=reference.start + float(offset) * frame_s - query.start * float(speed),
        speed=float(speed),
        score=best.votes / best.hashes,
        votes=best.votes,
        start=query.start + float(best.query_frames.min()) * frame_s,
        end=query.start + float(best.query_frames.max()) * frame_s,
        original_start=reference.start + float(best.reference_frames.min()) * frame_s,
        original_end=reference.start + float(best.reference_frames.max()) * frame_s,
    )


class _Votes(NamedTuple):
    """The winning offset of one speed hypothesis and the (query, original) frame pairs that voted for it."""

    speed: float
    votes: int
    hashes: int
    query_frames: np.ndarray
    reference_frames: np.ndarray


def _vote(
    ref_hashes: np.ndarray, ref_frames: np.ndarray, frames: np.ndarray, bins: np.ndarray, *, speed: float
) -> _Votes | None:
    """Offset votes of one speed hypothesis, frames relative to each fingerprint's own start."""
    hashes, anchors = pair_hashes(frames, bins)
    if len(hashes) == 0:
        return None
    lo = np.searchsorted(ref_hashes, hashes, side="left")
    hi = np.minimum(np.searchsorted(ref_hashes, hashes, side="right"), lo + _MAX_HITS_PER_HASH)
    counts = hi - lo
    if counts.sum() == 0:
        return None
    query_index = np.repeat(np.arange(len(hashes)), counts)
    ref_index = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    offsets = ref_frames[ref_index] - anchors[query_index]
    low = offsets.min()
    histogram = np.bincount(offsets - low)
    # Peaks move by a frame on re-encoding: count each offset with its neighbours.
    smoothed = np.convolve(histogram, np.ones(3, dtype=np.int64), mode="same")
    best = int(np.argmax(smoothed))
    agree = np.abs(offsets - low - best) <= 1
    return _Votes(
        speed=speed,
        votes=int(smoothed[best]),
        hashes=len(hashes),
        query_frames=anchors[query_index[agree]] / speed,
        reference_frames=ref_frames[ref_index[agree]].astype(np.float64),
    )


def compare_segment(
    reference: AudioFingerprint,
    query: AudioFingerprint | None,
    *,
    query_start: float,
    query_end: float,
    original_start: float,
    speed: float = 1.0,
) -> AudioComparison:
    """Compare sound over query seconds [query_start, query_end], which show original seconds from `original_start`.

    `speed` is original seconds per query second. `query` None means the query has no audio track at all.
    """
    step = LOUDNESS_STEP
    count = max(0, int(np.floor((query_end - query_start) / step + 1e-9)))
    centres = query_start + (np.arange(count) + 0.5) * step
    # Only where the original was fingerprinted (registration may have stopped at its cap) is there anything to say.
    covered = _covers(reference, original_start + (centres - query_start) * speed)
    ref_active = covered & (_loudness_at(reference, original_start + (centres - query_start) * speed) > ACTIVE_DB)
    if query is None:
        # No track at all: the whole segment lacks its sound, pauses included, if the original has any there.
        return AudioComparison(
            similarity=None,
            spans=tuple(
                _spans(np.full(count, ref_active.any()), centres, step, "audio_missing", query_start, query_end)
            ),
            query_has_audio=False,
            profile_step=step,
            profile=tuple(float("nan") for _ in range(count)),
        )
    q_loud = _loudness_at(query, centres)
    agree, q_times = _agreeing_peaks(reference, query, query_start, query_end, original_start, speed)
    # Peaks per window around each step centre, by cumulative counts over sorted peak times.
    order = np.argsort(q_times)
    q_sorted, agree_cum = q_times[order], np.concatenate([[0], np.cumsum(agree[order])])
    lo = np.searchsorted(q_sorted, centres - WINDOW / 2)
    hi = np.searchsorted(q_sorted, centres + WINDOW / 2)
    peaks = hi - lo
    matched = agree_cum[hi] - agree_cum[lo]
    judged = covered & (peaks >= MIN_WINDOW_PEAKS) & (ref_active | (q_loud > ACTIVE_DB))
    profile = np.where(judged, matched / np.maximum(peaks, 1), np.nan)
    q_silent = q_loud < SILENT_DB
    missing = ref_active & q_silent
    # Halfway between how well this query's genuine stretches agree (codecs differ) and zero, within bounds.
    genuine = float(np.nanpercentile(profile, 75)) if judged.any() else 0.0
    threshold = float(np.clip(genuine / 2, *ALTERED_BELOW))
    altered = judged & ~missing & (profile < threshold)
    # A run of low windows is a swap only if its peaks, pooled, mostly disagree: a codec's bad half second dips
    # to the threshold, another voice stays far below it.
    altered_spans = [
        span
        for span in _spans(altered, centres, step, "audio_altered", query_start, query_end)
        if _pooled_agreement(agree, q_times, span) <= min(threshold, SPAN_AGREEMENT_MAX)
    ]
    spans = sorted(
        _spans(missing, centres, step, "audio_missing", query_start, query_end, bridge=q_silent & ~ref_active)
        + altered_spans,
        key=lambda span: span.start,
    )
    inside = (q_times >= query_start) & (q_times <= query_end)
    inside &= _covers(reference, original_start + (q_times - query_start) * speed)
    return AudioComparison(
        similarity=float(agree[inside].mean()) if inside.any() else None,
        spans=tuple(spans),
        query_has_audio=True,
        profile_step=step,
        profile=tuple(float(v) for v in profile),
    )


def _agreeing_peaks(
    reference: AudioFingerprint,
    query: AudioFingerprint,
    query_start: float,
    query_end: float,
    original_start: float,
    speed: float,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query peak near the segment: whether the original has a peak where the alignment puts it."""
    q_times = query.peak_times()
    near = (q_times >= query_start - WINDOW) & (q_times <= query_end + WINDOW)
    q_times, q_bins = q_times[near], query.bins[near].astype(np.int64)
    ref_frame = np.rint((original_start + (q_times - query_start) * speed - reference.start) / reference.frame_seconds)
    ref_frame = ref_frame.astype(np.int64)
    agree = np.zeros(len(q_times), dtype=bool)
    if len(q_times) == 0 or len(reference.frames) == 0:
        return agree, q_times
    first = max(0, int(ref_frame.min()) - PEAK_TOLERANCE_FRAMES)
    last = int(ref_frame.max()) + PEAK_TOLERANCE_FRAMES + 1
    grid = np.zeros((max(1, last - first), 256), dtype=np.uint8)
    ref_frames = reference.frames.astype(np.int64)
    sel = (ref_frames >= first) & (ref_frames < last)
    grid[ref_frames[sel] - first, reference.bins[sel]] = 1
    kernel = np.ones((2 * PEAK_TOLERANCE_FRAMES + 1, 2 * PEAK_TOLERANCE_BINS + 1), dtype=np.uint8)
    grid = cv2.dilate(grid, kernel)
    # A speed change by resampling also moves pitch; accept a peak at either its own bin or the rescaled one.
    rows = ref_frame - first
    inside = (rows >= 0) & (rows < grid.shape[0])
    for bins in [q_bins] if speed == 1.0 else [q_bins, np.rint(q_bins / speed).astype(np.int64)]:
        column = np.clip(bins, 0, 255)
        agree[inside] |= grid[rows[inside], column[inside]] > 0
    return agree, q_times


def _pooled_agreement(agree: np.ndarray, times: np.ndarray, span: AudioSpan) -> float:
    """Share of agreeing peaks inside `span`; 1 (no evidence of a change) with fewer than MIN_SPAN_PEAKS."""
    inside = (times >= span.start) & (times <= span.end)
    return float(agree[inside].mean()) if inside.sum() >= MIN_SPAN_PEAKS else 1.0


def _covers(fingerprint: AudioFingerprint, times: np.ndarray) -> np.ndarray:
    return (times >= fingerprint.start) & (times < fingerprint.start + fingerprint.duration)


def _loudness_at(fingerprint: AudioFingerprint, times: np.ndarray) -> np.ndarray:
    """Loudness (dBFS) at container times; silence outside the track."""
    index = np.floor((times - fingerprint.start) / LOUDNESS_STEP).astype(np.int64)
    valid = (index >= 0) & (index < len(fingerprint.loudness))
    out = np.full(len(times), -120.0)
    out[valid] = fingerprint.loudness[index[valid]]
    return out


def _spans(
    flags: np.ndarray,
    centres: np.ndarray,
    step: float,
    kind: SpanKind,
    lower: float,
    upper: float,
    *,
    bridge: np.ndarray | None = None,
) -> list[AudioSpan]:
    """Runs of flagged steps as spans, runs shorter than MIN_SPAN dropped.

    Runs merge when closer than MAX_GAP or when every step between them is in `bridge` (a pause of the original
    inside a stretch where the query is silent is part of the missing sound, not a break in it).
    """
    runs: list[list[float]] = []
    last = -1
    for index in np.flatnonzero(flags):
        begin, end = centres[index] - step / 2, centres[index] + step / 2
        bridged = bridge is not None and last >= 0 and bool(bridge[last + 1 : index].all())
        last = index
        if runs and (begin - runs[-1][1] <= MAX_GAP + 1e-9 or bridged):
            runs[-1][1] = end
        else:
            runs.append([begin, end])
    return [
        AudioSpan(start=round(float(max(lower, b)), 3), end=round(float(min(upper, e)), 3), kind=kind)
        for b, e in runs
        if e - b >= MIN_SPAN - 1e-9
    ]
