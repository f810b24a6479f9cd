"""The truth benchmark's labelled corpus (bench/truth.py): what each query is, what was done to it, and its bytes.

Everything is drawn from one seed and a query's name, so the same corpus comes back on every run; the bytes are kept
in a cache directory outside git (`Corpus`) and made only when missing. Labels never depend on the registry: they
are what was done, recorded when it was done.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from bench.truth_media import (
    VOICES,
    Camera,
    Edit,
    Encoding,
    Span,
    encode_footage,
    encode_image,
    font,
    make_query,
    music,
    normalised,
    photos,
    pixels,
    plan_shots,
    soundtrack,
    speak,
    write_wav,
)

VERSION = 1  # bump when what a seed makes changes: a new version is a new cache directory
RATES: dict[str, Fraction | None] = {
    "23.976": Fraction(24000, 1001),
    "24": Fraction(24),
    "25": Fraction(25),
    "29.97": Fraction(30000, 1001),
    "30": Fraction(30),
    "50": Fraction(50),
    "60": Fraction(60),
    "vfr": None,
}
# what a platform converts each rate to
CONVERTED = {"23.976": 30, "24": 30, "25": 30, "29.97": 25, "30": 25, "50": 25, "60": 30, "vfr": 30}
FAITHFUL = ("reencoded", "resized", "mirrored", "portrait", "speed", "fps", "whole")


class Corpus:
    """Files made once and kept under `root/v{VERSION}-seed{seed}`, by name."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root / f"v{VERSION}-seed{seed}"
        self.seed = seed
        self.made_s = 0.0  # seconds spent making files in this run
        self._clock = time.perf_counter()

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def file(self, name: str, make: Callable[[Path], dict[str, object] | None]) -> Path:
        """The cached file `name`, made by `make(path)` (atomically) when missing; the labels `make` returns are
        kept beside it as JSON (`labels`)."""
        path = self.root / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # runs sharing the cache may make the same file at once: each writes its own, the same bytes win
            partial = path.with_name(f"partial-{os.getpid()}-{path.name}")
            started = time.perf_counter()
            labels = make(partial)
            if labels is not None:
                sidecar = self.root / f"{name}.json"
                partial_labels = sidecar.with_name(f"partial-{os.getpid()}-{sidecar.name}")
                partial_labels.write_text(json.dumps(labels))
                os.replace(partial_labels, sidecar)
            os.replace(partial, path)
            self.made_s += time.perf_counter() - started
            print(f"[{time.perf_counter() - self._clock:7.1f} s] made {name}", file=sys.stderr, flush=True)
        return path

    def labels(self, name: str) -> dict[str, Any]:
        labels: dict[str, Any] = json.loads((self.root / f"{name}.json").read_text())
        return labels

    def data(self, name: str, make: Callable[[], bytes]) -> Path:
        def made(path: Path) -> None:
            path.write_bytes(make())

        return self.file(name, made)

    def item(self, name: str, make: Callable[[], tuple[bytes, dict[str, object]]]) -> tuple[Path, dict[str, Any]]:
        """A cached file with the labels recorded when it was made."""

        def made(path: Path) -> dict[str, object]:
            data, labels = make()
            path.write_bytes(data)
            return labels

        return self.file(name, made), self.labels(name)


# --- video --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Footage:
    """A registered video original."""

    name: str
    rate: str  # a key of RATES
    size: tuple[int, int]
    seconds: float
    bframes: bool
    audio_rate: int
    voices: tuple[str, ...]
    path: Path = field(compare=False)
    shots: list[dict[str, Any]] = field(compare=False, default_factory=list)  # photo, seconds, speed (widths/s)...


@dataclass(frozen=True, slots=True)
class VideoQuery:
    name: str
    original: str | None  # a Footage name; None for footage never registered
    kind: str  # faithful, painted, sound, inserted, stripped, muted, unrelated
    transform: str  # faithful: one of FAITHFUL; otherwise the kind
    rate: str  # the original's frame rate
    edit: Edit
    path: Path = field(compare=False)
    truth: Span | None = None  # painted, replaced, inserted or muted query seconds
    box: tuple[int, int, int, int] | None = None  # painted: x, y, w, h in query pixels


def _footage_photos(rng: np.random.Generator, role: str, count: int) -> list[Path]:
    pool = [p.path for p in photos(role)]
    return [pool[i] for i in rng.choice(len(pool), size=min(count, len(pool)), replace=False)]


