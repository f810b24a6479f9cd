"""A sound clip against one original: where it sits (segments, each with its own offset and speed) and what differs.

The landmarks place the clip (`fingerprint.audio.match_audio`) and its sound refines the placement
(`align.align_sound`). A clip cut from the original plays it at one offset; one with speech spliced in, words
deleted or stretches reordered plays it at several. So the placement is repeated on any stretch of two seconds or
more that no placement so far explains, and each step of a tenth of a second belongs to the first placement that
explains it (earlier placements are the stronger ones: a song's repeated bar never takes a step its own placement
already explains). Each run of steps is a segment, and the sound over each segment is compared with the original's
by `fingerprint.audio.compare_segment`, the sustained-evidence rules issue 17 measured on real re-encodes: only
other sound there over a second or more, at its own best alignment, is a span. A span is then named by what the
original's time does across it: `replaced` where the original's time runs on under it, `inserted` where it does
not (sound spliced in), `deleted` where the original's time jumps forward between two segments (words cut out), and
`silenced` where the original has sound and the clip none.

>>> import numpy as np
>>> from fingerprint.audio import Audio, fingerprint_audio
>>> t = np.arange(8000 * 30) / 8000
>>> tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(0.7 * t) + 90 * np.sin(2.3 * t)) * t) * (np.sin(9 * t) > 0)
>>> original = fingerprint_audio(Audio(samples=tone.astype("f4"), rate=8000, start=0.0, truncated=False))
>>> clip = fingerprint_audio(Audio(samples=tone[8000 * 6 : 8000 * 18].astype("f4"), rate=8000, start=0.0,
...     truncated=False))
>>> found = match_sound(original, clip, registration_id="r1")
>>> found.verdict, round(found.offset, 1), round(found.speed, 2), found.spans
('copy', 6.0, 1.0, ())
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from fingerprint.audio import AudioFingerprint, AudioSpan, SoundAlignment, align_sound, compare_segment, match_audio
from fingerprint.audio.align import agreement
from fingerprint.audio.compare import MIN_ALTERED, MIN_WINDOW_PEAKS, WINDOW, AudioComparison, AudioMatch
from fingerprint.audio.landmarks import LOUDNESS_STEP, pair_hashes
from fingerprint.compare import Verdict

SpanKind = Literal["replaced", "inserted", "deleted", "silenced"]
# Windowed share of a step's peaks that agree with the original under a placement for the placement to explain it;
# re-encoded originals agree at 0.5-0.9 (issue 17), another voice or song at 0-0.2.
EXPLAINED = 0.25
MIN_UNEXPLAINED = 2.0  # seconds no placement explains before the clip is placed again there
MAX_PLACEMENTS = 4
MIN_SEGMENT = 1.0  # seconds of explained steps a segment needs; shorter runs join their neighbours
MAX_HITS_PER_HASH = 64  # as the landmark vote: a hash that common (a steady tone) says little
RIVALS = 8  # runner-up offsets of the first vote checked against the winner
REPEAT_SHARE = 0.95  # a rival with this share of the winner's agreeing peaks is the original repeating itself
LATE_CHANCE = 0.3  # above the chance agreement of other sound (0.05-0.2), below a re-encode's (0.5-0.9)
NEAR_SECONDS = 8.0  # how far from a placement a stretch is first looked for
MIN_CUT = 0.3  # seconds of the original skipped between two segments before it is called a deletion
_SAME_PLACEMENT = 0.25  # seconds apart (at the clip's start) under which two placements are one
_EDGE = 0.35  # seconds: a span this close to a segment's end is at the segment's boundary


@dataclass(frozen=True, slots=True)
class SoundSegment:
    """Query seconds [start, end] play original seconds [original_start, original_end]; `speed` is original seconds per
    query second, `pitch` how much higher the clip sounds (1: a tempo change kept it; `speed`: it was resampled);
    `similarity` the share of the clip's spectral peaks there that the original has too (None: no sound)."""

    start: float
    end: float
    original_start: float
    original_end: float
    speed: float
    pitch: float
    similarity: float | None


