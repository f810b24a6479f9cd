"""A video against one original: frame tracks in, a `Timeline` (segments, spans, distance profile) out.

The index's hits place the query roughly (the original's track is sampled sparsely, `video_reference_fps`); the
original is then decoded around each placement at every one of its frames, each hashed at its own timestamp (not on a
grid: a grid of 15 fps against 25 fps footage put frames up to 40 ms apart, which a pan turns into 36-72 PDQ bits),
so offsets and the per-frame distances come out at the original's frame times, whatever its frame rate, constant or
variable. Around each span's ends the clip too is decoded at every frame, so the span ends on real frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fingerprint.media import CorruptMediaError
from fingerprint.video.align import FrameHit, Hypothesis, Timeline, fit, hypotheses, timeline
from fingerprint.video.decode import SampledFrame, VideoMedia, sample
from fingerprint.video.track import FrameTrack, distances, query_track, reference_track

# Frames are hashed at most this large: PDQ works on 64x64 anyway, and scaling in the decoder is cheap.
HASH_SIDE = 256
# Sampling at this rate keeps every frame (no two frames of a video are a millisecond apart).
NATIVE_FPS = 1000.0
# Seconds of original decoded beyond a placement's ends, for the speed and offset search to move into.
_MARGIN = 1.5
# Whether the clip's frame at `t` shows the original's frame at `original_t` (query variant), however changed.
Shows = Callable[[float, float, str], bool]


def track_of(video: VideoMedia, fps: float, *, reference: bool) -> FrameTrack:
    """A video's frame track at `fps`: an original's (stored, indexed) on the regular grid, or a query's (searched
    with) on a spread one, so that some of its frames are the very frames the original's track holds."""
    frames = sample(video, fps, max_side=HASH_SIDE, spread=not reference)
    return reference_track(frames) if reference else query_track(frames)


def frame_at(video: VideoMedia, t: float, *, max_side: int) -> SampledFrame:
    """The frame shown at `t` seconds (the first frame at or after it, or the last one)."""
    # sampling from `t` converts only the frame asked for; the frames before it are decoded, never converted
    for frame in sample(video, NATIVE_FPS, max_side=max_side, start=max(0.0, t - 1e-3), end=t + 0.5):
        return frame
    found = None
    for frame in sample(video, NATIVE_FPS, max_side=max_side, start=max(0.0, t - 0.5), end=t + 0.5):
        found = frame
        if frame.time >= t - 1e-3:
            break
    if found is None:
        # a time past the last frame, or timestamps out of order (a damaged or crafted file)
        raise CorruptMediaError(f"the video has no frame near {t:.3f} s (cut short, or its timestamps are damaged)")
    return found


def frame_hits(query: FrameTrack, reference: FrameTrack, radius: int) -> list[FrameHit]:
    """Every query frame within `radius` of a reference frame, compared exhaustively (the index does the same at
    scale): what a check against one known original starts from."""
    hits = []
    for query_variant in query.variants:
        for variant in reference.variants:
            table = distances(query.variant(query_variant), reference.variant(variant))
            for i, j in zip(*np.nonzero(table <= radius), strict=True):
                hits.append(
                    FrameHit(float(query.times[i]), float(reference.times[j]), int(table[i, j]), query_variant, variant)
                )
    return hits


def locate(
    query: FrameTrack,
    original: VideoMedia,
    hits: Sequence[FrameHit],
    *,
    clip: VideoMedia,
    shows: Shows | None = None,
) -> Timeline | None:
    """Where the query (`clip`'s track) sits in `original`, at what speed, and what differs; None when it does not
    match enough. `shows` tells heavily changed frames of the original from other footage (the kind's keypoint
    verification; without it PDQ alone tells)."""
    if len(query) == 0:
        return None
    found = hypotheses(hits)
    windows, placed = _windows(found, query, clip.duration)
    tracks = [_native(original, start, end, variants) for start, end, variants in windows]
    fits = [fit(query, tracks[k], hypothesis) for hypothesis, k in zip(found, placed, strict=True) if len(tracks[k])]
    return timeline(query, fits, duration=clip.duration, hits=hits, clip=_Clip(clip, shows))


@dataclass(frozen=True, slots=True)
class _Clip:
    """The clip for temporal matching (`ClipSource`): its frames decoded on demand, at every frame."""

    media: VideoMedia
    verify: Shows | None

    def frames(self, stretches: Sequence[tuple[float, float]]) -> FrameTrack:
        start, end = min(a for a, _ in stretches), max(b for _, b in stretches)
        found = sample(self.media, NATIVE_FPS, max_side=HASH_SIDE, start=start, end=end, within=stretches)
        return query_track(found, prune=False)

    def shows(self, t: float, original_t: float, query_variant: str) -> bool:
        return self.verify is not None and self.verify(t, original_t, query_variant)


def _windows(
    found: Sequence[Hypothesis], query: FrameTrack, duration: float
) -> tuple[list[tuple[float, float, tuple[str, ...]]], list[int]]:
    """The original's stretches to decode: each placement's with a margin, overlapping ones merged so each frame is
    decoded once, with the hash variants their placements compare; and each placement's stretch."""
    spans = []
    for hypothesis in found:
        ends = hypothesis.original_time(np.array([query.times[0], max(query.times[-1], duration)]))
        spans.append((max(0.0, float(ends.min()) - _MARGIN), float(ends.max()) + _MARGIN, hypothesis.variant))
    merged: list[tuple[float, float, tuple[str, ...]]] = []
    placed = [0] * len(spans)
    for k in sorted(range(len(spans)), key=lambda k: spans[k]):
        start, end, variant = spans[k]
        if merged and start <= merged[-1][1]:
            low, high, variants = merged[-1]
            merged[-1] = (low, max(high, end), tuple(dict.fromkeys((*variants, variant))))
        else:
            merged.append((start, end, (variant,)))
        placed[k] = len(merged) - 1
    return merged, placed


def _native(original: VideoMedia, start: float, end: float, variants: tuple[str, ...]) -> FrameTrack:
    """Every frame of the original from `start` to `end` seconds at its own time, hashed under `variants`."""
    frames = sample(original, NATIVE_FPS, max_side=HASH_SIDE, start=start, end=end)
    return reference_track(frames, variants=variants, prune=False)
