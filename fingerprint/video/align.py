"""Temporal matching: where in an original a query clip sits, at what speed, and which of its frames differ.

1. `hypotheses`: every index hit (a query frame near an original frame) votes, for each speed in `SPEEDS`, for the
   offset that would put those two frames together; the peaks are (speed, offset, variant) hypotheses.
2. `fit`: against the original's frames decoded densely around a hypothesis, a grid search over speed and offset
   minimises the mean (clipped) frame distance: a sliding window that also slides in speed. When that leaves many
   frames unexplained (frames dropped or repeated, speed drifting), subsequence DTW aligns frame by frame instead.
3. `spans`: frames whose aligned distance exceeds `MATCH_DISTANCE` form `altered` spans (or `inserted` ones when
   they look like nothing in the original); frames outside every aligned segment are `inserted` footage.

A match is decided on the share of the *query's* frames matched, never on the share of the original covered: an
excerpt of a long original covers little of it by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fingerprint.video.track import FrameTrack, distances

# A query frame within this many PDQ bits of its aligned original frame shows that frame (PDQ's usual threshold).
MATCH_DISTANCE = 31
# A run of unmatched aligned frames whose median distance reaches this shows other footage (unrelated frames sit
# at 110-130 bits; a repainted region of a tenth of the frame at 40-60).
INSERTED_DISTANCE = 90
# Frames an aligned segment needs, and the share of the query's frames a match needs.
MIN_MATCHED_FRAMES = 3
MIN_MATCHED_SHARE = 0.25
# Speeds (original seconds per query second) the votes consider; 0.75-1.35 covers the 0.8-1.25x edits platforms make.
SPEEDS = np.round(np.arange(0.75, 1.3501, 0.025), 3)
_OFFSET_BIN = 0.25  # seconds
_CLIP = 64  # distances are clipped here in fits, so a doctored frame weighs like a merely unmatched one
_FIT_SPEED_STEP, _FIT_SPEED_RANGE = 0.005, 0.1
_FIT_OFFSET_STEP, _FIT_OFFSET_RANGE = 0.02, 0.6
_DTW_MIN_SHARE = 0.8  # below this share of the query's frames matched by the linear fit, try DTW
_DTW_MIN_GAIN = 2  # frames DTW must match beyond the linear fit to be preferred
_QUALITY = 50  # PDQ quality below which a frame's distance says nothing (a black or flat frame)

SpanKind = Literal["altered", "inserted"]


@dataclass(frozen=True, slots=True)
class FrameHit:
    """One index hit: a query frame at `query_time` near an original frame at `time`."""

    query_time: float
    time: float
    distance: int
    query_variant: str
    variant: str


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """Query time t shows original time `offset + speed * t`, comparing `query_variant` with `variant` hashes."""

    speed: float
    offset: float
    query_variant: str
    variant: str
    votes: int  # distinct query frames that voted for it

    def original_time(self, t: float | np.ndarray) -> float | np.ndarray:
        return self.offset + self.speed * t


@dataclass(frozen=True, slots=True, eq=False)
class TemporalFit:
    """A hypothesis refined on densely decoded original frames: per query frame, its original time and distance."""

    speed: float
    offset: float
    query_variant: str
    variant: str
    original_times: np.ndarray  # (n,) float64, aligned original time of each query frame
    distances: np.ndarray  # (n,) int32, PDQ distance to the original frame shown then
    warped: bool  # aligned frame by frame (DTW) rather than by one speed and offset


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the query that shows a stretch of the original (seconds)."""

    start: float
    end: float
    original_start: float
    original_end: float
    speed: float
    matched_share: float  # of this segment's query frames
    query_variant: str  # identity or flip_horizontal (mirrored)
    variant: str  # the original's hash variant: canonical or portrait (a centred 9:16 crop)


@dataclass(frozen=True, slots=True)
class Span:
    """Query seconds that differ from the original: `altered` frames of it, or `inserted` footage."""

    kind: SpanKind
    start: float
    end: float
    original_start: float | None  # None for footage inserted outside any aligned segment
    original_end: float | None
    distance: int  # the largest frame distance in it
    peak: float  # query time of that frame: where the span's regions are localised


@dataclass(frozen=True, slots=True, eq=False)
class Timeline:
    """Everything temporal matching says about a query against one original."""

    segments: tuple[Segment, ...]
    spans: tuple[Span, ...]
    times: np.ndarray  # (n,) query frame times
    original_times: np.ndarray  # (n,) float64, NaN where no segment covers the frame
    distances: np.ndarray  # (n,) int32, -1 where no segment covers the frame
    matched_share: float  # of the query's trustworthy frames


