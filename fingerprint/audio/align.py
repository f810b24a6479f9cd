"""Align a query's sound with an original's around an alignment the picture gave: the sound's own fine lag and speed.

The picture places a clip to within a frame interval or two (0.05-0.15 s, more at a segment's ends) and its speed
to a percent or so; spectral peaks agree only within about 30 ms, so compared at the picture's alignment a faithful
re-encode looks like another sound. `align_sound` searches lags within `SEARCH_SECONDS` and speeds within
`SPEED_SEARCH` of the picture's, with the pitch kept (a tempo change) or moved with the speed (resampling), counts
the query peaks the original has where each hypothesis puts them, and fits a line through the agreeing pairs of the
best one. `agreement` then tells, peak by peak, whether the original has it there.

>>> import numpy as np
>>> from fingerprint.audio.decode import Audio
>>> from fingerprint.audio.landmarks import fingerprint_audio
>>> t = np.arange(8000 * 12) / 8000
>>> tone = (0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype("f4")
>>> original = fingerprint_audio(Audio(samples=tone, rate=8000, start=0.0, truncated=False))
>>> excerpt = fingerprint_audio(Audio(samples=tone[8000 * 4 :], rate=8000, start=0.0, truncated=False))
>>> found = align_sound(original, excerpt, query_start=0, query_end=8, original_start=4.12, speed=1.0)
>>> round(found.lag, 2), round(found.speed, 3), found.pitch
(-0.12, 1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np

from fingerprint.audio.landmarks import AudioFingerprint

SEARCH_SECONDS = 0.5  # lags tried either side of the picture's alignment
# Speeds tried, relative to the picture's: its speed comes from frame times a few hundred ms apart, so it can be a
# few percent off; steps of 0.4% leave at most 0.2%, 12 ms over a 12 s segment, which the line fit then removes.
SPEED_SEARCH = 0.04
SPEED_STEP = 0.004
COARSE_FRAMES = 1  # the search counts a peak when the original has one this many frames either side of it
PEAK_TOLERANCE_FRAMES, PEAK_TOLERANCE_BINS = 2, 1  # a query peak agrees within these of an original peak
MIN_ALIGN_PEAKS = 12  # agreeing peaks below which the sound says nothing about where it sits
MIN_ALIGN_SHARE = 0.15  # nor below this share of the query's peaks (unrelated sound reaches 0.05-0.12 at its best)


@dataclass(frozen=True, slots=True)
class SoundAlignment:
    """Where the sound of query seconds [query_start, query_end] sits in the original.

    Original time = `original_start + lag + speed * (t - query_start)`, with `original_start` the picture's;
    `pitch` is the factor the query's pitch was raised by (1 when a tempo change kept it, `speed` when the clip was
    resampled); `agreeing` the query peaks the original has there, of `peaks`.
    """

    query_start: float
    original_start: float
    lag: float
    speed: float
    pitch: float
    agreeing: int
    peaks: int

    @overload
    def original_time(self, t: np.ndarray) -> np.ndarray: ...
    @overload
    def original_time(self, t: float) -> float: ...
    def original_time(self, t: np.ndarray | float) -> np.ndarray | float:
        return self.original_start + self.lag + self.speed * (t - self.query_start)


def align_sound(
    reference: AudioFingerprint,
    query: AudioFingerprint,
    *,
    query_start: float,
    query_end: float,
    original_start: float,
    speed: float,
    search: float = SEARCH_SECONDS,
) -> SoundAlignment | None:
    """The lag and speed near the given alignment at which the most of the query's peaks in [query_start,
    query_end] land on the original's; None when too few agree at any (the sound there is not the original's)."""
    times, bins = _peaks_between(query, query_start, query_end)
    if len(times) < MIN_ALIGN_PEAKS:
        return None
    best = _search(reference, times, bins, query_start, original_start, speed, search)
    if best is None:
        return None
    for _ in range(2):  # the grid's speed step leaves a small drift; a line through the agreeing pairs removes it
        best = _refit(reference, times, bins, best)
    agreeing = int(agreement(reference, times, bins, best).sum())
    if agreeing < MIN_ALIGN_PEAKS or agreeing < MIN_ALIGN_SHARE * len(times):
        return None
    return SoundAlignment(
        query_start=best.query_start,
        original_start=best.original_start,
        lag=best.lag,
        speed=best.speed,
        pitch=best.pitch,
        agreeing=agreeing,
        peaks=len(times),
    )


def best_local_share(
    reference: AudioFingerprint,
    query: AudioFingerprint,
    alignment: SoundAlignment,
    *,
    start: float,
    end: float,
    search: float = SEARCH_SECONDS,
) -> tuple[float, int]:
    """(best share of agreeing peaks, peaks) over query seconds [start, end] at any lag within `search` of
    `alignment`: what a stretch's own best alignment makes of it, so that a stretch is called changed only when no
    alignment near the picture's explains it."""
    times, bins = _peaks_between(query, start, end)
    if len(times) == 0:
        return 0.0, 0
    rows = _frames(reference, alignment.original_time(times))
    lags = _lags(reference, search)
    grid = _PeakGrid(reference, rows, lags, PEAK_TOLERANCE_FRAMES)
    counts = grid.counts(rows, _mapped_bins(bins, alignment.pitch), lags)
    return float(counts.max() / len(times)), len(times)