def make_footage(
    corpus: Corpus,
    name: str,
    *,
    rate: str,
    size: tuple[int, int],
    seconds: float,
    role: str,
    bframes: bool,
    audio_rate: int,
    crf: int = 20,
) -> Footage:
    """A camera moving over three photos of `role`, with speech in two voices over music (cached)."""
    rng = corpus.rng(name)
    voices = tuple(str(v) for v in rng.choice(VOICES, size=2, replace=False))

    def make(path: Path) -> dict[str, object]:
        own = corpus.rng(f"{name}/make")  # makers draw from their own generator: a cached file draws nothing
        shots = plan_shots(own, _footage_photos(own, role, 3), seconds, size[0] / size[1])
        sound = soundtrack(own, seconds + 1, audio_rate, voices)
        encode_footage(
            path,
            Camera(shots, size),
            seconds=seconds,
            fps=RATES[rate],
            sound=sound,
            rate=audio_rate,
            bframes=bframes,
            crf=crf,
        )
        return {
            "shots": [
                {
                    "photo": s.photo.name,
                    "seconds": round(s.seconds, 2),
                    "speed": round(s.speed, 3),
                    "zoom": round(s.end.height / s.start.height, 3),
                    "rotation": round(s.end.angle, 2),
                }
                for s in shots
            ]
        }

    relative = f"video/originals/{name}.mp4"
    path = corpus.file(relative, make)
    return Footage(name, rate, size, seconds, bframes, audio_rate, voices, path, corpus.labels(relative)["shots"])


def originals(corpus: Corpus, quick: bool) -> list[Footage]:
    """Every frame rate at 720p for 30 s ("-a"); the full run adds 40-60 s ones at 720p or 1080p ("-b")."""
    found = []
    for i, rate in enumerate(RATES):
        found.append(
            make_footage(
                corpus,
                f"fps{rate}-a",
                rate=rate,
                size=(1280, 720),
                seconds=30.0,
                role="footage",
                bframes=i % 2 == 0,
                audio_rate=44100 if i % 2 else 48000,
            )
        )
    if not quick:
        for i, rate in enumerate(RATES):
            size = (1920, 1080) if rate in ("24", "29.97", "50", "60") else (1280, 720)
            seconds = float(np.round(corpus.rng(f"fps{rate}-b").uniform(40, 60), 1))
            found.append(
                make_footage(
                    corpus,
                    f"fps{rate}-b",
                    rate=rate,
                    size=size,
                    seconds=seconds,
                    role="footage",
                    bframes=i % 2 == 1,
                    audio_rate=48000 if i % 2 else 44100,
                    crf=23,  # under the HTTP API's 50 MB upload limit
                )
            )
    return found


def other_footage(corpus: Corpus, count: int) -> list[Footage]:
    """Footage no original has (over other photos, other voices): inserted spans and unrelated clips."""
    return [
        make_footage(
            corpus,
            f"other-{k}",
            rate="30",
            size=(1280, 720),
            seconds=20.0,
            role="footage_other",
            bframes=True,
            audio_rate=48000,
        )
        for k in range(count)
    ]


def _encoding(rng: np.random.Generator, *, crf: int | None = None) -> Encoding:
    """Platform-like settings: H.264 CRF 18-30 (some with B-frames) or VP9; AAC or Opus at 24-128 kb/s, 44.1 or
    48 kHz, mono or stereo."""
    h264 = crf is not None or rng.random() < 0.7
    return Encoding(
        video="h264" if h264 else "vp9",
        crf=crf if crf is not None else int(rng.integers(18, 31) if h264 else rng.integers(28, 41)),
        bframes=bool(rng.random() < 0.5),
        audio_kbps=int(rng.choice([24, 32, 48, 64, 96, 128])),
        audio_rate=int(rng.choice([44100, 48000])),
        channels=int(rng.choice([1, 2])),
    )


def _size(rng: np.random.Generator, footage: Footage, *, smaller: bool = False) -> tuple[int, int]:
    """The original's size, or a smaller platform size (720p, 480p, 360p below it)."""
    heights = [h for h in (720, 480, 360) if h < footage.size[1]]
    if not heights or (not smaller and rng.random() < 0.5):
        return footage.size
    height = int(rng.choice(heights))
    return (round(height * 16 / 9 / 2) * 2, height)


def _excerpt(rng: np.random.Generator, footage: Footage, speed: float = 1.0) -> tuple[float, float]:
    """An 8-20 s excerpt at a random offset: (original start, query seconds)."""
    seconds = float(rng.uniform(8, 20))
    start = float(rng.uniform(0.5, footage.seconds - seconds * speed - 0.5))
    return round(start, 3), round(seconds, 3)