def hypotheses(hits: Sequence[FrameHit], *, limit: int = 3) -> list[Hypothesis]:
    """The best-supported (speed, offset, variant) hypotheses, strongest first, each a different placement."""
    found: list[Hypothesis] = []
    pairs = sorted({(hit.query_variant, hit.variant) for hit in hits})
    for query_variant, variant in pairs:
        chosen = [hit for hit in hits if hit.query_variant == query_variant and hit.variant == variant]
        query_times = np.array([hit.query_time for hit in chosen])
        times = np.array([hit.time for hit in chosen])
        frame_ids = np.unique(query_times, return_inverse=True)[1]
        for speed in SPEEDS:
            bins = np.floor((times - speed * query_times) / _OFFSET_BIN).astype(np.int64)
            low = bins.min()
            # each query frame votes once per offset bin, and a bin also counts its neighbours' votes
            unique = np.unique(np.stack([frame_ids, bins - low]), axis=1)
            counts = np.bincount(unique[1], minlength=int(bins.max() - low) + 3)
            smoothed = counts + np.roll(counts, 1) + np.roll(counts, -1)
            best = int(np.argmax(smoothed))
            found.append(
                Hypothesis(float(speed), (best + low + 0.5) * _OFFSET_BIN, query_variant, variant, int(smoothed[best]))
            )
    found.sort(key=lambda h: (-h.votes, abs(h.speed - 1.0), h.offset, h.query_variant, h.variant))
    kept: list[Hypothesis] = []
    for hypothesis in found:
        if hypothesis.votes < MIN_MATCHED_FRAMES or len(kept) >= limit:
            break
        if all(abs(hypothesis.offset - other.offset) > 2.0 for other in kept):
            kept.append(hypothesis)
    return kept


def fit(query: FrameTrack, original: FrameTrack, hypothesis: Hypothesis) -> TemporalFit:
    """Refine a hypothesis against the original's frames decoded densely around it (`original`: its window)."""
    times = query.times
    raw = distances(query.variant(hypothesis.query_variant), original.variant(hypothesis.variant))
    cost = np.minimum(raw, _CLIP)
    speeds = hypothesis.speed + np.arange(-_FIT_SPEED_RANGE, _FIT_SPEED_RANGE + 1e-9, _FIT_SPEED_STEP)
    offsets = hypothesis.offset + np.arange(-_FIT_OFFSET_RANGE, _FIT_OFFSET_RANGE + 1e-9, _FIT_OFFSET_STEP)
    aligned = offsets[:, None, None] + speeds[None, :, None] * times[None, None, :]
    columns = original.at(aligned)
    score = cost[np.arange(len(times))[None, None, :], columns].mean(axis=2)
    # ties (a static shot) go to the speed nearest 1 and then the smallest offset change
    penalty = 1e-3 * np.abs(speeds - 1.0)[None, :] + 1e-4 * np.abs(offsets - hypothesis.offset)[:, None]
    o, s = np.unravel_index(np.argmin(score + penalty), score.shape)
    speed, offset = float(speeds[s]), float(offsets[o])
    linear = TemporalFit(
        speed,
        offset,
        hypothesis.query_variant,
        hypothesis.variant,
        offset + speed * times,
        raw[np.arange(len(times)), columns[o, s]].astype(np.int32),
        warped=False,
    )
    matched = int(np.sum(linear.distances <= MATCH_DISTANCE))
    if matched >= _DTW_MIN_SHARE * len(times):
        return linear
    warped = _dtw(cost, raw, original.times, times, hypothesis)
    # DTW may bend the path anywhere: it has to explain clearly more frames than one speed and offset do
    return warped if np.sum(warped.distances <= MATCH_DISTANCE) > matched + _DTW_MIN_GAIN else linear


