"""A video against one original: frame tracks in, a `Timeline` (segments, spans, distance profile) out.

The index's hits place the query roughly (the original's track is sampled sparsely, `video_reference_fps`); the
original is then decoded densely around each placement, so offsets and the per-frame distance profile come out at
the original's frame rate rather than its registration sampling rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fingerprint.video.align import FrameHit, Timeline, fit, hypotheses, timeline
from fingerprint.video.decode import SampledFrame, VideoMedia, sample
from fingerprint.video.track import FrameTrack, distances, query_track, reference_track

# Frames are hashed at most this large: PDQ works on 64x64 anyway, and scaling in the decoder is cheap.
HASH_SIDE = 256
# The original around a placement is hashed at up to this rate (every frame of 15 fps footage, every other of 30).
DENSE_FPS = 15.0
# Seconds of original decoded beyond a placement's ends, for the speed and offset search to move into.
_MARGIN = 1.5


def track_of(video: VideoMedia, fps: float, *, reference: bool) -> FrameTrack:
    """A video's frame track at `fps`: an original's (stored, indexed) or a query's (searched with)."""
    frames = sample(video, fps, max_side=HASH_SIDE)
    return reference_track(frames) if reference else query_track(frames)


def frame_at(video: VideoMedia, t: float, *, max_side: int) -> SampledFrame:
    """The frame shown at `t` seconds (the first frame at or after it, or the last one)."""
    found = None
    for frame in sample(video, 1000.0, max_side=max_side, start=max(0.0, t - 0.5), end=t + 0.5):
        found = frame
        if frame.time >= t - 1e-3:
            break
    if found is None:
        raise ValueError(f"no frame near {t:.3f} s")
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


def locate(query: FrameTrack, original: VideoMedia, hits: Sequence[FrameHit], *, duration: float) -> Timeline | None:
    """Where the query sits in `original`, at what speed, and what differs; None when it does not match enough."""
    if len(query) == 0:
        return None
    fits = []
    for hypothesis in hypotheses(hits):
        ends = hypothesis.original_time(np.array([query.times[0], max(query.times[-1], duration)]))
        window = sample(
            original,
            DENSE_FPS,
            max_side=HASH_SIDE,
            start=max(0.0, float(ends.min()) - _MARGIN),
            end=float(ends.max()) + _MARGIN,
        )
        dense = reference_track(window)
        if len(dense):
            fits.append(fit(query, dense, hypothesis))
    return timeline(query, fits, duration=duration)
