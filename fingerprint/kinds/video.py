"""Video: probe once, hash sampled frames into a frame track, align a clip in time, then analyse frames as images.

An original is registered as its frame track (indexed by time) plus the image hashes of its poster frame (the frame
in the middle), which name the video in views and lookups. A check searches the index with the clip's track; each
candidate's hits place the clip in the original (`fingerprint.video.match.locate`), and the image analysis then runs
on aligned frame pairs: the best-matched pair tells the transform (crop, mirror, scale), and the worst frame of each
altered span tells where in the picture it was changed.

The sound track is fingerprinted beside the frames (`fingerprint.audio`). Once the frames have placed the clip, its
sound is compared with the original's over each aligned segment (a voice swap over matching frames is `altered`);
when no frame matches, the sound alone can still name the original (the picture was replaced).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from fingerprint.algorithms import CANONICAL, HashRecord, for_kind
from fingerprint.audio import AudioFindings, AudioFingerprint, SoundSource, heard_alone, heard_over
from fingerprint.audio.findings import sound_of as sound_of_file
from fingerprint.candidates import HashEvidence, MatchCandidate
from fingerprint.compare import PDQ, DerivativeMatch, Localisation, ReferenceSource, Verdict, analyse_image, verify
from fingerprint.features import LocalFeatures, extract_features, extract_query_features
from fingerprint.geometry import Rect
from fingerprint.kinds.base import DecodeLimits, Fingerprint
from fingerprint.kinds.image import hash_pixels
from fingerprint.media import WORKING_SIDE, CanonicalImage
from fingerprint.video.align import FrameHit, Segment, Span, Timeline
from fingerprint.video.decode import VideoMedia, probe, sniff_video
from fingerprint.video.match import frame_at, locate, track_of
from fingerprint.video.timeline import render_timeline
from fingerprint.video.track import FrameTrack
from fingerprint.video.wholehash import VIDEOHASH, VIDEOHASH_BITS, videohash

FRAME_ALG = "pdq_frame"  # the index's name for frame-track hashes, apart from the images' PDQ
# Frames for the image analysis are decoded this large (the features' working size).
_ANALYSIS_SIDE = 640
_POSTER_SIDE = WORKING_SIDE
# Hashes of a whole file rather than of pixels: looked up by value (`lookup --alg`), never searched by a check.
WHOLE_FILE_HASHES: dict[str, int] = {VIDEOHASH: VIDEOHASH_BITS}


@dataclass(frozen=True, slots=True, eq=False)
class SpanPicture:
    """One altered span's aligned frame pair, as the image analysis saw it (kept for the picture only)."""

    span: Span
    localisation: Localisation


@dataclass(frozen=True, slots=True, eq=False)
class VideoMatch:
    """A clip verified against one original: where it sits (`timeline`), what was done to the picture (`frame`, the
    best-matched frame pair analysed as images), and each span's worst frame analysed against the original frame it
    stands for (`span_frames`, in span order; None for inserted footage, which has no original frame); `audio` the
    sound compared over the alignment (None when the original has no sound track)."""

    registration_id: str
    verdict: Verdict
    timeline: Timeline
    frame: DerivativeMatch | None
    span_frames: tuple[DerivativeMatch | None, ...]
    localisation: tuple[SpanPicture, ...] | None = field(default=None, repr=False)
    audio: AudioFindings | None = None


