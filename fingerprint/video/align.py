"""Temporal matching: where in an original a query clip sits, at what speed, and which of its frames differ.

1. `hypotheses`: every index hit (a query frame near an original frame) votes, for each speed in `SPEEDS`, for the
   offset that would put those two frames together; the peaks are (speed, offset, variant) hypotheses.
2. `fit`: against the original's every frame around a hypothesis, each at its own (native) time, a grid search over
   speed and offset minimises the mean (clipped) frame distance, read between the two original frames on either
   side of each aligned time: a sliding window that also slides in speed. When that leaves many frames unexplained
   (frames dropped or repeated, speed drifting), subsequence DTW aligns frame by frame instead. Each query frame is
   then compared with the original frames shown within the fit's time uncertainty of its aligned time (always the
   two either side of it): a difference that a frame half an interval away explains is motion, not an edit.
3. `timeline`: frames whose aligned distance exceeds `MATCH_DISTANCE` form `altered` spans (grown over their
   neighbours still clearly above the clip's own noise), and frames that look like nothing in the original
   `inserted` ones; a span's ends are then found on the clip's own frames between the sampled ones (`ClipSource`),
   so they fall on real frame times.

A match is decided on the share of the *query's* frames matched, never on the share of the original covered: an
excerpt of a long original covers little of it by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, overload

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
_FINE = 5  # the coarse grid's best is refined on a grid this many times finer, one coarse step either side
_RECENTRE = 3  # coarse searches at most, each around the last one's best when that fell on the grid's edge
# Seconds a fitted alignment may be off (a fine grid step over a minute of clip is about 0.012 s): each query frame
# is compared with every original frame shown within this of its aligned time, and the next one.
_SLACK = 0.015
_DTW_MIN_SHARE = 0.8  # below this share of the query's frames matched by the linear fit, try DTW
_DTW_MIN_GAIN = 2  # frames DTW must match beyond the linear fit to be preferred
_QUALITY = 50  # PDQ quality below which a frame's distance says nothing (a black or flat frame)
_ELSEWHERE_SHARE = 0.5  # an altered run most of whose frames show the original at other times is no edit
_ELSEWHERE_GAP = 1.0  # seconds from its aligned time beyond which a frame's match is footage from elsewhere
_LONE_MARGIN = 10  # a lone frame over MATCH_DISTANCE is an edit only this far over it
_NOISE_MARGIN = 4  # bits above a clip's own noise (median + 3 MAD of its matched frames) that a span grows over
# Sampled frames in a row clearly above a quiet clip's noise that make a span though none reaches MATCH_DISTANCE: a
# small box moves PDQ less than that, but it moves every frame it covers (16-34 bits for 4 s over a 50 fps clip
# whose other frames sit at 0-4). Like every span, it stands only if the image analysis of its most changed frame
# pair sees the change (fingerprint.kinds.video).
_SUSTAINED = 6

SpanKind = Literal["altered", "inserted"]


class ClipSource(Protocol):
    """The clip itself, for what its sampled track cannot tell."""

    def frames(self, stretches: Sequence[tuple[float, float]]) -> FrameTrack:
        """Every frame inside the stretches (seconds), unpruned, each at its own time (upright and mirrored codes)."""
        ...

    def shows(self, t: float, original_t: float, query_variant: str) -> bool:
        """Whether the clip's frame at `t` shows the original's frame at `original_t`, however much of it was
        changed (the same scene under one geometric transform, verified on keypoints)."""
        ...


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

    @overload
    def original_time(self, t: float) -> float: ...
    @overload
    def original_time(self, t: np.ndarray) -> np.ndarray: ...
    def original_time(self, t: float | np.ndarray) -> float | np.ndarray:
        return self.offset + self.speed * t


@dataclass(frozen=True, slots=True, eq=False)
class TemporalFit:
    """A hypothesis refined on the original's frames at their native times (`window`): per query frame, the
    original time it shows, the original frame it is compared with and their distance."""

    speed: float
    offset: float
    query_variant: str
    variant: str
    times: np.ndarray  # (n,) the query frames' times
    aligned: np.ndarray  # (n,) float64, the original time each query frame shows (on the line, or the DTW path)
    original_times: np.ndarray  # (n,) float64, native time of the original frame it is compared with
    distances: np.ndarray  # (n,) int32, PDQ distance to that frame: the likest one within the fit's uncertainty
    elsewhere: np.ndarray  # (n,) bool, matches a frame of the window far from its aligned time
    warped: bool  # aligned frame by frame (DTW) rather than by one speed and offset
    window: FrameTrack  # the original's frames it was fitted on, unpruned

    def original_time(self, t: np.ndarray) -> np.ndarray:
        """The original time query time `t` shows: the line, or the DTW path (interpolated between query frames,
        extended at its fitted speed beyond them)."""
        line = self.offset + self.speed * t
        if not self.warped:
            return line
        inside = np.interp(t, self.times, self.aligned)
        before = self.aligned[0] + self.speed * (t - self.times[0])
        after = self.aligned[-1] + self.speed * (t - self.times[-1])
        return np.where(t < self.times[0], before, np.where(t > self.times[-1], after, inside))

    def compare(self, codes: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Other query frames (`codes` under this fit's query variant, at `times`) against the original frames
        their aligned times show: distances and the compared frames' native times."""
        raw = distances(codes, self.window.variant(self.variant))
        return _nearby(raw, self.window.times, self.original_time(times))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the query that shows a stretch of the original (seconds), at the speed those times imply."""

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
    """Query seconds that differ from the original: `altered` frames of it, or `inserted` footage.

    `start` and `end` are frame times of the clip (its first differing frame, the first one after); `peak` is the
    sampled frame that differs most, where the span's regions are localised, compared with the original frame at
    `original_peak` (None for inserted footage)."""

    kind: SpanKind
    start: float
    end: float
    original_start: float | None  # None for inserted footage
    original_end: float | None
    distance: int  # the largest frame distance in it
    peak: float
    original_peak: float | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Timeline:
    """Everything temporal matching says about a query against one original."""

    segments: tuple[Segment, ...]
    spans: tuple[Span, ...]
    times: np.ndarray  # (n,) query frame times
    original_times: np.ndarray  # (n,) float64, the compared original frame's native time; NaN outside segments
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
            peak = int(np.argmax(smoothed))
            found.append(
                Hypothesis(float(speed), (peak + low + 0.5) * _OFFSET_BIN, query_variant, variant, int(smoothed[peak]))
            )
    found.sort(key=lambda h: (-h.votes, abs(h.speed - 1.0), h.offset, h.query_variant, h.variant))
    kept: list[Hypothesis] = []
    for hypothesis in found:
        if hypothesis.votes < MIN_MATCHED_FRAMES or len(kept) >= limit:
            break
        if all(abs(hypothesis.offset - other.offset) > 2.0 for other in kept):
            kept.append(hypothesis)
    if kept or not found:
        return kept
    # One or two hits say little on their own (under a fast camera move a clip's sampled frames are rarely the very
    # frames the original's track holds), but they say where to look: the best-voted placement at speeds far enough
    # apart for the fits (each +-_FIT_SPEED_RANGE) to cover 0.75-1.35x; the fits, on every frame, decide.
    best = found[0]
    for hypothesis in found:
        same = (hypothesis.query_variant, hypothesis.variant) == (best.query_variant, best.variant)
        if len(kept) >= limit or hypothesis.votes < best.votes:
            break
        if same and all(abs(hypothesis.speed - other.speed) >= 2 * _FIT_SPEED_RANGE for other in kept):
            kept.append(hypothesis)
    return kept


def fit(query: FrameTrack, original: FrameTrack, hypothesis: Hypothesis) -> TemporalFit:
    """Refine a hypothesis against the original's frames around it (`original`: every frame of its window, each at
    its native time)."""
    times = query.times
    raw = distances(query.variant(hypothesis.query_variant), original.variant(hypothesis.variant))
    cost = np.minimum(raw, _CLIP).astype(np.uint8)
    speed, offset = hypothesis.speed, hypothesis.offset
    for _ in range(_RECENTRE):
        # a best speed or offset at the grid's edge means the truth may lie beyond it: search again around it
        found = _grid(
            cost, original.times, times, speed, offset, _FIT_SPEED_STEP, _FIT_SPEED_RANGE, _FIT_OFFSET_STEP,
            _FIT_OFFSET_RANGE, anchor=hypothesis.offset,
        )  # fmt: skip
        edge = (
            abs(found[0] - speed) > _FIT_SPEED_RANGE - _FIT_SPEED_STEP / 2 and SPEEDS[0] < found[0] < SPEEDS[-1]
        ) or abs(found[1] - offset) > _FIT_OFFSET_RANGE - _FIT_OFFSET_STEP / 2
        speed, offset = found
        if not edge:
            break
    speed, offset = _grid(
        cost, original.times, times, speed, offset, _FIT_SPEED_STEP / _FINE, _FIT_SPEED_STEP,
        _FIT_OFFSET_STEP / _FINE, _FIT_OFFSET_STEP, anchor=offset,
    )  # fmt: skip
    aligned = offset + speed * times
    frame_distances, frame_times = _nearby(raw, original.times, aligned)
    linear = TemporalFit(
        speed, offset, hypothesis.query_variant, hypothesis.variant, times, aligned, frame_times, frame_distances,
        _elsewhere_in(raw, original.times, aligned), warped=False, window=original,
    )  # fmt: skip
    matched = int(np.sum(linear.distances <= MATCH_DISTANCE))
    if matched >= _DTW_MIN_SHARE * len(times):
        return linear
    path = _dtw(cost, original.times, times)
    aligned = original.times[path].astype(np.float64)
    # the path's overall speed, on the frames it matches (where it stalls, before or after the clip's footage, it
    # says nothing about speed)
    on = raw[np.arange(len(times)), path] <= MATCH_DISTANCE
    warped_speed, warped_offset = _line(times, aligned, on)
    frame_distances, frame_times = _nearby(raw, original.times, aligned)
    warped = TemporalFit(
        warped_speed, warped_offset, hypothesis.query_variant, hypothesis.variant, times, aligned, frame_times,
        frame_distances, _elsewhere_in(raw, original.times, aligned), warped=True, window=original,
    )  # fmt: skip
    # DTW may bend the path anywhere: it has to explain clearly more frames than one speed and offset do
    return warped if np.sum(warped.distances <= MATCH_DISTANCE) > matched + _DTW_MIN_GAIN else linear


def timeline(
    query: FrameTrack,
    fits: Sequence[TemporalFit],
    *,
    duration: float,
    min_share: float = MIN_MATCHED_SHARE,
    hits: Sequence[FrameHit] = (),
    clip: ClipSource | None = None,
) -> Timeline | None:
    """Segments and spans from the fits (best first); None when too little of the query matches.

    `hits`: the index's hits in this original (its footage, wherever it sits);
    `clip`: the clip itself, to place each span's ends between the sampled frames and to tell heavily changed
    footage from inserted footage (without it span ends stay on sampled frames, and PDQ alone tells)."""
    n = len(query)
    trusted = query.qualities >= _QUALITY
    owner = np.full(n, -1)
    used: list[TemporalFit] = []
    for candidate in fits:
        matched = (candidate.distances <= MATCH_DISTANCE) & trusted & (owner < 0)
        if matched.sum() < MIN_MATCHED_FRAMES:
            continue
        first, last = np.flatnonzero(matched)[[0, -1]]
        inside = np.zeros(n, dtype=bool)
        inside[first : last + 1] = True
        owner[inside & (owner < 0)] = len(used)
        used.append(candidate)
    _extend(owner, used, trusted)
    if clip is not None:
        _claim(owner, used, trusted, query.times, clip)
    original_times = np.full(n, np.nan)
    frame_distances = np.full(n, -1, dtype=np.int32)
    for number, candidate in enumerate(used):
        mine = owner == number
        original_times[mine] = candidate.original_times[mine]
        frame_distances[mine] = candidate.distances[mine]
    matched_all = (frame_distances >= 0) & (frame_distances <= MATCH_DISTANCE) & trusted
    share = float(matched_all.sum() / max(1, trusted.sum()))
    if not used or share < min_share:
        return None
    segments = [_segment(query.times, owner == k, candidate, trusted, duration) for k, candidate in enumerate(used)]
    elsewhere = _elsewhere(query.times, owner, used, hits)
    spans = _Spans(query, owner, used, frame_distances, original_times, trusted, elsewhere, duration, clip)
    order = np.argsort([segment.start for segment in segments], kind="stable")
    return Timeline(
        tuple(segments[i] for i in order), spans.found(), query.times, original_times, frame_distances, round(share, 4)
    )


def _extend(owner: np.ndarray, used: Sequence[TemporalFit], trusted: np.ndarray) -> None:
    """Grow each segment over the uncovered frames beside it that are still its footage: frames its alignment puts
    within `INSERTED_DISTANCE` (changed, or merely unmatched, at a clip's ends) and flat frames that say nothing.
    Only what is left shows something else."""
    n = len(owner)
    for number, candidate in enumerate(used):
        mine = np.flatnonzero(owner == number)
        if len(mine) == 0:
            continue
        for step, k in ((1, mine[-1] + 1), (-1, mine[0] - 1)):
            while 0 <= k < n and owner[k] < 0 and (not trusted[k] or candidate.distances[k] < INSERTED_DISTANCE):
                owner[k] = number
                k += step


def _claim(
    owner: np.ndarray, used: Sequence[TemporalFit], trusted: np.ndarray, times: np.ndarray, clip: ClipSource
) -> None:
    """Give each run of uncovered frames beside a segment to it when the clip's frame there shows the original's
    frame its alignment puts there (keypoints verified): footage so changed that PDQ cannot tell (a large box
    painted over a clip's first seconds), not footage the original lacks."""
    n = len(owner)
    i = 0
    while i < n:
        if owner[i] >= 0:
            i += 1
            continue
        j = i
        while j + 1 < n and owner[j + 1] < 0:
            j += 1
        run = np.arange(i, j + 1)
        judged = run[trusted[run]]
        for side in (i - 1, j + 1):
            if not 0 <= side < n or owner[side] < 0 or len(judged) == 0:
                continue
            candidate = used[int(owner[side])]
            peak = int(judged[np.argmax(candidate.distances[judged])])
            if clip.shows(float(times[peak]), float(candidate.original_times[peak]), candidate.query_variant):
                owner[run] = owner[side]
                break
        i = j + 1


def _segment(
    times: np.ndarray, mine: np.ndarray, candidate: TemporalFit, trusted: np.ndarray, duration: float
) -> Segment:
    """One fit's stretch of the query; its original times and speed from one line through its matched frames, so
    `original_end - original_start` is `speed * (end - start)`."""
    indexes = np.flatnonzero(mine)
    first, last = int(indexes[0]), int(indexes[-1])
    matched = mine & trusted & (candidate.distances <= MATCH_DISTANCE)
    if candidate.warped:
        speed, offset = _line(times, candidate.aligned, matched)
    else:
        speed, offset = candidate.speed, candidate.offset
    start, end = float(times[first]), _frame_end(times, last, duration)
    return Segment(
        start=round(start, 3),
        end=round(end, 3),
        original_start=round(offset + speed * start, 3),
        original_end=round(offset + speed * end, 3),
        speed=round(speed, 3),
        matched_share=round(float(matched.sum() / max(1, (mine & trusted).sum())), 4),
        query_variant=candidate.query_variant,
        variant=candidate.variant,
    )


def _elsewhere(
    times: np.ndarray, owner: np.ndarray, used: Sequence[TemporalFit], hits: Sequence[FrameHit]
) -> np.ndarray:
    """Query frames that show this original, if not where their alignment says (more than `_ELSEWHERE_GAP` from
    it, or anywhere for frames outside every segment): the index found them near one of its frames, or they match
    a frame of a fit's window."""
    found = np.zeros(len(times), dtype=bool)
    index = {round(float(t), 6): k for k, t in enumerate(times)}
    for hit in hits:
        k = index.get(round(hit.query_time, 6))
        if k is not None:
            found[k] |= owner[k] < 0 or abs(hit.time - used[int(owner[k])].aligned[k]) > _ELSEWHERE_GAP
    for number, candidate in enumerate(used):
        found |= candidate.elsewhere & ((owner < 0) | (owner == number))
    return found


def _elsewhere_in(raw: np.ndarray, window_times: np.ndarray, aligned: np.ndarray) -> np.ndarray:
    """Per query frame: whether it matches a frame of the window more than `_ELSEWHERE_GAP` from its aligned time."""
    far = np.abs(window_times[None, :] - aligned[:, None]) > _ELSEWHERE_GAP
    return ((raw <= MATCH_DISTANCE) & far).any(axis=1)


class _Spans:
    """Runs of differing frames as spans: unmatched frames inside a segment (`altered`, or `inserted` when they look
    like other footage) and frames no segment covers (`inserted`), each only where the original's footage does not
    explain it, with its ends placed on the clip's own frames."""

    def __init__(
        self,
        query: FrameTrack,
        owner: np.ndarray,
        used: Sequence[TemporalFit],
        frame_distances: np.ndarray,
        original_times: np.ndarray,
        trusted: np.ndarray,
        elsewhere: np.ndarray,
        duration: float,
        clip: ClipSource | None,
    ) -> None:
        self.times = query.times
        self.owner, self.used = owner, used
        self.frame_distances, self.original_times = frame_distances, original_times
        self.trusted, self.elsewhere = trusted, elsewhere
        self.duration, self.clip = duration, clip
        # what still counts as changed beside a span: clearly above the clip's own noise (its matched frames')
        clean = frame_distances[(owner >= 0) & trusted & (frame_distances <= MATCH_DISTANCE)]
        noise = float(np.median(clean) + 3 * np.median(np.abs(clean - np.median(clean)))) if len(clean) else 0.0
        self.low = int(np.clip(noise + _NOISE_MARGIN, MATCH_DISTANCE // 2, MATCH_DISTANCE))

    def found(self) -> tuple[Span, ...]:
        covered = self.owner >= 0
        altered = self._altered()
        # a flat frame inside a segment is neither matched nor altered, but between two altered frames it does not
        # cut their span in two (a large flat box painted over a picture can make the frame flat)
        for i, j in _runs((covered & ~self.trusted).astype(np.int8)):
            if i > 0 and j + 1 < len(altered) and altered[i - 1] and altered[j + 1]:
                altered[i : j + 1] = self.owner[i - 1] == self.owner[j + 1]
        state = np.where(covered, np.where(altered, 1, 0), 2)
        spans: list[Span] = []
        for i, j in _runs(state):
            span = self._span(i, j, covered=state[i] == 1)
            if span is not None:
                spans.append(span)
        return tuple(spans)

    def _altered(self) -> np.ndarray:
        """Frames of a segment that differ: runs over `MATCH_DISTANCE` (a lone frame only when well over it: a
        lone frame just over is re-encoding noise) or `_SUSTAINED` runs clearly above a quiet clip's own noise,
        grown over the neighbouring frames of their segment still clearly above that noise (hysteresis: a change
        over low-contrast content sinks under the threshold without going away)."""
        covered = (self.owner >= 0) & self.trusted
        over = covered & (self.frame_distances > MATCH_DISTANCE)
        grown = np.zeros_like(over)
        for i, j in _runs(over.astype(np.int8)):
            if over[i] and (j > i or self.frame_distances[i] > MATCH_DISTANCE + _LONE_MARGIN):
                grown[i : j + 1] = True
        above = covered & (self.frame_distances > self.low)
        if self.low < MATCH_DISTANCE:
            for i, j in _runs(above.astype(np.int8)):
                if above[i] and j - i + 1 >= _SUSTAINED and len(set(self.owner[i : j + 1])) == 1:
                    grown[i : j + 1] = True
        for order in (range(1, len(grown)), range(len(grown) - 2, -1, -1)):
            for k in order:
                near = k - 1 if order.step == 1 else k + 1
                if above[k] and grown[near] and self.owner[k] == self.owner[near]:
                    grown[k] = True
        return grown

    def _span(self, i: int, j: int, *, covered: bool) -> Span | None:
        run = np.arange(i, j + 1)
        judged = run[self.trusted[run]]
        if len(judged) == 0:
            return None
        if covered:
            inserted = bool(np.median(self.frame_distances[run]) >= INSERTED_DISTANCE) and not self._shows(judged)
        else:
            inserted = True
        shown = self.elsewhere[judged]
        # inserted footage is footage the original does not have: none of it may be found in the original;
        # frames most of which show the original at other times were re-timed or re-cut, not doctored
        explained = bool(shown.any()) if inserted else bool(shown.mean() >= _ELSEWHERE_SHARE)
        if explained:
            return None
        start, end = self._ends(i, j, inserted=inserted)
        if inserted:
            return Span("inserted", round(start, 3), round(end, 3), None, None, -1, float(self.times[i]))
        peak = int(judged[np.argmax(self.frame_distances[judged])])
        candidate = self.used[int(self.owner[i])]
        ends = candidate.original_time(np.array([start, end]))
        return Span(
            "altered",
            round(start, 3),
            round(end, 3),
            round(float(ends[0]), 3),
            round(float(ends[1]), 3),
            int(self.frame_distances[peak]),
            float(self.times[peak]),
            float(self.original_times[peak]),
        )

    def _shows(self, judged: np.ndarray) -> bool:
        """Whether the run's most changed frame still shows the original frame it is aligned with (keypoints)."""
        if self.clip is None:
            return False
        peak = int(judged[np.argmax(self.frame_distances[judged])])
        candidate = self.used[int(self.owner[peak])]
        return self.clip.shows(float(self.times[peak]), float(self.original_times[peak]), candidate.query_variant)

    def _ends(self, i: int, j: int, *, inserted: bool) -> tuple[float, float]:
        """The span of sampled frames `i` to `j` on the clip's own frames: its first differing frame (back to the
        last sampled frame before it) and the first frame after it that no longer differs (or the next sampled
        one), from one decoding pass over both stretches."""
        start, end = float(self.times[i]), _frame_end(self.times, j, self.duration)
        before = (float(self.times[i - 1]) if i > 0 else -1.0, start)
        after = (float(self.times[j]), end if j + 1 < len(self.times) else end + 1e-3)
        stretches = [(a, b) for a, b in (before, after) if b - a >= 1e-3]
        if self.clip is None or not stretches:
            return start, end
        frames = self.clip.frames([(max(0.0, a), b) for a, b in stretches])
        lead = self._changed(self._fit(i - 1, i), frames, *before, self._threshold(i, i - 1, inserted=inserted))
        for t, changed in reversed(lead):
            if changed is None:
                continue
            if not changed:
                break
            start = t
        trail = self._changed(self._fit(j + 1, j), frames, *after, self._threshold(j, j + 1, inserted=inserted))
        for t, changed in trail:
            if changed is False:
                return start, t
        return start, end

    def _threshold(self, inside: int, outside: int, *, inserted: bool) -> float:
        """The distance over which a frame between two sampled ones differs: halfway between their distances (a
        change fades in and out of PDQ with the content under it; re-encoding disturbs frames right after a
        change), never under the clip's noise nor over `MATCH_DISTANCE`."""
        if inserted or not 0 <= outside < len(self.times) or self.frame_distances[outside] < 0:
            return MATCH_DISTANCE
        halfway = (self.frame_distances[inside] + self.frame_distances[outside]) / 2
        return float(min(MATCH_DISTANCE, max(self.low, halfway)))

    def _fit(self, outside: int, inside: int) -> TemporalFit | None:
        """The alignment to judge the frames between two sampled frames by: the segment's beyond the span if there
        is one, else the span's own (None: footage outside every segment up to the clip's edge)."""
        for index in (outside, inside):
            if 0 <= index < len(self.owner) and self.owner[index] >= 0:
                return self.used[int(self.owner[index])]
        return None

    def _changed(
        self, reference: TemporalFit | None, frames: FrameTrack, after: float, before: float, threshold: float
    ) -> list[tuple[float, bool | None]]:
        """The clip's frames strictly between two times, each with whether it is over `threshold` from the
        original frame its time shows (None when flat: it cannot tell); none without an alignment to judge by."""
        keep = (frames.times > after + 1e-6) & (frames.times < before - 1e-6)
        if reference is None or not keep.any():
            return []
        times = frames.times[keep]
        found, _ = reference.compare(frames.variant(reference.query_variant)[keep], times)
        return [
            (float(t), None if quality < _QUALITY else bool(distance > threshold))
            for t, distance, quality in zip(times, found, frames.qualities[keep], strict=True)
        ]


def _runs(state: np.ndarray) -> list[tuple[int, int]]:
    """First and last index of each run of equal non-zero values."""
    found = []
    i = 0
    while i < len(state):
        if state[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(state) and state[j + 1] == state[i]:
            j += 1
        found.append((i, j))
        i = j + 1
    return found


def _nearby(raw: np.ndarray, window_times: np.ndarray, aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query frame (a row of `raw`), the likest original frame shown within `_SLACK` of its aligned time or
    right after that: its distance and native time (ties to the frame nearest the aligned time)."""
    n, m = raw.shape
    if m == 0:
        return np.full(n, 256, np.int32), np.full(n, np.nan)
    low = _shown(window_times, aligned - _SLACK)
    high = np.minimum(_shown(window_times, aligned + _SLACK) + 1, m - 1)
    width = int((high - low).max()) + 1 if n else 1
    columns = np.minimum(low[:, None] + np.arange(width)[None, :], high[:, None])
    rows = np.arange(n)[:, None]
    score = raw[rows, columns] + 1e-3 * np.abs(window_times[columns] - aligned[:, None])
    best = columns[np.arange(n), np.argmin(score, axis=1)]
    return raw[np.arange(n), best].astype(np.int32), window_times[best].astype(np.float64)


def _shown(window_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Index of the frame shown at each time: the last one at or before it (the first before the window)."""
    return np.clip(np.searchsorted(window_times, t, side="right") - 1, 0, len(window_times) - 1)


def _grid(
    cost: np.ndarray,
    window_times: np.ndarray,
    times: np.ndarray,
    speed: float,
    offset: float,
    speed_step: float,
    speed_range: float,
    offset_step: float,
    offset_range: float,
    *,
    anchor: float,
) -> tuple[float, float]:
    """The (speed, offset) on a grid around the given ones with the least mean cost, each query frame's cost read
    between the two original frames either side of its aligned time (linearly in time, so the least falls on the
    right frames, not anywhere within one frame interval of them)."""
    speeds = speed + np.arange(-speed_range, speed_range + 1e-9, speed_step)
    offsets = offset + np.arange(-offset_range, offset_range + 1e-9, offset_step)
    aligned = offsets[:, None, None] + speeds[None, :, None] * times[None, None, :]
    m = len(window_times)
    before = _shown(window_times, aligned)
    after = np.minimum(before + 1, m - 1)
    gap = np.maximum(window_times[after] - window_times[before], 1e-6)
    weight = np.clip((aligned - window_times[before]) / gap, 0.0, 1.0)
    rows = np.arange(len(times))[None, None, :]
    score = ((1 - weight) * cost[rows, before] + weight * cost[rows, after]).mean(axis=2)
    # ties (a static shot) go to the speed nearest 1 and then the smallest offset change
    penalty = 1e-3 * np.abs(speeds - 1.0)[None, :] + 1e-4 * np.abs(offsets - anchor)[:, None]
    o, s = np.unravel_index(np.argmin(score + penalty), score.shape)
    return float(speeds[s]), float(offsets[o])


def _dtw(cost: np.ndarray, original_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Subsequence DTW: free start and end in the original, each query frame one original frame, never backwards,
    at most about twice the fastest speed's step forward per query frame. The path: an original frame per query
    frame."""
    n, m = cost.shape
    step = float(np.median(np.diff(times))) if n > 1 else 1.0
    spacing = float(np.median(np.diff(original_times))) if m > 1 else 1.0
    reach = max(1, int(np.ceil(2 * SPEEDS[-1] * step / max(spacing, 1e-3))))
    total = cost[0].astype(np.float64)
    steps = np.zeros((n, m), dtype=np.uint8 if reach < 256 else np.int32)  # frames back to the previous step
    for i in range(1, n):
        previous = np.full((reach + 1, m), np.inf)
        for k in range(min(reach, m - 1) + 1):  # a step past the window's last frame has nowhere to come from
            previous[k, k:] = total[: m - k] if k else total
        best = np.argmin(previous, axis=0)
        steps[i] = best
        total = cost[i] + previous[best, np.arange(m)]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for i in range(n - 1, 0, -1):
        path[i - 1] = path[i] - int(steps[i, path[i]])
    return path


def _line(times: np.ndarray, aligned: np.ndarray, on: np.ndarray) -> tuple[float, float]:
    """Speed and offset of the line through the frames `on` (all of them when fewer than two), robust to a few
    frames placed anywhere (a DTW path over a still shot): the median of the pairwise slopes (Theil-Sen), then the
    median offset."""
    chosen = on if on.sum() >= 2 else np.ones(len(times), dtype=bool)
    x, y = times[chosen], aligned[chosen]
    if len(x) < 2 or np.ptp(x) <= 0:
        return 1.0, float(aligned[0] - times[0])
    i, j = np.triu_indices(len(x), k=1)
    apart = x[j] - x[i] > 1e-6
    speed = float(np.median((y[j] - y[i])[apart] / (x[j] - x[i])[apart]))
    return speed, float(np.median(y - speed * x))


def _frame_end(times: np.ndarray, index: int, duration: float) -> float:
    """When the frame at `index` stops showing: the next frame's time, or the end of the clip."""
    return float(times[index + 1]) if index + 1 < len(times) else max(float(times[index]), duration)