def timeline(
    query: FrameTrack, fits: Sequence[TemporalFit], *, duration: float, min_share: float = MIN_MATCHED_SHARE
) -> Timeline | None:
    """Segments and spans from the fits (best first); None when too little of the query matches."""
    n = len(query)
    trusted = query.qualities >= _QUALITY
    owner = np.full(n, -1)
    segments: list[Segment] = []
    used: list[TemporalFit] = []
    for candidate in fits:
        matched = (candidate.distances <= MATCH_DISTANCE) & trusted & (owner < 0)
        if matched.sum() < MIN_MATCHED_FRAMES:
            continue
        first, last = np.flatnonzero(matched)[[0, -1]]
        inside = np.zeros(n, dtype=bool)
        inside[first : last + 1] = True
        inside &= owner < 0
        owner[inside] = len(used)
        used.append(candidate)
        end = _frame_end(query.times, last, duration)
        segments.append(
            Segment(
                start=round(float(query.times[first]), 3),
                end=round(end, 3),
                original_start=round(float(candidate.original_times[first]), 3),
                original_end=round(float(candidate.offset + candidate.speed * end), 3)
                if not candidate.warped
                else round(float(candidate.original_times[last]), 3),
                speed=round(candidate.speed, 3),
                matched_share=round(float(matched[inside].sum() / max(1, (inside & trusted).sum())), 4),
                query_variant=candidate.query_variant,
                variant=candidate.variant,
            )
        )
    original_times = np.full(n, np.nan)
    frame_distances = np.full(n, -1, dtype=np.int32)
    for number, candidate in enumerate(used):
        mine = owner == number
        original_times[mine] = candidate.original_times[mine]
        frame_distances[mine] = candidate.distances[mine]
    matched_all = (frame_distances >= 0) & (frame_distances <= MATCH_DISTANCE) & trusted
    share = float(matched_all.sum() / max(1, trusted.sum()))
    if not segments or share < min_share:
        return None
    spans = _spans(query.times, owner, frame_distances, original_times, trusted, duration)
    order = np.argsort([segment.start for segment in segments], kind="stable")
    return Timeline(
        tuple(segments[i] for i in order), spans, query.times, original_times, frame_distances, round(share, 4)
    )


def _spans(
    times: np.ndarray,
    owner: np.ndarray,
    frame_distances: np.ndarray,
    original_times: np.ndarray,
    trusted: np.ndarray,
    duration: float,
) -> tuple[Span, ...]:
    """Runs of differing frames: unmatched frames inside a segment, and frames that no segment covers."""
    state = np.where(owner < 0, 2, np.where(frame_distances > MATCH_DISTANCE, 1, 0))
    state[~trusted & (owner >= 0)] = 0  # a flat frame inside a segment is neither matched nor altered
    found: list[Span] = []
    i = 0
    while i < len(times):
        if state[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(times) and state[j + 1] == state[i]:
            j += 1
        run = slice(i, j + 1)
        end = _frame_end(times, j, duration)
        if state[i] == 2:
            found.append(Span("inserted", round(float(times[i]), 3), round(end, 3), None, None, -1, float(times[i])))
        else:
            peak = i + int(np.argmax(frame_distances[run]))
            worst = int(frame_distances[peak])
            # a lone frame just over the threshold is re-encoding noise, not an edit
            if j > i or worst > MATCH_DISTANCE + 10:
                kind: SpanKind = "inserted" if np.median(frame_distances[run]) >= INSERTED_DISTANCE else "altered"
                found.append(
                    Span(
                        kind,
                        round(float(times[i]), 3),
                        round(end, 3),
                        round(float(original_times[i]), 3),
                        round(float(original_times[j] + (end - times[j])), 3),
                        worst,
                        float(times[peak]),
                    )
                )
        i = j + 1
    return tuple(found)


def _dtw(
    cost: np.ndarray, raw: np.ndarray, original_times: np.ndarray, times: np.ndarray, hypothesis: Hypothesis
) -> TemporalFit:
    """Subsequence DTW: free start and end in the original, each query frame one original frame, never backwards,
    at most about twice the fastest speed's step forward per query frame."""
    n, m = cost.shape
    step = float(np.median(np.diff(times))) if n > 1 else 1.0
    spacing = float(np.median(np.diff(original_times))) if m > 1 else 1.0
    reach = max(1, int(np.ceil(2 * SPEEDS[-1] * step / max(spacing, 1e-3))))
    total = cost[0].astype(np.float64)
    back = np.zeros((n, m), dtype=np.int64)
    for i in range(1, n):
        previous = np.full((reach + 1, m), np.inf)
        for k in range(reach + 1):
            previous[k, k:] = total[: m - k] if k else total
        best = np.argmin(previous, axis=0)
        back[i] = np.arange(m) - best
        total = cost[i] + previous[best, np.arange(m)]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    aligned = original_times[path]
    speed, offset = np.polyfit(times, aligned, 1) if n > 1 else (1.0, float(aligned[0] - times[0]))
    return TemporalFit(
        float(speed),
        float(offset),
        hypothesis.query_variant,
        hypothesis.variant,
        aligned.astype(np.float64),
        raw[np.arange(n), path].astype(np.int32),
        warped=True,
    )


def _frame_end(times: np.ndarray, index: int, duration: float) -> float:
    """When the frame at `index` stops showing: the next frame's time, or the end of the clip."""
    return float(times[index + 1]) if index + 1 < len(times) else max(float(times[index]), duration)