class VideoKind:
    name = "video"

    def sniff(self, data: bytes) -> str | None:
        return sniff_video(data)

    def decode(self, data: bytes, limits: DecodeLimits) -> VideoMedia:
        return probe(data, limits.video)

    def reference(self, media: VideoMedia, *, sha256: str, size: int, local: bool = True) -> Fingerprint:
        """The frame track, the sound's fingerprint, the poster's image hashes and the whole file's `videohash` (a
        lookup key: a query is never hashed with it, it cannot find excerpts); `local=False` leaves out the track and
        the sound (the CLI's `hash`)."""
        poster = self._poster(media)
        hashes = tuple(record for algorithm in for_kind("image") for record in algorithm.reference(poster))
        hashes += (HashRecord(VIDEOHASH, CANONICAL, videohash(media.data)),)
        frames = track_of(media, self._fps(media, reference=True), reference=True) if local else None
        return self._fingerprint(media, sha256, size, hashes, frames, sound_of(media) if local else None)

    def query(self, media: VideoMedia, *, sha256: str, size: int, local: bool) -> Fingerprint:
        """The poster's query hashes, the clip's frame track and its sound's fingerprint, whatever `local` says:
        fast mode searches frames."""
        poster = self._poster(media)
        hashes = tuple(record for algorithm in for_kind("image") for record in algorithm.query(poster))
        frames = track_of(media, self._fps(media, reference=False), reference=False)
        return self._fingerprint(media, sha256, size, hashes, frames, sound_of(media))

    def analyse(
        self,
        media: VideoMedia,
        query: Fingerprint,
        candidates: Sequence[MatchCandidate],
        references: ReferenceSource[VideoMedia],
        *,
        strong: int,
        limit: int,
        exhaustive: bool = True,
    ) -> list[VideoMatch]:
        """Align the clip with each candidate that has frame hits (most query frames hit first), up to `limit`;
        when none aligns, place its sound in the other candidates' (the picture replaced, the sound kept)."""
        if query.frames is None:
            return []
        framed = [c for c in candidates if any(e.at is not None for e in c.hashes)]
        ranked = sorted(
            framed, key=lambda c: (c.rank, -len({e.query_at for e in c.hashes if e.at is not None}), c.registration_id)
        )
        matches = []
        for candidate in ranked[:limit]:
            original: VideoMedia = references.original(candidate.registration_id)
            hits = [
                FrameHit(e.query_at, e.at, e.distance, e.query_variant, e.variant)
                for e in candidate.hashes
                if e.at is not None and e.query_at is not None
            ]
            shows = partial(_shows_original, media, original)
            found = locate(query.frames, original, hits, clip=media, shows=shows)
            if found is not None:
                sound = _original_sound(references, candidate.registration_id, original)
                match = self._video_match(candidate.registration_id, media, original, found, strong, query.audio, sound)
                matches.append(match)
        if not matches and query.audio is not None:
            framed_ids = {c.registration_id for c in framed}
            unframed = sorted(c.registration_id for c in candidates if c.registration_id not in framed_ids)[:limit]
            heard = (
                _by_sound(registration_id, _original_sound(references, registration_id, None), query.audio)
                for registration_id in unframed
            )
            matches = [match for match in heard if match is not None]
        return sorted(matches, key=lambda m: (-m.timeline.matched_share, m.registration_id))

    def render(self, match: VideoMatch, *, label: str) -> bytes:
        pictures = match.localisation or ()
        audio = () if match.audio is None else match.audio.spans
        return render_timeline(
            match.timeline, [(p.span, p.localisation) for p in pictures], label=label, audio_spans=audio
        )

    # --- helpers --------------------------------------------------------------------------------------------------

    def _video_match(
        self,
        registration_id: str,
        media: VideoMedia,
        original: VideoMedia,
        found: Timeline,
        strong: int,
        query_audio: AudioFingerprint | None,
        original_audio: AudioFingerprint | None,
    ) -> VideoMatch:
        frame = self._best_pair(media, original, found, strong)
        spans: list[Span] = []
        span_frames: list[DerivativeMatch | None] = []
        pictures: list[SpanPicture] = []
        for span in found.spans:
            pair = self._span_pair(media, original, found, span) if span.kind == "altered" else None
            if pair is not None and pair.verdict == "copy":
                # its most changed frame is the original's picture to the image analysis (keypoints, local
                # differences): frame hashes pushed apart by re-encoding low-detail content, not an edit
                continue
            spans.append(span)
            span_frames.append(None if pair is None else dataclasses.replace(pair, localisation=None))
            if pair is not None and pair.localisation is not None:
                pictures.append(SpanPicture(span, pair.localisation))
        found = dataclasses.replace(found, spans=tuple(spans))
        audio = heard_over(original_audio, query_audio, found.segments)
        # Another sound over matching frames is a doctored clip; sound stripped or silenced adds nothing, so alone it
        # leaves a copy (a muted excerpt is still the original's footage).
        swapped = audio is not None and any(span.kind == "audio_altered" for span in audio.spans)
        verdict: Verdict = "altered" if found.spans or swapped else "copy"
        return VideoMatch(
            registration_id,
            verdict,
            found,
            None if frame is None else dataclasses.replace(frame, localisation=None),
            tuple(span_frames),
            tuple(pictures),
            audio,
        )

    def _best_pair(
        self, media: VideoMedia, original: VideoMedia, found: Timeline, strong: int
    ) -> DerivativeMatch | None:
        """The best-matched frame pair analysed as images: what was done to the picture as a whole."""
        matched = np.flatnonzero(found.distances >= 0)
        if len(matched) == 0:
            return None
        best = int(matched[np.argmin(found.distances[matched])])
        t = float(found.times[best])
        pair = (t, float(found.original_times[best]), int(found.distances[best]))
        return _compare_frames(media, original, *pair, _variant_at(found, t), strong)

    def _span_pair(
        self, media: VideoMedia, original: VideoMedia, found: Timeline, span: Span
    ) -> DerivativeMatch | None:
        """The span's worst frame against the original frame it was compared with: where the picture was changed."""
        if span.original_peak is None:
            return None
        pair = (span.peak, span.original_peak, span.distance)
        # a changed frame is far from its original by construction: accept the pair whatever its distance
        return _compare_frames(media, original, *pair, _variant_at(found, span.peak), strong=256)

    def _poster(self, media: VideoMedia) -> np.ndarray:
        frame = frame_at(media, media.duration / 2, max_side=_POSTER_SIDE)
        return hash_pixels(_as_image(frame.pixels, media))

    def _fps(self, media: VideoMedia, *, reference: bool) -> float:
        return media.limits.reference_fps if reference else media.limits.query_fps

    def _fingerprint(
        self,
        media: VideoMedia,
        sha256: str,
        size: int,
        hashes: tuple[HashRecord, ...],
        frames: FrameTrack | None,
        audio: AudioFingerprint | None,
    ) -> Fingerprint:
        return Fingerprint(
            kind=self.name,
            sha256=sha256,
            media_type=media.media_type,
            size=size,
            hashes=hashes,
            frames=frames,
            audio=audio,
            facts={
                "width": media.width,
                "height": media.height,
                "trim_box": [0, 0, media.width, media.height],
                "duration": round(media.duration, 3),
                "fps": round(media.fps, 3),
                "frames": 0 if frames is None else len(frames),
            },
        )


