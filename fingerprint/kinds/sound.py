"""Sound files (MP3, AAC/M4A, Ogg Opus, WAV, FLAC): the landmarks of their sound, placed and compared like a video's.

An original is registered as its landmarks (`Fingerprint.audio`, what a video stores for its sound track) and its
whole-file `soundhash` (a lookup key, as `videohash` is for a video: never searched by a check). A check verifies
each candidate original by placing the clip's sound in it and comparing segment by segment (`fingerprint.sound.match`):
`copy`, or `altered` with the spans that are not the original's sound.

Which kind an MP4 is follows its tracks (`fingerprint.isobmff`): sound tracks and no video track make a sound file
(`audio/mp4`), any video track a video; Matroska/WebM stays with the video kind whatever it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from fingerprint.algorithms import CANONICAL
from fingerprint.audio import Audio, AudioFingerprint, AudioSpan, SoundSource, fingerprint_audio
from fingerprint.candidates import MatchCandidate
from fingerprint.compare import ReferenceSource
from fingerprint.kinds.base import DecodeLimits, Fingerprint
from fingerprint.sound import (
    SOUNDHASH,
    SOUNDHASH_BITS,
    SoundLimits,
    SoundMatch,
    SoundMedia,
    match_sound,
    probe,
    samples,
    sniff_sound,
    soundhash_record,
)
from fingerprint.video.align import Segment, Timeline
from fingerprint.video.timeline import render_timeline

# Hashes of a whole file rather than of its content over time: looked up by value (`lookup --alg`), never searched.
WHOLE_FILE_HASHES: dict[str, int] = {SOUNDHASH: SOUNDHASH_BITS}
_DRAWN_CUT = 0.1  # seconds either side of a deletion's point, so the picture shows it


class SoundKind:
    name = "sound"

    def sniff(self, data: bytes) -> str | None:
        return sniff_sound(data)

    def decode(self, data: bytes, limits: DecodeLimits) -> SoundMedia:
        """The header checked against the caps; a sound is held to the video's duration and byte caps."""
        return probe(
            data, SoundLimits(max_seconds=limits.video.max_video_seconds, max_bytes=limits.video.max_video_bytes)
        )

    def reference(self, media: SoundMedia, *, sha256: str, size: int, local: bool = True) -> Fingerprint:
        """The whole-file `soundhash` and the landmarks; `local=False` leaves out the landmarks (the CLI's `hash`)."""
        audio = samples(media)
        return self._fingerprint(media, sha256, size, audio, fingerprint_audio(audio) if local else None)

    def query(self, media: SoundMedia, *, sha256: str, size: int, local: bool) -> Fingerprint:
        """The landmarks whatever `local` says: they are all a check searches with."""
        audio = samples(media)
        return self._fingerprint(media, sha256, size, audio, fingerprint_audio(audio))

    def analyse(
        self,
        media: SoundMedia,
        query: Fingerprint,
        candidates: Sequence[MatchCandidate],
        references: ReferenceSource[SoundMedia],
        *,
        strong: int,
        limit: int,
        exhaustive: bool = True,
    ) -> list[SoundMatch]:
        """Place the clip in each candidate, those holding most of its landmark hashes first, until `limit` match
        (`exhaustive=False`: until one is a whole copy). `strong` is a picture distance: sound has none."""
        clip = query.audio
        if clip is None:
            return []
        originals = {c.registration_id: _original_sound(references, c.registration_id) for c in candidates}
        ranked = sorted(
            originals, key=lambda registration_id: (-shared(originals[registration_id], clip), registration_id)
        )
        matches: list[SoundMatch] = []
        for registration_id in ranked:
            found = match_sound(originals[registration_id], clip, registration_id=registration_id)
            if found is None:
                continue
            matches.append(found)
            if len(matches) >= limit or (not exhaustive and found.verdict == "copy" and found.matched_share >= 0.9):
                break
        return sorted(matches, key=lambda m: (-m.matched_share, -(m.similarity or 0.0), m.registration_id))

    def render(self, match: SoundMatch, *, label: str) -> bytes:
        """The video's timeline picture with no frame profile: the clip's segments, its spans in the sound band."""
        segments = tuple(
            Segment(s.start, s.end, s.original_start, s.original_end, s.speed, 0.0, "identity", CANONICAL)
            for s in match.segments
        )
        empty = np.zeros(0)
        timeline = Timeline(segments, (), empty, empty, np.zeros(0, np.int32), match.matched_share)
        drawn = [
            AudioSpan(
                max(0.0, span.start - (_DRAWN_CUT if span.kind == "deleted" else 0.0)),
                span.end + (_DRAWN_CUT if span.kind == "deleted" else 0.0),
                "audio_missing" if span.kind == "silenced" else "audio_altered",
            )
            for span in match.spans
        ]
        return render_timeline(timeline, [], label=label, audio_spans=drawn)

    def _fingerprint(
        self, media: SoundMedia, sha256: str, size: int, audio: Audio, landmarks: AudioFingerprint | None
    ) -> Fingerprint:
        return Fingerprint(
            kind=self.name,
            sha256=sha256,
            media_type=media.media_type,
            size=size,
            hashes=(soundhash_record(audio),),
            audio=landmarks,
            facts=asdict(SoundFacts(round(audio.duration, 3), media.sample_rate, media.channels, media.codec)),
        )


@dataclass(frozen=True, slots=True)
class SoundFacts:
    """What a sound file is, as `Fingerprint.facts` holds it (`asdict`): decoded seconds, the first sound stream's
    sample rate (Hz), channels and codec (FFmpeg's name)."""

    duration: float
    sample_rate: int
    channels: int
    codec: str


def shared(reference: AudioFingerprint, clip: AudioFingerprint) -> float:
    """The share of the clip's landmark hashes the original holds anywhere: a set lookup, about a millisecond, that
    orders candidates (a resampled clip shares few, so it orders, never excludes)."""
    wanted = np.unique(clip.hashes()[0])
    return float(np.isin(wanted, reference.hashes()[0]).mean()) if len(wanted) else 0.0


def _original_sound(references: ReferenceSource[SoundMedia], registration_id: str) -> AudioFingerprint:
    """The original's stored landmarks, else those of its decoded sound."""
    stored = references.sound(registration_id) if isinstance(references, SoundSource) else None
    if stored is not None:
        return stored
    return fingerprint_audio(samples(references.original(registration_id)))
