"""Open untrusted video safely and stream its frames at a fixed sampling rate, never holding the whole video.

The container is probed once (`probe`): kind by magic bytes, then duration, frame size and frame count checked
against the caps before any frame is decoded. `sample` then decodes in one pass and converts only the frames that
fall on the sampling grid, turned upright by the container's display matrix (phones store portrait video sideways).
Decoding re-checks the caps as it goes, because a container's declared duration can lie. Any FFmpeg failure is a
`CorruptMediaError` with a message safe to show to the sender.

Every decoded frame is also charged to the pixel budget open in this process (`pixel_budget`, width x height per
frame, at the frame's own size, so a stream that switches resolution pays for what it switched to): the caller
gives one budget to all the stages of one request, and a stream that spends it stops there. `within_budget`
refuses a video whose declared frames cannot fit before any is decoded.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import av
import numpy as np

from fingerprint import matroska
from fingerprint.isobmff import is_sound_only
from fingerprint.media import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError

# Sampling at most this share of the stream's frame rate skips non-reference frames (B-frames), which nothing else
# is decoded from: 1.5-1.8x faster decoding of footage with B-frames. Denser sampling (a check's decoding of an
# original around a placement) decodes every frame.
SPARSE_RATIO = 4
# Spread sampling moves each tick by this share of its interval times the tick's number, modulo 1.
_GOLDEN = (math.sqrt(5) - 1) / 2
_MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash", b"qt  "}
_EBML = b"\x1a\x45\xdf\xa3"
_CONTAINER_ERRORS = (av.FFmpegError, EOFError)


@dataclass(frozen=True, slots=True)
class VideoLimits:
    """Caps on what decoding one video may cost (named like their settings, so errors can name them), and the
    sampling rates the kind fingerprints at. The one place their defaults live: the registry's settings take theirs
    from here and pass their values down in this record."""

    max_video_seconds: float = 600.0
    max_video_frames: int = 36_000  # decoded frames: 10 minutes at 60 fps
    max_video_pixels: int = 3840 * 2160  # of one frame
    max_video_bytes: int = 200_000_000
    query_fps: float = 4.0  # frames per second a clip is hashed at
    reference_fps: float = 2.0  # and an original


class PixelBudget:
    """Decoded pixels (width x height x frames) that the work in this process may spend (what its request has left):
    see `pixel_budget`."""

    def __init__(self, pixels: int, limit: str) -> None:
        self.pixels, self.limit = pixels, limit
        self.spent = 0

    def left(self) -> int:
        return self.pixels - self.spent

    def charge(self, width: int, height: int) -> None:
        self.spent += width * height
        if self.spent > self.pixels:
            raise MediaTooLargeError(
                f"decoding stopped at a {width}x{height} frame: this stage has decoded {self.spent:,} pixels, more "
                f"than the {self.pixels:,} left of the request's budget (width x height x frames, every stage "
                "together)",
                limit=self.limit,
            )


_BUDGET: ContextVar[PixelBudget | None] = ContextVar("pixel_budget", default=None)


@contextmanager
def pixel_budget(pixels: int, limit: str) -> Iterator[PixelBudget]:
    """Charge every frame decoded inside to a budget of `pixels`; over it, `MediaTooLargeError(limit=limit)`.
    Without one open, decoding is bounded only by the per-video caps."""
    budget = PixelBudget(pixels, limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def within_budget(video: VideoMedia) -> None:
    """Refuse, before decoding a frame, a video whose declared frames (one pass) cost more than the budget left."""
    budget = _BUDGET.get()
    if budget is None or not video.fps:
        return
    estimate = math.ceil(video.duration * video.fps) * video.width * video.height
    if estimate > budget.left():
        raise MediaTooLargeError(
            f"the video declares about {estimate:,} pixels to decode ({video.width}x{video.height}, "
            f"{video.duration:g} s at {video.fps:g} fps), more than the {budget.left():,} left of the request's "
            "budget (width x height x frames, every stage together)",
            limit=budget.limit,
        )


@dataclass(frozen=True, slots=True)
class VideoMedia:
    """A probed video: the compressed bytes (frames are decoded on demand) and what the container declares.

    `width`/`height` are the upright display size (after the rotation); `rotation` is the counter-clockwise quarter
    turns that make the stored pixels upright.
    """

    media_type: str
    data: bytes
    width: int
    height: int
    duration: float
    fps: float
    rotation: int
    limits: VideoLimits


@dataclass(frozen=True, slots=True, eq=False)
class SampledFrame:
    time: float  # seconds from the first frame
    pixels: np.ndarray  # (h, w, 3) uint8 RGB, upright


def sniff_video(data: bytes) -> str | None:
    """The video media type told by the leading bytes (MP4/MOV `ftyp` with a video brand, WebM/Matroska EBML); a
    file with sound tracks and no video track is the sound kind's (`fingerprint.isobmff`, `fingerprint.matroska`)."""
    if data.startswith(_EBML):
        if matroska.is_sound_only(data):
            return None
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if len(data) >= 12 and data[4:8] == b"ftyp" and not is_sound_only(data):
        box_size = int.from_bytes(data[:4], "big")
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(box_size, len(data), 64) - 3, 4)}
        if data[8:12] == b"qt  ":
            return "video/quicktime"
        if brands & _MP4_BRANDS:
            return "video/mp4"
    return None