def sound_of(media: VideoMedia) -> AudioFingerprint | None:
    """The fingerprint of the video's first sound track, as far as the duration cap; None without a track."""
    return sound_of_file(media.data, max_seconds=media.limits.max_video_seconds)


def _original_sound(
    references: ReferenceSource[VideoMedia], registration_id: str, original: VideoMedia | None
) -> AudioFingerprint | None:
    """The original's stored sound fingerprint, else its decoded track's (registered before sound was stored)."""
    stored = references.sound(registration_id) if isinstance(references, SoundSource) else None
    if stored is not None:
        return stored
    return sound_of(original if original is not None else references.original(registration_id))


def _by_sound(registration_id: str, reference: AudioFingerprint | None, query: AudioFingerprint) -> VideoMatch | None:
    """A clip no frame of which matches, placed in the original by its sound alone: the picture was replaced, so the
    verdict is `altered`; the timeline has the one segment the sound spans and no frame profile."""
    placed = None if reference is None else heard_alone(reference, query)
    if placed is None:
        return None
    heard, audio = placed
    segment = Segment(
        start=round(heard.start, 3),
        end=round(heard.end, 3),
        original_start=round(heard.offset + heard.speed * heard.start, 3),
        original_end=round(heard.offset + heard.speed * heard.end, 3),
        speed=round(heard.speed, 4),
        matched_share=0.0,
        query_variant="identity",
        variant=CANONICAL,
    )
    empty = np.zeros(0)
    timeline = Timeline((segment,), (), empty, empty, np.zeros(0, np.int32), 0.0)
    return VideoMatch(registration_id, "altered", timeline, None, (), (), audio)


class _FramePair:
    """`ReferenceSource` over one original frame, for the image analysis of one aligned pair."""

    def __init__(self, image: CanonicalImage) -> None:
        self.image = image

    def features(self, registration_id: str) -> LocalFeatures | None:
        return extract_features(self.image)

    def original(self, registration_id: str) -> CanonicalImage:
        return self.image


def _compare_frames(
    media: VideoMedia, original: VideoMedia, t: float, original_t: float, distance: int, variant: str, strong: int
) -> DerivativeMatch | None:
    """The clip's frame at `t` against the original's at `original_t` (both exact frame times), as images."""
    query_image = _as_image(frame_at(media, t, max_side=_ANALYSIS_SIDE).pixels, media)
    original_image = _as_image(frame_at(original, original_t, max_side=_ANALYSIS_SIDE).pixels, original)
    # the frame pair's PDQ distance as the image analysis reads a hit: the clip's variant onto the whole frame
    candidate = MatchCandidate("frame", (HashEvidence(PDQ, CANONICAL, variant, distance),))
    matches = analyse_image(
        query_image,
        extract_query_features(query_image),
        [candidate],
        _FramePair(original_image),
        strong_distance=max(strong, distance),
    )
    return matches[0] if matches else None


def _shows_original(media: VideoMedia, original: VideoMedia, t: float, original_t: float, query_variant: str) -> bool:
    """Whether keypoints find the original's frame at `original_t` in the clip's frame at `t` (as it is, or mirrored
    for a mirrored clip): a frame changed beyond what PDQ tolerates still shows its scene; other footage does not."""
    query_image = _as_image(frame_at(media, t, max_side=_ANALYSIS_SIDE).pixels, media)
    original_image = _as_image(frame_at(original, original_t, max_side=_ANALYSIS_SIDE).pixels, original)
    features = extract_features(query_image, mirrored=query_variant == "flip_horizontal")
    return verify(features, extract_features(original_image)) is not None


def _variant_at(found: Timeline, t: float) -> str:
    for segment in found.segments:
        if segment.start <= t < segment.end:
            return segment.query_variant
    return found.segments[0].query_variant


def _as_image(pixels: np.ndarray, media: VideoMedia) -> CanonicalImage:
    """A decoded frame as the image analysis takes it: full size is the video's, no borders trimmed."""
    return CanonicalImage(
        media_type=media.media_type,
        width=media.width,
        height=media.height,
        trim_box=Rect(0, 0, media.width, media.height),
        pixels=pixels,
    )