@dataclass(frozen=True, slots=True)
class SoundSpan:
    """Query seconds [start, end] whose sound is not the original's (`deleted`: start == end, where the cut is), and
    the original seconds it stands for where that is known (`inserted` at a point: both the same; None: unknown)."""

    start: float
    end: float
    kind: SpanKind
    original_start: float | None = None
    original_end: float | None = None


@dataclass(frozen=True, slots=True, eq=False)
class SoundMatch:
    """A clip verified against one original: `offset` is the original's second (from its first sample) at the clip's
    first sample; every time is in seconds from the first sample of the clip or of the original. `speed` and
    `pitch` the strongest segment's; `matched_share` the share of the clip's sound some segment explains; `spans` in
    time order. `also_at`: other offsets at which the clip's sound fits the original nearly as well (the original
    repeats itself, as songs do): the offset is then one of several, and says so. `localisation` is always None (a
    sound has no picture regions; kept so callers may clear it alike)."""

    registration_id: str
    verdict: Verdict
    offset: float
    speed: float
    pitch: float
    similarity: float | None
    matched_share: float
    segments: tuple[SoundSegment, ...]
    spans: tuple[SoundSpan, ...]
    also_at: tuple[float, ...] = ()
    localisation: None = field(default=None, repr=False)


def match_sound(reference: AudioFingerprint, query: AudioFingerprint, *, registration_id: str) -> SoundMatch | None:
    """The clip's sound placed in the original's and compared segment by segment; None when it is not the original's
    (no placement, or one whose peaks do not agree once the sound aligns itself)."""
    first = _placement(reference, query, match_audio(reference, query))
    if first is None:
        return None
    first, alike = _strongest(reference, query, first)
    steps = _Steps(query)
    placements = _placements(reference, query, steps, first)
    owner = steps.owners(reference, query, placements)
    runs = _split(reference, steps, placements, _segment_runs(owner, steps))
    compared = [
        (start, end, placements[index], _compare(reference, query, placements[index], start, end))
        for index, start, end in runs
    ]
    segments, spans = _described(compared, reference, steps)
    judged = owner >= -1
    matched = float(np.mean(owner[judged] >= 0)) if judged.any() else 0.0
    peaks = sum(c.peaks for *_, c in compared if c.similarity is not None)
    agreeing = sum(c.similarity * c.peaks for *_, c in compared if c.similarity is not None)
    strongest = max(segments, key=lambda s: s.end - s.start)
    head = segments[0]
    return SoundMatch(
        registration_id=registration_id,
        verdict="altered" if spans else "copy",
        offset=_seconds(head.original_start + head.speed * (query.start - head.start) - reference.start),
        speed=strongest.speed,
        pitch=strongest.pitch,
        similarity=round(agreeing / peaks, 4) if peaks else None,
        matched_share=round(matched, 3),
        # a rival placement that one of the clip's own segments holds is no other place (a splice's second half)
        also_at=tuple(
            sorted(
                _seconds(float(a.original_time(query.start)) - reference.start)
                for a in alike
                if not any(_same(a, placed) for placed in placements)
            )
        ),
        # seconds from the first sample of the clip and of the original, as a player shows them (an MP3's first
        # sample is at 0.025-0.07 s of its container's time)
        segments=tuple(_from_first_samples(s, query.start, reference.start) for s in segments),
        spans=tuple(_span_from_first_samples(s, query.start, reference.start) for s in spans),
    )