def faithful(corpus: Corpus, footage: Footage, transform: str) -> VideoQuery:
    """An excerpt (or the whole) with only a platform's changes: labelled copy."""
    name = f"{footage.name}/{transform}"
    rng = corpus.rng(name)
    speed = float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.25) + 1) if transform == "speed" else 1.0
    start, seconds = _excerpt(rng, footage, speed)
    edit = Edit(
        _encoding(rng),
        _size(rng, footage, smaller=transform == "resized"),
        start,
        seconds,
        round(speed, 3),
        gain_db=round(float(rng.uniform(-10, 10)), 1),
    )
    if transform == "reencoded":
        edit = Edit(edit.encoding, footage.size, start, seconds, gain_db=edit.gain_db)
    elif transform == "mirrored":
        edit = replace(edit, mirror=True)
    elif transform == "portrait":
        edit = replace(edit, portrait=True, size=(360, 640))
    elif transform == "fps":
        edit = replace(edit, fps=Fraction(CONVERTED[footage.rate]))
    elif transform == "whole":
        crf = 18 if zlib.crc32(footage.name.encode()) % 2 else 28
        edit = Edit(_encoding(rng, crf=crf), footage.size, gain_db=edit.gain_db)
    return _query(corpus, name, footage, "faithful", transform, edit)


def _query(
    corpus: Corpus, name: str, footage: Footage, kind: str, transform: str, edit: Edit, **truth: object
) -> VideoQuery:
    """The query's file, made from its original when missing; refuses a cached file made to other labels."""
    relative = f"video/queries/{name.replace('/', '--')}{edit.encoding.suffix}"
    labels = {
        "edit": repr(replace(edit, paint=None, sound=None, insert=None)),
        **{k: repr(v) for k, v in truth.items()},
    }

    def make(out: Path) -> dict[str, object]:
        make_query(footage.path, edit, out)
        return labels

    path = corpus.file(relative, make)
    if corpus.labels(relative) != labels:
        raise RuntimeError(f"{path} was made to other labels than this code plans: delete {corpus.root}")
    original = None if footage.name.startswith("other-") else footage.name
    return VideoQuery(name, original, kind, transform, footage.rate, edit, path, **truth)  # type: ignore[arg-type]


def _span(rng: np.random.Generator, seconds: float, low: float, high: float) -> Span:
    length = float(rng.uniform(low, high))
    start = float(rng.uniform(1.0, seconds - length - 1.0))
    return Span(round(start, 3), round(start + length, 3))


def painted(corpus: Corpus, footage: Footage, natural: bool) -> VideoQuery:
    """A box of another photograph's content (or of drawn graphics) over part of the picture for 1-4 s."""
    name = f"{footage.name}/painted-{'natural' if natural else 'synthetic'}"
    rng = corpus.rng(name)
    start, seconds = _excerpt(rng, footage)
    size = _size(rng, footage)
    w, h = round(size[0] * rng.uniform(0.15, 0.35)), round(size[1] * rng.uniform(0.15, 0.35))
    box = (int(rng.integers(0, size[0] - w)), int(rng.integers(0, size[1] - h)), w, h)
    patch = corpus.data(
        f"video/patches/{name.replace('/', '--')}.png", lambda: _patch(corpus.rng(f"{name}/patch"), natural, (w, h))
    )
    span = _span(rng, seconds, 1.0, 4.0)
    edit = Edit(
        _encoding(rng), size, start, seconds, paint=(span, box, patch), gain_db=round(float(rng.uniform(-10, 10)), 1)
    )
    return _query(corpus, name, footage, "painted", "painted", edit, truth=span, box=box)


