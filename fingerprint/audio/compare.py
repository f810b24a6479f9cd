"""Match a query's sound to an original's, and compare them over a segment the picture has already aligned.

`match_audio` finds where a clip's sound sits in an original by offset voting over landmark hashes, under a small
grid of speed hypotheses, so it works when the picture was replaced. `compare_segment` takes an alignment (from the
frames or from `match_audio`), lets the sound find its own near it (`align.align_sound`: the picture's is off by a
frame interval or two, and peaks agree only within 32 ms), and asks, a tenth of a second at a time, whether the
query's spectral peaks fall where the original's are: where they do not even at their own best lag, the sound was
replaced (`audio_altered`); where the original has sound and the query is silent, it was stripped (`audio_missing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from fingerprint.audio.align import SEARCH_SECONDS, SoundAlignment, agreement, align_sound, best_local_share
from fingerprint.audio.landmarks import LOUDNESS_STEP, SILENCE_DB, AudioFingerprint, pair_hashes

# Speeds tried, as original seconds per query second. A tempo change (pitch kept, as editors and `atempo` do it)
# only stretches time: steps of 2.2% leave a 1 s hash pair less than one 16 ms frame off. Resampling also scales
# pitch, and a peak at 1500 Hz moves a 15.6 Hz bin per 1% of speed, so those hypotheses are 0.5% apart.
TEMPO_SPEEDS = tuple(float(s) for s in np.round(np.geomspace(0.8, 1.25, 21), 4))
RESAMPLE_SPEEDS = tuple(float(s) for s in np.round(np.geomspace(0.8, 1.25, 91), 4) if abs(s - 1) > 1e-3)
MIN_VOTES = 12  # aligned hash pairs below which there is no match: unrelated 10 s clips reach 4-8
MIN_SCORE = 0.04  # aligned share of the query's hashes; a re-encoded excerpt scores 0.2-0.6
_MAX_HITS_PER_HASH = 64  # a hash that common (a steady tone) says little about where the clip sits

# compare_segment (peaks agree within `align.PEAK_TOLERANCE_*` at the sound's own alignment):
WINDOW = 0.6  # seconds of peaks pooled for each step's similarity
# Share of agreeing peaks under which a window is low: half the segment's genuine level, within these bounds.
# Re-encoded originals agree at 0.5-0.9 (AAC and Opus, 24-128 kb/s, 0.8-1.25x), another voice or song at 0-0.2.
ALTERED_BELOW = (0.2, 0.3)
MIN_WINDOW_PEAKS = 4  # fewer peaks than this in a window and its similarity is not judged
# Pooled over a low stretch at its own best lag within the search: real speech and music re-encoded pool at 0.38
# or more over 2 s, another voice or song at 0.23 or less (over 1 s: 0.15 and 0.38 at worst).
SPAN_AGREEMENT_MAX = 0.3
MIN_SPAN_PEAKS = 10  # an altered span needs this much evidence
MIN_ALTERED = 1.0  # seconds: another sound for less than this is not claimed
ACTIVE_DB = -50.0  # louder than this is sound worth comparing (dBFS, 0.1 s RMS)
SILENT_DB = -65.0  # quieter than this (after the clip's gain) where the original is active is missing sound
ADDED_DB = 10.0  # the clip this much louder than the original (after its gain) has sound of its own there
MIN_GAIN_STEPS = 10  # loudness steps with sound on both sides needed to measure the clip's gain
MAX_GAIN_DB = 30.0
MIN_SPAN = 0.4  # seconds: shorter flagged runs are noise
MAX_GAP = 0.3  # seconds: flagged runs this close are one span
MAX_BRIDGE = 1.0  # seconds of pause or silence across which runs of another sound are one span

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

    `similarity` is the share of the query's peaks that the original has too where the sound's own alignment puts
    them (None when neither side has sound there); `profile` is the same per `profile_step` seconds from the
    segment's start (NaN where not judged). `lag` is how many original seconds later than the picture's alignment
    the sound sits at the segment's start (None when the sound did not align: none, or not the original's), `speed`
    the sound's original seconds per query second and `original_start` the original time at the segment's start,
    both as the sound's alignment found them (the picture's without one).
    """

    similarity: float | None
    spans: tuple[AudioSpan, ...]
    query_has_audio: bool
    profile_step: float
    profile: tuple[float, ...]
    lag: float | None
    speed: float
    original_start: float
    peaks: int = 0  # the query's peaks `similarity` is the share of


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
    search: float = SEARCH_SECONDS,
) -> AudioComparison:
    """Compare sound over query seconds [query_start, query_end], which the picture says show original seconds from
    `original_start` at `speed` (original seconds per query second).

    The sound is compared at its own alignment, searched within `search` seconds and a few percent of speed of the
    picture's (`align_sound`); the picture's is used as it is only when the sound finds none. `query` None means the
    query has no audio track at all.
    """
    step = LOUDNESS_STEP
    count = max(0, int(np.floor((query_end - query_start) / step + 1e-9)))
    centres = query_start + (np.arange(count) + 0.5) * step
    found = (
        None
        if query is None
        else align_sound(
            reference,
            query,
            query_start=query_start,
            query_end=query_end,
            original_start=original_start,
            speed=speed,
            search=search,
        )
    )
    alignment = found or SoundAlignment(query_start, original_start, 0.0, speed, 1.0, 0, 0)
    mapped = np.asarray(alignment.original_time(centres))
    # Only where the original was fingerprinted (registration may have stopped at its cap) is there anything to say.
    covered = _covers(reference, mapped)
    ref_loud = np.where(covered, _loudness_at(reference, mapped), SILENCE_DB)
    ref_active = ref_loud > ACTIVE_DB
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
            lag=None,
            speed=speed,
            original_start=original_start,
        )
    # The clip's loudness where the original's is, so that a quieter or louder copy is neither missing nor added.
    q_loud = _loudness_at(query, centres)
    q_level = q_loud - _gain(q_loud, ref_loud, ref_active)
    q_times, q_bins = _peaks_near(query, query_start, query_end)
    agree = agreement(reference, q_times, q_bins, alignment)
    # Peaks per window around each step centre, by cumulative counts over sorted peak times.
    agree_cum = np.concatenate([[0], np.cumsum(agree)])
    lo = np.searchsorted(q_times, centres - WINDOW / 2)
    hi = np.searchsorted(q_times, centres + WINDOW / 2)
    peaks = hi - lo
    matched = agree_cum[hi] - agree_cum[lo]
    # Judged where the original has sound, or where the clip has sound clearly louder than the original's there
    # (a voice over a pause); faint noise against faint noise says nothing.
    added = (q_level > ACTIVE_DB) & (q_level > ref_loud + ADDED_DB)
    judged = covered & (peaks >= MIN_WINDOW_PEAKS) & (ref_active | added)
    profile = np.where(judged, matched / np.maximum(peaks, 1), np.nan)
    q_silent = q_level < SILENT_DB
    # Missing where the original has sound and the clip is silent for at least three steps running: at the edge of
    # a pause, a tempo change (which shortens pauses unevenly) or a step of misalignment leaves slivers.
    missing = _opened(ref_active & q_silent)
    # Halfway between how well this clip's genuine stretches agree (codecs differ) and zero, within bounds.
    genuine = float(np.nanpercentile(profile, 75)) if judged.any() else 0.0
    threshold = float(np.clip(genuine / 2, *ALTERED_BELOW))
    # Where the sound aligned nowhere near the picture's, every judged window is a candidate, whatever chance
    # agreement a window of another sound reaches (the confirmation below still has the last word).
    altered = judged & ~missing & ((profile < threshold) | (found is None))
    # Runs of low windows join across pauses and silenced steps (a replacing sound has its own pauses). A run is
    # another sound only if, over at least MIN_ALTERED seconds, even its own best alignment near the picture's
    # leaves most of its peaks unexplained: a codec's bad half second dips to the threshold, and a stretch the
    # picture's alignment got wrong agrees once moved; another voice stays far below.
    candidates = _spans(
        altered,
        centres,
        step,
        "audio_altered",
        query_start,
        query_end,
        bridge=~judged | missing,
        max_bridge=MAX_BRIDGE,
        shortest=MIN_ALTERED,
    )
    altered_spans = [
        span for span in candidates if _confirmed(reference, query, alignment, span, search=search, threshold=threshold)
    ]
    missing_spans = _spans(missing, centres, step, "audio_missing", query_start, query_end, bridge=q_silent)
    spans = sorted(_absorbed(altered_spans, missing_spans), key=lambda span: span.start)
    inside = (q_times >= query_start) & (q_times <= query_end)
    inside &= _covers(reference, np.asarray(alignment.original_time(q_times)))
    return AudioComparison(
        similarity=float(agree[inside].mean()) if inside.any() else None,
        spans=tuple(spans),
        query_has_audio=True,
        profile_step=step,
        profile=tuple(float(v) for v in profile),
        lag=None if found is None else round(found.lag, 3),
        speed=alignment.speed,
        original_start=float(alignment.original_time(query_start)),
        peaks=int(inside.sum()),
    )