def agreement(
    reference: AudioFingerprint, times: np.ndarray, bins: np.ndarray, alignment: SoundAlignment
) -> np.ndarray:
    """Whether the original has a peak within PEAK_TOLERANCE of each query peak (container seconds, bins) where
    `alignment` puts it."""
    frames = _frames(reference, alignment.original_time(times))
    return _nearest(reference, frames, _mapped_bins(bins, alignment.pitch))[0] <= PEAK_TOLERANCE_FRAMES


def _peaks_between(query: AudioFingerprint, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    times = query.peak_times()
    inside = (times >= start) & (times <= end)
    return times[inside], query.bins[inside].astype(np.int64)


def _search(
    reference: AudioFingerprint,
    times: np.ndarray,
    bins: np.ndarray,
    query_start: float,
    original_start: float,
    speed: float,
    search: float,
) -> SoundAlignment | None:
    """The best (lag, speed, pitch) of the grid, by peaks that land within COARSE_FRAMES of an original peak."""
    steps = round(SPEED_SEARCH / SPEED_STEP)
    # nearest the picture's speed first, so that ties go to the smallest change (and to a kept pitch)
    order = sorted(range(-steps, steps + 1), key=abs)
    speeds = speed * (1 + SPEED_STEP * np.array(order))
    lags = _lags(reference, search)
    rows = [_frames(reference, original_start + candidate * (times - query_start)) for candidate in speeds]
    grid = _PeakGrid(reference, np.concatenate(rows), lags, COARSE_FRAMES)
    best: tuple[int, float, float, int] | None = None  # count, speed, pitch, lag
    for pitched in (False, True):
        for index, candidate in enumerate(speeds):
            pitch = float(candidate) if pitched else 1.0
            counts = grid.counts(rows[index], _mapped_bins(bins, pitch), lags)
            at = int(np.argmax(counts))
            if best is None or counts[at] > best[0]:
                best = (int(counts[at]), float(candidate), pitch, int(lags[at]))
    if best is None or best[0] < MIN_ALIGN_PEAKS:
        return None
    count, found_speed, pitch, lag = best
    return SoundAlignment(
        query_start=query_start,
        original_start=original_start,
        lag=lag * reference.frame_seconds,
        speed=found_speed,
        pitch=pitch,
        agreeing=count,
        peaks=len(times),
    )


def _refit(
    reference: AudioFingerprint, times: np.ndarray, bins: np.ndarray, alignment: SoundAlignment
) -> SoundAlignment:
    """The least-squares line through the (query time, original time) of the peaks that agree under `alignment`."""
    predicted = alignment.original_time(times)
    distance, nearest = _nearest(reference, _frames(reference, predicted), _mapped_bins(bins, alignment.pitch))
    near = distance <= PEAK_TOLERANCE_FRAMES + COARSE_FRAMES
    if near.sum() < MIN_ALIGN_PEAKS or np.ptp(times[near]) < 1.0:
        return alignment
    x = times[near] - alignment.query_start
    y = reference.start + nearest[near] * reference.frame_seconds - alignment.original_start
    slope, intercept = np.polyfit(x, y, 1)
    # a line is only trusted to correct the grid, not to leave it (few pairs clustered in time can tilt it anywhere)
    speed = float(np.clip(slope, alignment.speed * (1 - SPEED_STEP), alignment.speed * (1 + SPEED_STEP)))
    lag = float(intercept) if speed == slope else float(np.mean(y - speed * x))
    pitch = speed if alignment.pitch != 1.0 else 1.0
    return SoundAlignment(
        query_start=alignment.query_start,
        original_start=alignment.original_start,
        lag=lag,
        speed=speed,
        pitch=pitch,
        agreeing=int(near.sum()),
        peaks=alignment.peaks,
    )


def _frames(reference: AudioFingerprint, original_times: np.ndarray) -> np.ndarray:
    """Original container seconds as the reference's (fractional) peak frames."""
    return (np.asarray(original_times, dtype=np.float64) - reference.start) / reference.frame_seconds


def _lags(reference: AudioFingerprint, seconds: float) -> np.ndarray:
    """Lags in frames within `seconds`, smallest first (the first of equal counts wins)."""
    reach = round(seconds / reference.frame_seconds)
    return np.array(sorted(range(-reach, reach + 1), key=abs), dtype=np.int64)


def _mapped_bins(bins: np.ndarray, pitch: float) -> np.ndarray:
    """Query bins where the original has them: a clip resampled `pitch` times faster has its pitch that much higher."""
    return bins if pitch == 1.0 else np.rint(bins / pitch).astype(np.int64)


class _PeakGrid:
    """Where the original has a peak within `tolerance` frames and PEAK_TOLERANCE_BINS bins, over the frames that
    query peaks at `frames` can reach at `lags`: built once, asked for every hypothesis."""

    def __init__(self, reference: AudioFingerprint, frames: np.ndarray, lags: np.ndarray, tolerance: int) -> None:
        self.first = int(np.floor(frames.min())) + int(lags.min()) - tolerance - 1
        last = int(np.ceil(frames.max())) + int(lags.max()) + tolerance + 2
        pad = 2 * tolerance
        grid = np.zeros((last - self.first + 2 * pad, 256 + 2 * PEAK_TOLERANCE_BINS), dtype=bool)
        peaks = reference.frames.astype(np.int64)
        sel = (peaks >= self.first - tolerance) & (peaks < last + tolerance)
        rows = peaks[sel] - self.first + pad
        cols = reference.bins[sel].astype(np.int64) + PEAK_TOLERANCE_BINS
        for dt in range(-tolerance, tolerance + 1):
            for df in range(-PEAK_TOLERANCE_BINS, PEAK_TOLERANCE_BINS + 1):
                grid[rows + dt, cols + df] = True
        self.grid = grid[pad : pad + last - self.first, PEAK_TOLERANCE_BINS : PEAK_TOLERANCE_BINS + 256]

    def counts(self, frames: np.ndarray, bins: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """For each lag (frames), how many query peaks at `frames + lag`, `bins` the original has."""
        at = np.rint(frames).astype(np.int64)[:, None] + lags[None, :] - self.first
        return self.grid[at, np.clip(bins, 0, 255)[:, None]].sum(axis=0)


def _nearest(reference: AudioFingerprint, frames: np.ndarray, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query peak (fractional original frame, bin): the frame distance to the nearest original peak
    within PEAK_TOLERANCE_BINS bins (inf when none) and that peak's frame."""
    ref_frames = reference.frames.astype(np.int64)
    ref_bins = reference.bins.astype(np.int64)
    stride = 1 << 33
    keys = np.sort(ref_bins * stride + ref_frames)
    best = np.full(len(frames), np.inf)
    nearest = np.zeros(len(frames))
    if len(keys) == 0:
        return best, nearest
    for shift in range(-PEAK_TOLERANCE_BINS, PEAK_TOLERANCE_BINS + 1):
        wanted = bins + shift
        target = wanted * stride + np.clip(np.rint(frames), 0, stride - 1).astype(np.int64)
        index = np.searchsorted(keys, target)
        for candidate in (np.clip(index - 1, 0, len(keys) - 1), np.clip(index, 0, len(keys) - 1)):
            key = keys[candidate]
            same_bin = key // stride == wanted
            distance = np.where(same_bin, np.abs(key % stride - frames), np.inf)
            better = distance < best
            best = np.where(better, distance, best)
            nearest = np.where(better, key % stride, nearest)
    return best, nearest