class _Steps:
    """The clip cut into LOUDNESS_STEP steps, and each step's share of agreeing peaks under a placement."""

    def __init__(self, query: AudioFingerprint) -> None:
        count = max(1, len(query.loudness))
        self.start = query.start
        self.end = query.start + count * LOUDNESS_STEP
        self.centres = query.start + (np.arange(count) + 0.5) * LOUDNESS_STEP
        self.times = query.peak_times()
        self.bins = query.bins.astype(np.int64)
        self.lo = np.searchsorted(self.times, self.centres - WINDOW / 2)
        self.hi = np.searchsorted(self.times, self.centres + WINDOW / 2)
        self.judged = self.hi - self.lo >= MIN_WINDOW_PEAKS

    def shares(self, reference: AudioFingerprint, placement: SoundAlignment) -> np.ndarray:
        agree = np.concatenate([[0], np.cumsum(agreement(reference, self.times, self.bins, placement))])
        shares: np.ndarray = (agree[self.hi] - agree[self.lo]) / np.maximum(self.hi - self.lo, 1)
        return shares

    def owners(
        self, reference: AudioFingerprint, query: AudioFingerprint, placements: list[SoundAlignment]
    ) -> np.ndarray:
        """Per step: the first placement that explains it, -1 for a judged step none explains, -2 for too few peaks."""
        owner = np.where(self.judged, -1, -2)
        for index, placement in enumerate(placements):
            free = (owner == -1) & (self.shares(reference, placement) >= EXPLAINED)
            owner[free] = index
        return owner

    def time(self, index: int) -> float:
        """The start of step `index` (the clip's end past the last step)."""
        return float(min(self.end, self.start + index * LOUDNESS_STEP))


def _placement(reference: AudioFingerprint, query: AudioFingerprint, heard: AudioMatch | None) -> SoundAlignment | None:
    """The sound's own alignment around a landmark match; None when too few peaks agree there (a chance match)."""
    if heard is None:
        return None
    return align_sound(
        reference,
        query,
        query_start=heard.start,
        query_end=heard.end,
        original_start=heard.offset + heard.speed * heard.start,
        speed=heard.speed,
    )


def _strongest(
    reference: AudioFingerprint, query: AudioFingerprint, placement: SoundAlignment
) -> tuple[SoundAlignment, list[SoundAlignment]]:
    """Of the placement and the runner-up offsets of the landmark vote at its speed and pitch, the one at which the
    most of the clip's peaks agree (a song repeats its bars, and the hash vote can prefer a repeat whose bar lacks
    the melody that the right place has), and the others at which nearly as many agree (the original repeats
    itself there: its sound cannot tell which of them the clip was cut from)."""
    start, end = query.start, query.start + query.duration
    found = [
        align_sound(reference, query, query_start=start, query_end=end, original_start=at, speed=placement.speed)
        for at in (float(placement.original_time(start)), *_runner_up_starts(reference, query, placement))
    ]
    aligned = sorted((f for f in found if f is not None), key=lambda f: -f.agreeing)
    if not aligned:
        return placement, []
    best = aligned[0]
    alike = [f for f in aligned[1:] if f.agreeing >= REPEAT_SHARE * best.agreeing and not _same(f, best)]
    return best, alike


def _runner_up_starts(reference: AudioFingerprint, query: AudioFingerprint, placement: SoundAlignment) -> list[float]:
    """Original times at the clip's start of the next RIVALS offsets the landmark hashes vote for at the placement's
    speed and pitch, each at least half the winner's votes and a second apart from it and from each other."""
    ref_hashes, ref_frames = reference.hashes()
    hashes, anchors = pair_hashes(
        query.frames.astype(np.float64) * placement.speed, query.bins.astype(np.float64) / placement.pitch
    )
    lo = np.searchsorted(ref_hashes, hashes, side="left")
    counts = np.minimum(np.searchsorted(ref_hashes, hashes, side="right") - lo, MAX_HITS_PER_HASH)
    if counts.sum() == 0:
        return []
    query_index = np.repeat(np.arange(len(hashes)), counts)
    ref_index = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    offsets = ref_frames[ref_index] - anchors[query_index]
    low = int(offsets.min())
    votes = np.convolve(np.bincount(offsets - low), np.ones(3, dtype=np.int64), mode="same")
    apart = round(1.0 / reference.frame_seconds)
    chosen: list[int] = []
    for at in np.argsort(-votes, kind="stable"):
        if votes[at] < votes.max() / 2 or len(chosen) > RIVALS:
            break
        if all(abs(int(at) - other) > apart for other in chosen):
            chosen.append(int(at))
    frame = reference.frame_seconds
    return [reference.start + (at + low) * frame for at in chosen[1:]]