def _patch(rng: np.random.Generator, natural: bool, size: tuple[int, int]) -> bytes:
    w, h = size
    if natural:
        source = pixels(_footage_photos(rng, "other", 1)[0], 1600)
        ph, pw = source.shape[:2]
        side = float(rng.uniform(0.3, 0.9)) * min(ph / h, pw / w)
        x0, y0 = rng.uniform(0, pw - side * w), rng.uniform(0, ph - side * h)
        crop = source[int(y0) : int(y0 + side * h), int(x0) : int(x0 + side * w)]
        return encode_image(np.asarray(Image.fromarray(crop).resize((w, h), Image.Resampling.LANCZOS)), "PNG")
    canvas = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    for k in range(int(rng.integers(4, 12))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(-w // 2, w)), int(rng.integers(-h // 2, h))
        draw.ellipse((x, y, x + w // 2, y + h // 2), fill=colour) if k % 2 else draw.rectangle(
            (x, y, x + w // 3, y + h // 3), fill=colour
        )
    draw.text(
        (w // 10, h // 3),
        str(rng.choice(["LIVE", "BREAKING", "EXCLUSIVE"])),
        font=font(max(12, h // 5)),
        fill=(255, 255, 255),
    )
    return encode_image(np.asarray(canvas), "PNG")


def replaced_sound(corpus: Corpus, footage: Footage, voice: bool) -> VideoQuery:
    """2-5 s of the sound replaced by another voice (another speaker and language) or by other music."""
    name = f"{footage.name}/sound-{'voice' if voice else 'music'}"
    rng = corpus.rng(name)
    start, seconds = _excerpt(rng, footage)
    span = _span(rng, seconds, 2.0, 5.0)
    others = [v for v in VOICES if v not in footage.voices]

    def donor() -> np.ndarray:
        own = corpus.rng(f"{name}/donor")
        if not voice:
            return music(own, 5.5, 48000)
        said = speak(
            "Nobody here said anything of the kind, and the figures were never published.",
            str(own.choice(others)),
            int(own.integers(150, 190)),
            48000,
        )
        return np.repeat(np.tile(said, 2)[: 48000 * 6, None], 2, axis=1)

    wav = corpus.file(
        f"video/donors/{name.replace('/', '--')}.wav", lambda path: write_wav(path, normalised(donor()), 48000)
    )
    edit = Edit(
        _encoding(rng),
        _size(rng, footage),
        start,
        seconds,
        sound=(span, wav),
        gain_db=round(float(rng.uniform(-10, 10)), 1),
    )
    return _query(corpus, name, footage, "sound", "sound", edit, truth=span)


def inserted(corpus: Corpus, footage: Footage, other: Footage) -> VideoQuery:
    """2-4 s of other footage (with its own sound) cut into an excerpt."""
    name = f"{footage.name}/inserted"
    rng = corpus.rng(name)
    start, seconds = _excerpt(rng, footage)
    length = float(rng.uniform(2, 4))
    at = round(float(rng.uniform(2, seconds - 2)), 3)
    span = Span(at, round(at + length, 3))
    fps = Fraction(CONVERTED[footage.rate]) if footage.rate == "vfr" else RATES[footage.rate]
    edit = Edit(
        _encoding(rng),
        _size(rng, footage),
        start,
        seconds,
        fps=fps,
        insert=(span, other.path, round(float(rng.uniform(0, other.seconds - length - 1)), 3)),
    )
    return _query(corpus, name, footage, "inserted", "inserted", edit, truth=span)


def silenced(corpus: Corpus, footage: Footage, strip: bool) -> VideoQuery:
    """The sound track stripped, or 2-5 s of it muted."""
    name = f"{footage.name}/{'stripped' if strip else 'muted'}"
    rng = corpus.rng(name)
    start, seconds = _excerpt(rng, footage)
    span = None if strip else _span(rng, seconds, 2.0, 5.0)
    edit = Edit(_encoding(rng), _size(rng, footage), start, seconds, strip_sound=strip, mute=span)
    return _query(
        corpus, name, footage, "stripped" if strip else "muted", "stripped" if strip else "muted", edit, truth=span
    )


def unrelated(corpus: Corpus, other: Footage, index: int) -> VideoQuery:
    name = f"{other.name}/unrelated-{index}"
    rng = corpus.rng(name)
    start, seconds = _excerpt(rng, other)
    return _query(
        corpus, name, other, "unrelated", "unrelated", Edit(_encoding(rng), _size(rng, other), start, seconds)
    )


# Quick: one faithful query per original (every transform once, re-encoded twice) and one doctored one (none on the
# last); full: every transform (the whole original on the "-a" ones) and five doctored ones per original.
_QUICK_DOCTORED = (
    "painted-natural",
    "sound-voice",
    "painted-synthetic",
    "sound-music",
    "inserted",
    "stripped",
    "muted",
)
_FULL_DOCTORED = ("painted-natural", "painted-synthetic", "sound", "inserted", "silenced")


def video_queries(corpus: Corpus, footage: list[Footage], quick: bool) -> list[VideoQuery]:
    others = other_footage(corpus, 1 if quick else 3)
    queries = []
    for i, original in enumerate(footage):
        if quick:
            transforms = [FAITHFUL[i % len(FAITHFUL)]]
            doctored = _QUICK_DOCTORED[i : i + 1]
        else:
            transforms = [t for t in FAITHFUL if t != "whole" or original.name.endswith("-a")]
            doctored = _FULL_DOCTORED
        queries += [faithful(corpus, original, t) for t in transforms]
        other = others[i % len(others)]
        for kind in doctored:
            if kind.startswith("painted"):
                queries.append(painted(corpus, original, natural=kind.endswith("natural")))
            elif kind.startswith("sound"):
                queries.append(
                    replaced_sound(corpus, original, voice=kind.endswith("voice") or (kind == "sound" and i % 2 == 0))
                )
            elif kind == "inserted":
                queries.append(inserted(corpus, original, other))
            else:
                queries.append(
                    silenced(corpus, original, strip=kind == "stripped" or (kind == "silenced" and i % 2 == 0))
                )
    queries += [unrelated(corpus, others[k % len(others)], k) for k in range(1 if quick else 6)]
    return queries
