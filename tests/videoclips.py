"""Deterministic test footage: short clips encoded with PyAV from the committed photos, with known edits at known times.

The "original" is a function of time: five 4-second shots, each a pan or a zoom over one photo, so every moment
looks different from every other and a frame's time can be told from its picture. A derivative is the same function
sampled from an offset at some speed, then cropped, mirrored, resized, repainted in a known span and encoded again
(H.264 in MP4 or VP9 in WebM), so the truth of every test is known exactly and nothing is downloaded.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from audioclips import RATE, add_sound, write_sound

_DATA = Path(__file__).parent / "data"
SHOT_SECONDS = 4.0
# photo, pan (start and end centre as shares of the photo) and zoom (share of the photo's shorter side shown)
_SHOTS: tuple[tuple[str, tuple[float, float], tuple[float, float], tuple[float, float]], ...] = (
    ("astronaut", (0.35, 0.45), (0.65, 0.5), (0.6, 0.6)),
    ("chelsea", (0.5, 0.5), (0.5, 0.5), (0.95, 0.45)),
    ("coffee", (0.3, 0.5), (0.7, 0.55), (0.7, 0.7)),
    ("rocket", (0.5, 0.6), (0.5, 0.45), (0.8, 0.75)),
    ("astronaut", (0.5, 0.3), (0.5, 0.3), (0.5, 1.0)),
)
DURATION = SHOT_SECONDS * len(_SHOTS)


@lru_cache(maxsize=8)
def _photo(name: str) -> np.ndarray:
    pixels = cv2.imread(str(_DATA / f"{name}.jpg"), cv2.IMREAD_COLOR)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def original_frame(t: float, width: int = 320, height: int = 180) -> np.ndarray:
    """The original footage at `t` seconds: an RGB frame of a pan or zoom across one photo."""
    shot = min(int(t // SHOT_SECONDS), len(_SHOTS) - 1)
    name, start, end, zoom = _SHOTS[shot]
    u = min(max((t - shot * SHOT_SECONDS) / SHOT_SECONDS, 0.0), 1.0)
    return pan(_photo(name), start, end, zoom, u, width, height)


def pan(
    photo: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    zoom: tuple[float, float],
    u: float,
    width: int,
    height: int,
) -> np.ndarray:
    """A frame `u` (0-1) of the way through a shot that pans from `start` to `end` (window centres as shares of
    the photo) while the window's height goes from `zoom[0]` to `zoom[1]` of the photo's shorter side."""
    ph, pw = photo.shape[:2]
    cx = (start[0] + (end[0] - start[0]) * u) * pw
    cy = (start[1] + (end[1] - start[1]) * u) * ph
    side = (zoom[0] + (zoom[1] - zoom[0]) * u) * min(ph, pw)
    # the window keeps the frame's aspect ratio and stays inside the photo
    ww, wh = min(side * width / height, pw), min(side, ph)
    x0, y0 = min(max(cx - ww / 2, 0), pw - ww), min(max(cy - wh / 2, 0), ph - wh)
    scale_x, scale_y = width / ww, height / wh
    warp = np.array([[scale_x, 0, -x0 * scale_x], [0, scale_y, -y0 * scale_y]], dtype=np.float64)
    return cv2.warpAffine(photo, warp, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


@dataclass(frozen=True, slots=True)
class Repaint:
    """A doctored span: from `start` to `end` seconds (clip time) a box, in shares of the frame, is painted over."""

    start: float
    end: float
    box: tuple[float, float, float, float] = (0.55, 0.2, 0.3, 0.4)  # x, y, w, h

    def apply(self, frame: np.ndarray, t: float) -> np.ndarray:
        if not self.start <= t < self.end:
            return frame
        h, w = frame.shape[:2]
        x, y, bw, bh = (round(v * s) for v, s in zip(self.box, (w, h, w, h), strict=True))
        out = frame.copy()
        # a textured patch, so the edit is not a flat area that a re-encode could blur into its surroundings
        yy, xx = np.mgrid[0:bh, 0:bw]
        out[y : y + bh, x : x + bw, 0] = (128 + 100 * np.sin(xx / 3.0)).astype(np.uint8)
        out[y : y + bh, x : x + bw, 1] = (128 + 100 * np.cos(yy / 4.0)).astype(np.uint8)
        out[y : y + bh, x : x + bw, 2] = 40
        return out


@dataclass(frozen=True, slots=True)
class Clip:
    """How to make one clip from the original footage; every field is a known truth for the tests.

    Clip time t shows original time `offset + speed * t`; `inserted` spans (clip time) show unrelated footage.
    """

    duration: float = DURATION
    offset: float = 0.0
    speed: float = 1.0
    width: int = 320
    height: int = 180
    fps: float = 15  # 29.97 and 23.976 are the NTSC rates 30000/1001 and 24000/1001
    mirror: bool = False
    portrait: bool = False  # a centred 9:16 crop of the original picture
    repaints: tuple[Repaint, ...] = ()
    inserted: tuple[tuple[float, float], ...] = ()
    unrelated: bool = False  # a different video altogether: the photos' shots in another order and motion
    container: str = "mp4"  # or "webm" (VP9)
    crf: int = 23
    # a phone's way: the pixels are stored turned this many degrees counter-clockwise, and the container's display
    # matrix says to turn them back, so a decoder that honours it shows the clip upright
    rotate: int = 0
    # other original footage (an RGB frame for each original time), as the benchmark's minutes-long originals;
    # None is the 20 s test footage above
    footage: Callable[[float], np.ndarray] | None = None
    # H.264 with x264's usual B-frames (as cameras and platforms encode) rather than low-latency P-frames only
    bframes: bool = False
    # the original's frame rate when the clip is cut from the original's file: each frame then shows the original
    # frame nearest its time (repeated or dropped at other speeds and rates, as ffmpeg's `fps` filter does), never
    # an instant between two; None renders the footage at the clip's own instants
    source_fps: float | None = None

    def frame(self, t: float) -> np.ndarray:
        if self.unrelated or any(a <= t < b for a, b in self.inserted):
            source = _unrelated_frame(t)
        else:
            at = self.offset + self.speed * t
            if self.source_fps is not None:
                rate = frame_rate(self.source_fps)
                at = float(round(Fraction(at).limit_denominator(10**6) * rate) / rate)
            source = (self.footage or original_frame)(at)
        if self.portrait:
            h, w = source.shape[:2]
            cw = round(h * 9 / 16)
            source = source[:, (w - cw) // 2 : (w - cw) // 2 + cw]
        if self.mirror:
            source = source[:, ::-1]
        frame = cv2.resize(np.ascontiguousarray(source), (self.width, self.height), interpolation=cv2.INTER_AREA)
        for repaint in self.repaints:
            frame = repaint.apply(frame, t)
        return frame


def frame_rate(fps: float) -> Fraction:
    """A frame rate as encoders take it: 29.97 is 30000/1001 and 23.976 is 24000/1001, as cameras record them."""
    ntsc = Fraction(round(fps) * 1000, 1001)
    return ntsc if abs(float(ntsc) - fps) < 1e-3 and ntsc.denominator > 1 else Fraction(fps).limit_denominator(100)


@dataclass(frozen=True, slots=True)
class Sweep:
    """Footage with fast camera moves: shots of `shot` seconds, each a pan of `pace` frame widths per second across
    one test photo (a quarter to half a frame per second is a hand-held or sports pan), left and right in turn, then
    a cut; each shot sees its photo at another height, so no stretch of the footage repeats. PDQ moves far under such
    shifts, so only frames at nearly the same instant hash alike."""

    pace: float = 0.4
    shot: float = 2.5

    def __call__(self, t: float) -> np.ndarray:
        names = ("chelsea", "coffee", "rocket", "astronaut")
        shot = int(t // self.shot)
        photo = _photo(names[shot % len(names)])
        ph, pw = photo.shape[:2]
        wh = 0.4 * min(ph, pw)
        ww = wh * 16 / 9
        moved = min((t - shot * self.shot) * self.pace * ww, pw - ww)  # photo pixels, never past the edge
        x0 = moved if shot % 2 == 0 else pw - ww - moved
        y0 = (ph - wh) * (0.2 + 0.6 * (shot * 0.618 % 1.0))  # a photo seen again is seen elsewhere
        scale = 320 / ww
        warp = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
        return cv2.warpAffine(photo, warp, (320, 180), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def _unrelated_frame(t: float) -> np.ndarray:
    """Other footage: the same photos, other windows and motions, so it shares nothing frame by frame."""
    shot = int(t // 3.0)
    names = ("rocket", "coffee", "chelsea", "astronaut")
    photo = _photo(names[shot % len(names)])[::-1]
    ph, pw = photo.shape[:2]
    u = (t % 3.0) / 3.0
    side = min(ph, pw) * (0.4 + 0.3 * u)
    x0 = (pw - side * 16 / 9) * (0.1 + 0.8 * u)
    crop = photo[int(ph * 0.2) : int(ph * 0.2 + side), max(0, int(x0)) : max(0, int(x0)) + int(side * 16 / 9)]
    return cv2.resize(np.ascontiguousarray(crop), (320, 180), interpolation=cv2.INTER_AREA)


def encode(clip: Clip, sound: np.ndarray | None = None) -> bytes:
    """The clip as MP4/H.264 or WebM/VP9 bytes, the same bytes on every run; `sound` (mono samples at
    `audioclips.RATE` from clip time 0) adds an AAC or Opus track.

    Encoded once per test session and clip (the 20 s original costs about a second each time, and a dozen modules
    use it); a clip whose footage cannot be hashed is encoded every time."""
    samples = None if sound is None else np.ascontiguousarray(sound, dtype=np.float32).tobytes()
    try:
        return _encoded(clip, samples)
    except TypeError:  # unhashable footage
        return _encode(clip, sound)


@lru_cache(maxsize=32)
def _encoded(clip: Clip, samples: bytes | None) -> bytes:
    return _encode(clip, None if samples is None else np.frombuffer(samples, dtype=np.float32))


def _encode(clip: Clip, sound: np.ndarray | None) -> bytes:
    out = io.BytesIO()
    with av.open(out, mode="w", format=clip.container, options={"fflags": "+bitexact"}) as container:
        codec = "libx264" if clip.container == "mp4" else "libvpx-vp9"
        rate = frame_rate(clip.fps)
        stream = container.add_stream(codec, rate=rate)
        audio = (
            None
            if sound is None
            else add_sound(container, codec="aac" if clip.container == "mp4" else "libopus", rate=RATE)
        )
        turns = clip.rotate // 90
        stream.width, stream.height = (clip.height, clip.width) if turns % 2 else (clip.width, clip.height)
        stream.pix_fmt = "yuv420p"
        options = {"crf": str(clip.crf), "threads": "1"}
        if codec == "libx264":
            options |= {"preset": "veryfast"} if clip.bframes else {"preset": "veryfast", "tune": "zerolatency"}
        else:
            options |= {"b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "0"}
        stream.codec_context.options = options
        stream.codec_context.time_base = 1 / rate
        for index in range(round(clip.duration * rate)):
            pixels = np.ascontiguousarray(np.rot90(clip.frame(float(index / rate)), turns))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio is not None and sound is not None:
            write_sound(container, audio, sound, rate=RATE)
    return _rotated(out.getvalue(), clip.rotate) if clip.rotate else out.getvalue()


def _rotated(mp4: bytes, degrees: int) -> bytes:
    """Write a display rotation into the MP4 track header's matrix, as phones do instead of turning the pixels."""
    if degrees % 90:
        raise ValueError("only quarter turns")
    cos, sin = round(np.cos(np.radians(degrees))), round(np.sin(np.radians(degrees)))
    one = 1 << 16
    matrix = struct.pack(">9i", cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, 1 << 30)
    at = mp4.index(b"tkhd") + 4
    if mp4[at] != 0:
        raise ValueError("expected a version 0 tkhd box")
    start = at + 40
    return mp4[:start] + matrix + mp4[start + 36 :]


# The clips most tests use (each encoded once per test session by `encode`).
ORIGINAL = Clip()
EXCERPT = Clip(duration=6.0, offset=5.0, width=256, height=144, crf=30)
DOCTORED = Clip(duration=6.0, offset=9.0, width=256, height=144, crf=28, repaints=(Repaint(2.0, 4.0),))
UNRELATED = Clip(duration=6.0, unrelated=True)