def _placements(
    reference: AudioFingerprint, query: AudioFingerprint, steps: _Steps, first: SoundAlignment
) -> list[SoundAlignment]:
    """The first placement, then one more for each stretch of a second or more that none explains, longest first:
    near a placement already found if the stretch's sound aligns there (words cut or sound spliced in leave the rest
    of the original close by, and a song's repeat further away must not win over it), else anywhere (stretches of
    MIN_UNEXPLAINED or more: the landmarks need that much to vote)."""
    placements = [first]
    tried: set[tuple[int, int]] = set()
    shortest = round(MIN_SEGMENT / LOUDNESS_STEP)
    while len(placements) < MAX_PLACEMENTS:
        owner = steps.owners(reference, query, placements)
        stretches = [run for run in _runs(owner == -1, bridge=owner == -2) if run[1] - run[0] >= shortest]
        stretches = [run for run in stretches if run not in tried]
        if not stretches:
            break
        lo, hi = max(stretches, key=lambda run: run[1] - run[0])
        tried.add((lo, hi))
        start, end = steps.time(lo), steps.time(hi)
        found = _near(reference, query, placements, start, end)
        if found is None and end - start >= MIN_UNEXPLAINED:
            found = _placement(reference, query, match_audio(reference, _between(query, start, end)))
        if found is not None and not any(_same(found, other) for other in placements):
            placements.append(found)
    return placements


def _near(
    reference: AudioFingerprint, query: AudioFingerprint, placements: list[SoundAlignment], start: float, end: float
) -> SoundAlignment | None:
    """The best alignment of query seconds [start, end] within NEAR_SECONDS of where a placement puts them, if it is
    none of the placements."""
    found = [
        align_sound(
            reference,
            query,
            query_start=start,
            query_end=end,
            original_start=float(placement.original_time(start)),
            speed=placement.speed,
            search=NEAR_SECONDS,
        )
        for placement in placements
    ]
    fresh = [f for f in found if f is not None and not any(_same(f, other) for other in placements)]
    return max(fresh, key=lambda f: f.agreeing, default=None)


def _segment_runs(owner: np.ndarray, steps: _Steps) -> list[tuple[int, float, float]]:
    """(placement, query start, query end) of each segment, in time order, tiling the clip: runs of explained steps
    of one placement, too short ones joined to their neighbours; the steps between two runs go to the earlier."""
    explained = np.flatnonzero(owner >= 0)
    if len(explained) == 0:  # nothing agrees step by step: the first placement over the whole clip, for the comparison
        return [(0, steps.start, steps.end)]
    labels = owner[explained]
    shortest = round(MIN_SEGMENT / LOUDNESS_STEP)
    changed = True
    while changed:
        changed = False
        bounds = _label_runs(labels)
        if len(bounds) < 2:
            break
        for k, (lo, hi) in enumerate(bounds):
            if hi - lo < shortest:
                neighbour = bounds[k - 1] if k > 0 else bounds[k + 1]
                labels[lo:hi] = labels[neighbour[0]]
                changed = True
                break
    bounds = _label_runs(labels)
    runs = []
    for k, (lo, _) in enumerate(bounds):
        start = steps.start if k == 0 else steps.time(int(explained[lo]))
        end = steps.end if k == len(bounds) - 1 else steps.time(int(explained[bounds[k + 1][0]]))
        runs.append((int(labels[lo]), start, end))
    return runs