def probe(data: bytes, limits: VideoLimits) -> VideoMedia:
    """Check a video's declared size against the caps; raises `MediaError` subclasses, decodes nothing."""
    media_type = sniff_video(data)
    if media_type is None:
        raise UnsupportedMediaError("unsupported media type: expected an MP4, MOV, WebM or Matroska video")
    if len(data) > limits.max_video_bytes:
        raise MediaTooLargeError(
            f"video is {len(data)} bytes; the limit is {limits.max_video_bytes}", limit="max_video_bytes"
        )
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise CorruptMediaError("the file has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context is None:  # FFmpeg has no decoder for the stream's codec (or it is mislabelled)
                raise UnsupportedMediaError("the video's codec is not supported")
            width, height = stream.codec_context.width, stream.codec_context.height
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            duration = _declared_duration(container, stream)
            rotation = _first_rotation(container, stream)
    except _CONTAINER_ERRORS as exc:
        raise CorruptMediaError(f"the video cannot be read (truncated or damaged): {_reason(exc)}") from None
    if width <= 0 or height <= 0:
        raise CorruptMediaError("the video declares no frame size")
    if width * height > limits.max_video_pixels:
        raise MediaTooLargeError(
            f"video frames are {width}x{height} pixels; the limit is {limits.max_video_pixels} pixels",
            limit="max_video_pixels",
        )
    _check_duration(duration, limits)
    if fps and duration * fps > limits.max_video_frames:
        raise MediaTooLargeError(
            f"video has about {math.ceil(duration * fps)} frames; the limit is {limits.max_video_frames}",
            limit="max_video_frames",
        )
    upright = (height, width) if rotation % 2 else (width, height)
    return VideoMedia(media_type, data, upright[0], upright[1], duration, fps, rotation, limits)


def sample(
    video: VideoMedia,
    fps: float,
    *,
    max_side: int,
    start: float = 0.0,
    end: float = math.inf,
    spread: bool = False,
    within: Sequence[tuple[float, float]] | None = None,
) -> Iterator[SampledFrame]:
    """Frames at `fps` (the first frame at or after each tick of the grid) between `start` and `end` seconds,
    upright and scaled so the longer side is at most `max_side`. One decoding pass from the keyframe before `start`;
    the caps are enforced as it goes. Sparse sampling (`SPARSE_RATIO`) takes the first *reference* frame at or after
    each tick: a frame or two later than the grid on footage with B-frames, its time still exact.

    `spread` moves tick k by a golden-ratio share of an interval (k x 0.618 modulo 1: gaps of 0.6 and 1.6
    intervals in an order that never repeats). Two regular samplings of one footage (a clip's at 4 fps, its
    original's registration at 2) otherwise take the same frames everywhere or nowhere, by the offset alone, and
    under a fast camera move frames a few hundredths of a second apart no longer hash alike; spread, some sampled
    frames of the clip are always the very frames the other sampling took.

    `within`: only frames inside these stretches (seconds) are taken; the others are decoded in the same pass, never
    converted (both ends of a span, in one pass).
    """

    def tick_time(k: int) -> float:
        return (k + (k * _GOLDEN % 1.0 if spread else 0.0)) / fps

    def first_tick(after: float, at_least: int) -> int:
        k = max(at_least, math.floor(after * fps) - 1)
        while tick_time(k) < after - 1e-6 / fps:
            k += 1
        return k

    tick = first_tick(max(start, 0.0), 0)
    next_time = tick_time(tick)
    decoded = 0
    limits = video.limits
    budget = _BUDGET.get()
    try:
        with av.open(io.BytesIO(video.data), mode="r") as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            if video.fps and fps * SPARSE_RATIO <= video.fps:
                # no frame depends on a non-reference frame: skipping them changes nothing else, and the grid's
                # ticks are far enough apart that the next reference frame is still near each one
                stream.codec_context.skip_frame = "NONREF"
            time_base = stream.time_base
            if time_base is None:  # no frame of it could be placed in time
                raise CorruptMediaError("the video stream has no time base")
            origin = float(stream.start_time * time_base) if stream.start_time is not None else 0.0
            if start > 0:
                container.seek(round((origin + start) / time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                decoded += 1
                if decoded > limits.max_video_frames:
                    raise MediaTooLargeError(
                        f"video has more than {limits.max_video_frames} frames", limit="max_video_frames"
                    )
                if frame.width * frame.height > limits.max_video_pixels:  # the header's size binds no later frame
                    raise MediaTooLargeError(
                        f"a video frame is {frame.width}x{frame.height} pixels; the limit is "
                        f"{limits.max_video_pixels} pixels",
                        limit="max_video_pixels",
                    )
                if budget is not None:
                    budget.charge(frame.width, frame.height)
                if frame.pts is None or frame.time_base is None:
                    continue
                t = float(frame.pts * frame.time_base) - origin
                _check_duration(t, limits)
                if t > end:
                    break
                if t + 1e-6 < next_time or (within is not None and not any(a <= t <= b for a, b in within)):
                    continue
                yield SampledFrame(t, _upright(frame, video.rotation, max_side))
                tick = first_tick(t, tick + 1)
                next_time = tick_time(tick)
    except _CONTAINER_ERRORS as exc:
        raise CorruptMediaError(f"the video cannot be decoded (truncated or damaged): {_reason(exc)}") from None
    if decoded == 0:
        raise CorruptMediaError("the video has no decodable frames")


def _upright(frame: av.VideoFrame, rotation: int, max_side: int) -> np.ndarray:
    w, h = frame.width, frame.height
    factor = max(w, h) / max_side
    if factor > 1:
        w, h = max(2, round(w / factor)), max(2, round(h / factor))
    pixels = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
    return np.ascontiguousarray(np.rot90(pixels, rotation)) if rotation else pixels


def _declared_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _first_rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Counter-clockwise quarter turns that show the stored pixels upright, from the first frame's display matrix."""
    for frame in container.decode(stream):
        if (budget := _BUDGET.get()) is not None:
            budget.charge(frame.width, frame.height)
        return round(float(frame.rotation or 0) / 90) % 4
    raise CorruptMediaError("the video has no decodable frames")


def _check_duration(seconds: float, limits: VideoLimits) -> None:
    if seconds > limits.max_video_seconds:
        raise MediaTooLargeError(
            f"video is longer than {limits.max_video_seconds:g} seconds", limit="max_video_seconds"
        )


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