def _peaks_near(query: AudioFingerprint, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """The query's peak times (sorted) and bins within a window's reach of [start, end]."""
    times = query.peak_times()
    near = (times >= start - WINDOW) & (times <= end + WINDOW)
    order = np.argsort(times[near], kind="stable")
    return times[near][order], query.bins[near][order].astype(np.int64)


def _gain(query_loud: np.ndarray, ref_loud: np.ndarray, ref_active: np.ndarray) -> float:
    """dB by which the clip is louder than the original where both have sound (0 without enough of it)."""
    both = ref_active & (query_loud > ACTIVE_DB)
    if both.sum() < MIN_GAIN_STEPS:
        return 0.0
    return float(np.clip(np.median(query_loud[both] - ref_loud[both]), -MAX_GAIN_DB, MAX_GAIN_DB))


def _opened(flags: np.ndarray) -> np.ndarray:
    """`flags` without runs shorter than three steps, the rest unchanged."""
    if len(flags) < 3:
        return np.zeros_like(flags)
    padded = np.pad(flags, 1, constant_values=True)
    eroded = padded[:-2] & padded[1:-1] & padded[2:]
    padded = np.pad(eroded, 1, constant_values=False)
    return padded[:-2] | padded[1:-1] | padded[2:]


def _confirmed(
    reference: AudioFingerprint,
    query: AudioFingerprint,
    alignment: SoundAlignment,
    span: AudioSpan,
    *,
    search: float,
    threshold: float,
) -> bool:
    """Whether a low stretch is another sound: enough peaks, and at its best lag too few of them agree."""
    share, peaks = best_local_share(reference, query, alignment, start=span.start, end=span.end, search=search)
    return peaks >= MIN_SPAN_PEAKS and share <= min(threshold, SPAN_AGREEMENT_MAX)


def _absorbed(altered: list[AudioSpan], missing: list[AudioSpan]) -> list[AudioSpan]:
    """Altered spans grown over the missing spans they touch, with the rest of the missing spans: the pauses of a
    replacing sound, where the original spoke, are part of the replacement, not a separate stripping."""
    kept: list[AudioSpan] = []
    grown = list(altered)
    for gap in missing:
        touching = [
            i for i, span in enumerate(grown) if gap.start <= span.end + MAX_GAP and span.start <= gap.end + MAX_GAP
        ]
        if not touching:
            kept.append(gap)
        for i in touching:
            grown[i] = AudioSpan(min(grown[i].start, gap.start), max(grown[i].end, gap.end), "audio_altered")
    return grown + kept


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
    max_bridge: float = np.inf,
    shortest: float = MIN_SPAN,
) -> list[AudioSpan]:
    """Runs of flagged steps as spans, runs shorter than `shortest` seconds dropped.

    Runs merge when closer than MAX_GAP or, up to `max_bridge` seconds apart, when every step between them is in
    `bridge` (a pause of the original inside a stretch where the query is silent is part of the missing sound, not a
    break in it).
    """
    runs: list[list[float]] = []
    last = -1
    for index in np.flatnonzero(flags):
        begin, end = centres[index] - step / 2, centres[index] + step / 2
        bridged = bridge is not None and last >= 0 and bool(bridge[last + 1 : index].all())
        bridged = bridged and bool((index - last - 1) * step <= max_bridge + 1e-9)
        last = int(index)
        if runs and (begin - runs[-1][1] <= MAX_GAP + 1e-9 or bridged):
            runs[-1][1] = end
        else:
            runs.append([begin, end])
    return [
        AudioSpan(start=round(float(max(lower, b)), 3), end=round(float(min(upper, e)), 3), kind=kind)
        for b, e in runs
        if e - b >= shortest - 1e-9
    ]