def _split(
    reference: AudioFingerprint,
    steps: _Steps,
    placements: list[SoundAlignment],
    runs: list[tuple[int, float, float]],
) -> list[tuple[int, float, float]]:
    """Each boundary between two segments moved to where the peaks before it agree with the earlier placement and
    those after it with the later one, the most of them; the later segment must earn each peak it takes, so sound in
    between that agrees with neither stays with the earlier segment, whose comparison then finds it."""
    moved = list(runs)
    for k in range(len(moved) - 1):
        (before, start, _), (after, _, end) = moved[k], moved[k + 1]
        # over both segments: steps of spliced-in sound that the later placement explains by chance may have started
        # its run seconds early
        inside = (steps.times > start) & (steps.times < end)
        times, bins = steps.times[inside], steps.bins[inside]
        if len(times) < 2:
            continue
        early = np.concatenate([[0], np.cumsum(agreement(reference, times, bins, placements[before]))])
        # a peak counts for the later segment only above the share of chance agreement another sound reaches
        later = agreement(reference, times, bins, placements[after]) - LATE_CHANCE
        late = np.concatenate([np.cumsum(later[::-1])[::-1], [0]])
        score = early + late  # split before peak i: peaks [0, i) early, [i, n) late
        best = len(score) - 1 - int(np.argmax(score[::-1]))
        if 0 < best < len(times):
            cut = float(times[best - 1] + times[best]) / 2
            moved[k] = (before, start, cut)
            moved[k + 1] = (after, cut, end)
    return moved


def _compare(
    reference: AudioFingerprint, query: AudioFingerprint, placement: SoundAlignment, start: float, end: float
) -> AudioComparison:
    return compare_segment(
        reference,
        query,
        query_start=start,
        query_end=end,
        original_start=float(placement.original_time(start)),
        speed=placement.speed,
    )


def _described(
    compared: list[tuple[float, float, SoundAlignment, AudioComparison]], reference: AudioFingerprint, steps: _Steps
) -> tuple[tuple[SoundSegment, ...], tuple[SoundSpan, ...]]:
    """Segments and named spans from each segment's comparison (see the module's rules)."""
    spans: list[SoundSpan] = []
    segments: list[SoundSegment] = []
    for k, (start, end, placement, c) in enumerate(compared):
        following = compared[k + 1][3] if k + 1 < len(compared) else None
        named = [_named(span, start, end, c, following, steps) for span in c.spans]
        spans += named
        # sound spliced in at the segment's end is not the original's: the segment ends where it begins
        shown_end = min((s.start for s in named if s.kind == "inserted" and s.end >= end - _EDGE), default=end)
        original_end = c.original_start + c.speed * (shown_end - start)
        segments.append(
            SoundSegment(
                start=round(start, 3),
                end=round(shown_end, 3),
                original_start=round(c.original_start, 3),
                original_end=round(original_end, 3),
                speed=round(c.speed, 4),
                pitch=round(c.speed if placement.pitch != 1.0 else 1.0, 4),  # resampled: pitch moves with speed
                similarity=None if c.similarity is None else round(c.similarity, 4),
            )
        )
        if following is not None and not any(s.end >= end - _EDGE for s in c.spans):
            spans += _cut(end, original_end, following, compared[k + 1][1])
    spans += _beyond(compared, reference, steps)
    return tuple(segments), tuple(sorted(spans, key=lambda s: (s.start, s.end)))


def _named(
    span: AudioSpan, start: float, end: float, c: AudioComparison, following: AudioComparison | None, steps: _Steps
) -> SoundSpan:
    """A comparison's span named by what the original's time does across it."""
    at = c.original_start + c.speed * (span.start - start)
    to = c.original_start + c.speed * (span.end - start)
    if span.kind == "audio_missing":
        return SoundSpan(span.start, span.end, "silenced", round(at, 3), round(to, 3))
    if following is not None and span.end >= end - _EDGE and following.original_start - at < 0.5 * (to - at):
        # the next segment goes on about where this one stopped: the original's time did not run on across it
        return SoundSpan(span.start, span.end, "inserted", round(at, 3), round(at, 3))
    if span.start > steps.start + _EDGE and span.end < steps.end - _EDGE:
        return SoundSpan(span.start, span.end, "replaced", round(at, 3), round(to, 3))
    return SoundSpan(span.start, span.end, "inserted")  # at the clip's edge nothing tells what it stands in for


