"""What a clip's sound says against an original's: per aligned stretch, and as one finding for the whole clip.

The media kinds that carry sound (video now, sound-only media next) place a clip in an original first (by its frames,
or by its sound alone), then compare the sound over each stretch placed; both read these records and helpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from fingerprint.audio.compare import AudioComparison, AudioMatch, AudioSpan, compare_segment, match_audio
from fingerprint.audio.decode import extract_audio
from fingerprint.audio.landmarks import AudioFingerprint, fingerprint_audio

MatchedBy = Literal["frames", "audio"]


@runtime_checkable
class SoundSource(Protocol):
    """A `ReferenceSource` that also has the originals' stored sound fingerprints (the registry's); without one, or
    without a stored fingerprint, the analysis decodes the original's sound track."""

    def sound(self, registration_id: str) -> AudioFingerprint | None: ...


class Stretch(Protocol):
    """A stretch of the clip placed in the original: query seconds [start, end] show original seconds from
    `original_start`, `speed` original seconds per query second (a video's aligned `Segment`)."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def original_start(self) -> float: ...

    @property
    def speed(self) -> float: ...


@dataclass(frozen=True, slots=True)
class AudioSegment:
    """The sound over one aligned segment: query seconds [start, end] play original seconds [original_start,
    original_end] where the sound's own alignment puts them; `lag` is how many original seconds later than the
    picture's alignment that is (None when the sound did not align there: the picture's alignment is used);
    `similarity` the share of the segment's spectral peaks the original has too (None: no sound on either side)."""

    start: float
    end: float
    original_start: float
    original_end: float
    speed: float  # original seconds per query second, as the sound's alignment found it
    lag: float | None
    similarity: float | None


@dataclass(frozen=True, slots=True)
class AudioFindings:
    """The clip's sound against the original's where the clip shows it.

    `similarity` is the share of the clip's spectral peaks the original has too, over all compared segments, each
    at its sound's own alignment (None when neither side has sound there); `segments` the same per aligned segment;
    `spans` are `audio_altered` (another sound over matching frames) and `audio_missing` (the original's sound
    stripped or silenced), in query seconds; `matched_by` says what placed the clip in the original: its `frames`,
    or its `audio` alone when no frame matched (the picture was replaced).
    """

    similarity: float | None
    spans: tuple[AudioSpan, ...]
    query_has_audio: bool
    matched_by: MatchedBy = "frames"
    segments: tuple[AudioSegment, ...] = ()


def sound_of(data: bytes, *, max_seconds: float) -> AudioFingerprint | None:
    """The fingerprint of the file's first sound track, as far as `max_seconds`; None without a track."""
    audio = extract_audio(data, max_seconds=max_seconds)
    return None if audio is None else fingerprint_audio(audio)


def heard_over(
    reference: AudioFingerprint | None, query: AudioFingerprint | None, stretches: Sequence[Stretch]
) -> AudioFindings | None:
    """The clip's sound over each aligned stretch against the original sound it should be, each at the sound's own
    alignment near the picture's; None when the original has none (nothing can be missing or changed)."""
    if reference is None:
        return None
    compared = [
        (
            stretch.start,
            stretch.end,
            compare_segment(
                reference,
                query,
                query_start=stretch.start,
                query_end=stretch.end,
                original_start=stretch.original_start,
                speed=stretch.speed,
            ),
        )
        for stretch in stretches
    ]
    return findings(compared, query_has_audio=query is not None, matched_by="frames")


def heard_alone(reference: AudioFingerprint, query: AudioFingerprint) -> tuple[AudioMatch, AudioFindings] | None:
    """The clip placed in the original by its sound alone, and its sound compared over that one stretch; None when
    the sound does not place it."""
    heard = match_audio(reference, query)
    if heard is None:
        return None
    original_start = heard.offset + heard.speed * heard.start
    compared = compare_segment(
        reference, query, query_start=heard.start, query_end=heard.end, original_start=original_start, speed=heard.speed
    )
    return heard, findings([(heard.start, heard.end, compared)], query_has_audio=True, matched_by="audio")


def findings(
    compared: Sequence[tuple[float, float, AudioComparison]], *, query_has_audio: bool, matched_by: MatchedBy
) -> AudioFindings:
    """Segments' comparisons, each with its query [start, end], as one finding: spans in time order, similarity
    over all the segments' peaks."""
    peaks = sum(c.peaks for _, _, c in compared if c.similarity is not None)
    agreeing = sum(c.similarity * c.peaks for _, _, c in compared if c.similarity is not None)
    return AudioFindings(
        similarity=round(agreeing / peaks, 4) if peaks else None,
        spans=tuple(sorted((span for _, _, c in compared for span in c.spans), key=lambda span: span.start)),
        query_has_audio=query_has_audio,
        matched_by=matched_by,
        segments=tuple(
            AudioSegment(
                start=round(start, 3),
                end=round(end, 3),
                original_start=round(c.original_start, 3),
                original_end=round(c.original_start + c.speed * (end - start), 3),
                speed=round(c.speed, 4),
                lag=c.lag,
                similarity=None if c.similarity is None else round(c.similarity, 4),
            )
            for start, end, c in compared
        ),
    )