def _cut(end: float, original_end: float, following: AudioComparison, following_end: float) -> list[SoundSpan]:
    """What the original's time does between two segments with nothing else there: it jumps forward (words cut out),
    back (a stretch of the original repeated), or runs on."""
    jump = following.original_start - original_end
    if jump > MIN_CUT:
        return [
            SoundSpan(round(end, 3), round(end, 3), "deleted", round(original_end, 3), round(original_end + jump, 3))
        ]
    if jump < -MIN_CUT:
        again = min(following_end, end - jump / following.speed)
        return [
            SoundSpan(round(end, 3), round(again, 3), "inserted", round(original_end + jump, 3), round(original_end, 3))
        ]
    return []


def _beyond(
    compared: list[tuple[float, float, SoundAlignment, AudioComparison]], reference: AudioFingerprint, steps: _Steps
) -> list[SoundSpan]:
    """Sound at the clip's ends that its segment places before the original's start or past its end: the comparison
    says nothing there (an original fingerprinted only in part), but a sound file is fingerprinted whole."""
    spans = []
    for start, end, _, c in (compared[0], compared[-1]):
        original = c.original_start + c.speed * (steps.centres - start)
        mine = (steps.centres >= start) & (steps.centres < end)
        outside = (original < reference.start) | (original > reference.start + reference.duration)
        outside &= mine & steps.judged
        for lo, hi in _runs(outside, bridge=mine & ~steps.judged):
            if (hi - lo) * LOUDNESS_STEP >= MIN_ALTERED:
                spans.append(SoundSpan(round(steps.time(lo), 3), round(steps.time(hi), 3), "inserted"))
    return list({(s.start, s.end): s for s in spans}.values())


def _from_first_samples(segment: SoundSegment, clip_start: float, original_start: float) -> SoundSegment:
    return replace(
        segment,
        start=_seconds(segment.start - clip_start),
        end=_seconds(segment.end - clip_start),
        original_start=_seconds(segment.original_start - original_start),
        original_end=_seconds(segment.original_end - original_start),
    )


def _span_from_first_samples(span: SoundSpan, clip_start: float, original_start: float) -> SoundSpan:
    return replace(
        span,
        start=_seconds(span.start - clip_start),
        end=_seconds(span.end - clip_start),
        original_start=None if span.original_start is None else _seconds(span.original_start - original_start),
        original_end=None if span.original_end is None else _seconds(span.original_end - original_start),
    )


def _seconds(t: float) -> float:
    return round(t, 3) + 0.0  # no -0.0


def _between(query: AudioFingerprint, start: float, end: float) -> AudioFingerprint:
    """The clip's landmarks in [start, end) alone (its loudness whole: only the peaks are matched)."""
    times = query.peak_times()
    keep = (times >= start) & (times < end)
    return AudioFingerprint(
        rate=query.rate,
        hop=query.hop,
        n_fft=query.n_fft,
        start=query.start,
        frames=query.frames[keep],
        bins=query.bins[keep],
        loudness=query.loudness,
    )


def _same(a: SoundAlignment, b: SoundAlignment) -> bool:
    at = min(a.query_start, b.query_start)
    return (
        abs(float(a.original_time(at)) - float(b.original_time(at))) < _SAME_PLACEMENT and abs(a.speed - b.speed) < 0.01
    )


def _runs(flags: np.ndarray, *, bridge: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) of runs of `flags`, joined across steps where `bridge` holds throughout."""
    runs: list[list[int]] = []
    for index in map(int, np.flatnonzero(flags)):
        if runs and (index == runs[-1][1] or bridge[runs[-1][1] : index].all()):
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    return [(lo, hi) for lo, hi in runs]


def _label_runs(labels: np.ndarray) -> list[tuple[int, int]]:
    change = np.flatnonzero(np.diff(labels)) + 1
    edges = [0, *change.tolist(), len(labels)]
    return list(itertools.pairwise(edges))
