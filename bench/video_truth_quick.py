"""Video truth, quick: are faithful excerpts `copy` with no span, and are painted spans found where they are?

    python bench/video_truth_quick.py [--quick] [--cache DIR] [--rates 25,60] [--no-timing] [--out FILE]

Originals are footage over real photographs from Debian's wallpaper packages (gnome-backgrounds, mate-backgrounds,
plasma-workspace-wallpapers; photographs only): shots of 2.5-5 s, each a pan of a quarter to half the frame width
per second, some zooming, cut to the next photo, 1280x720 H.264 (x264's B-frames) at 23.976, 24, 25, 29.97, 30,
50 and 60 fps and at a variable frame rate (frame intervals drawn between 1/60 and 1/20 s). Each is registered in a
real `Registry` in a temporary directory. Excerpts are cut from the original *file* with ffmpeg as a platform
would: re-encoded (H.264 CRF 18-30 or VP9 CRF 30-40), resized to 720p/480p/360p, sometimes mirrored, sped 0.8-1.25x
(frames dropped or repeated by ffmpeg's `fps` filter) or converted to another frame rate; painted excerpts have a
solid box (a tenth to a quarter of the picture) drawn over 1-4 s. Every clip goes through
`registry.matching.check`, the path a platform's request takes; no stage is told the truth.

Reported per frame rate: faithful excerpts that are `copy` with no altered or inserted span (the issue-17 target is
>= 98%), spans claimed on faithful excerpts, segment speeds inconsistent with their own times; painted excerpts'
temporal IoU of the altered spans with the truth (target: median >= 0.85), and whether each caught span's
representative frame (`frame`, whose regions are reported) lies inside the painted time and has a region over the
box (target: 100%); an 8 s clip of footage over other photographs at each rate must stay `unregistered`. Timing: one
check of a 12 s 720p excerpt of a 60 s 720p original at 30 and 60 fps (median of three, one thread). Media are
cached in `--cache` (the same bytes for a before/after comparison).
"""

from __future__ import annotations

import argparse
import bisect
import io
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import _threads
import av
import cv2
import imageio_ffmpeg
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.client import LocalTransport, registration_statement, sign_statement
from bench._common import machine_info, print_table, write_json
from registry import matching, publishers, views
from registry.keys import key_id, raw_public_key
from registry.runtime import Registry
from registry.settings import Settings

_threads.pin()
RESULTS = Path(__file__).parent / "results" / "video_truth_quick.json"
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
# Photographs (not illustrations) from Debian's wallpaper packages.
PHOTOS = (
    "/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg",
    "/usr/share/backgrounds/Dragonfly_by_Bolly.jpg",
    "/usr/share/backgrounds/Picture_1A_by_freespace.jpg",
    "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
    "/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
    "/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/mate/nature/LadyBird.jpg",
    "/usr/share/backgrounds/mate/nature/Garden.jpg",
    "/usr/share/backgrounds/mate/nature/Dune.jpg",
    "/usr/share/wallpapers/EveningGlow/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/FallenLeaf/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/Path/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg",
    "/usr/share/wallpapers/BytheWater/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/Grey/contents/images/2560x1440.jpg",
)
# Other photographs, for footage no original shows (it must stay `unregistered`).
UNRELATED_PHOTOS = (
    "/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
    "/usr/share/backgrounds/Picture_0B_by_freespace.jpg",
    "/usr/share/backgrounds/mate/nature/Aqua.jpg",
    "/usr/share/backgrounds/mate/nature/FreshFlower.jpg",
    "/usr/share/backgrounds/mate/nature/RainDrops.jpg",
    "/usr/share/backgrounds/mate/nature/Storm.jpg",
    "/usr/share/backgrounds/mate/nature/TwoWings.jpg",
    "/usr/share/wallpapers/ColdRipple/contents/images/2560x1440.jpg",
    "/usr/share/wallpapers/OneStandsOut/contents/images/2560x1440.jpg",
)
RATES = ("23.976", "24", "25", "29.97", "30", "50", "60", "vfr")
SIZE = (1280, 720)


def _photo(path: str) -> np.ndarray:
    pixels = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    factor = 2560 / max(pixels.shape[:2])
    if factor < 1:
        pixels = cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return pixels


class Footage:
    """Shots of 2.5-5 s over the photos: a window panning a quarter to half its width per second (sideways, now and
    then diagonally), zooming in or out on some shots; a cut between shots."""

    def __init__(
        self, seed: int, duration: float, size: tuple[int, int] = SIZE, photos: tuple[str, ...] = PHOTOS
    ) -> None:
        rng = np.random.default_rng(seed)
        self.size = size
        self.starts: list[float] = []
        self.shots: list[tuple[np.ndarray, float, float, float, float, float, float, float]] = []
        at = 0.0
        while at < duration + 2:
            photo = _photo(photos[int(rng.integers(len(photos)))])
            length = float(rng.uniform(2.5, 5.0))
            pace = float(rng.uniform(0.25, 0.5)) * (1 if rng.random() < 0.5 else -1)
            rise = float(rng.uniform(-0.1, 0.1))
            zoom = float(rng.choice([1.0, 1.0, rng.uniform(0.75, 0.9), rng.uniform(1.1, 1.3)]))
            ph, pw = photo.shape[:2]
            aspect = size[0] / size[1]
            # the window (photo pixels) keeps the frame's aspect and stays inside the photo through the whole move
            width = min(pw / (1 + abs(pace) * length) / max(1.0, zoom), ph * aspect / max(1.0, zoom) / 1.1)
            travel = abs(pace) * width * length
            x0 = float(rng.uniform(0, max(0.0, pw - width * max(1.0, zoom) - travel)))
            if pace < 0:
                x0 += travel
            y0 = float(rng.uniform(0, max(0.0, ph - width / aspect * max(1.0, zoom) * 1.05)))
            self.starts.append(at)
            self.shots.append((photo, length, pace, rise, zoom, width, x0, y0))
            at += length

    def __call__(self, t: float) -> np.ndarray:
        shot = max(0, bisect.bisect_right(self.starts, t) - 1)
        photo, length, pace, rise, zoom, width, x0, y0 = self.shots[shot]
        s = min(max(t - self.starts[shot], 0.0), length)
        w = width * (1 + (zoom - 1) * s / length)
        h = w * self.size[1] / self.size[0]
        ph, pw = photo.shape[:2]
        x = min(max(x0 + pace * width * s - (w - width) / 2, 0.0), pw - w)
        y = min(max(y0 + rise * width * s - (h - width * self.size[1] / self.size[0]) / 2, 0.0), ph - h)
        scale = self.size[0] / w
        warp = np.array([[scale, 0, -x * scale], [0, scale, -y * scale]], dtype=np.float64)
        return cv2.warpAffine(photo, warp, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def frame_times(rate: str, duration: float, seed: int) -> list[float]:
    if rate != "vfr":
        step = 1 / _fraction(rate)
        return [float(k * step) for k in range(int(duration / float(step)))]
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while t < duration:
        times.append(round(t, 3))
        t += float(rng.uniform(1 / 60, 1 / 20))
    return times


def _fraction(rate: str) -> Fraction:
    value = float(rate)
    ntsc = Fraction(round(value) * 1000, 1001)
    return ntsc if abs(float(ntsc) - value) < 1e-3 else Fraction(rate)


def render(footage: Footage, rate: str, duration: float, seed: int) -> bytes:
    """The original as a camera would record it: H.264 with B-frames, at its frame rate (or a variable one)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        vfr = rate == "vfr"
        stream = container.add_stream("libx264", rate=30 if vfr else _fraction(rate))
        stream.width, stream.height = footage.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.options = {"crf": "18", "preset": "veryfast", "threads": "1"}
        base = Fraction(1, 1000) if vfr else 1 / _fraction(rate)
        stream.codec_context.time_base = base
        for k, t in enumerate(frame_times(rate, duration, seed)):
            frame = av.VideoFrame.from_ndarray(footage(t), format="rgb24")
            frame.pts = round(t * 1000) if vfr else k
            frame.time_base = base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


@dataclass(frozen=True)
class Recipe:
    """How a platform made one excerpt from the original file (every field a truth for the measurement)."""

    offset: float
    length: float  # seconds of output
    height: int
    codec: str  # h264 or vp9
    crf: int
    mirror: bool = False
    speed: float = 1.0
    fps: str | None = None  # output frame rate; None keeps the original's (unless the speed changes it)
    paint: tuple[float, float] | None = None  # output seconds with the box painted
    box: tuple[float, float, float, float] = (0.55, 0.2, 0.25, 0.35)  # x, y, w, h as shares of the frame

    def describe(self) -> str:
        parts = [f"{self.codec}-crf{self.crf}", f"{self.height}p"]
        parts += ["mirror"] * self.mirror + [f"x{self.speed:.2f}"] * (self.speed != 1.0)
        parts += [f"{self.fps}fps"] * (self.fps is not None) + ["painted"] * (self.paint is not None)
        return " ".join(parts)


def cut(original: Path, recipe: Recipe, out: Path) -> bytes:
    """ffmpeg: seek in the original, re-time, resize, mirror, paint and re-encode, as a platform would."""
    filters = []
    if recipe.speed != 1.0:
        filters.append(f"setpts=PTS/{recipe.speed}")
    if recipe.fps is not None:
        filters.append(f"fps={_fraction(recipe.fps)}")
    filters.append(f"scale=-2:{recipe.height}:flags=bicubic")
    if recipe.mirror:
        filters.append("hflip")
    if recipe.paint is not None:
        x, y, w, h = recipe.box
        a, b = recipe.paint
        filters.append(
            f"drawbox=x=iw*{x}:y=ih*{y}:w=iw*{w}:h=ih*{h}:color=0x3a6ea5@1:t=fill:enable='between(t,{a},{b})'"
        )
    codec = (
        ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(recipe.crf), "-pix_fmt", "yuv420p"]
        if recipe.codec == "h264"
        else ["-c:v", "libvpx-vp9", "-crf", str(recipe.crf), "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8"]
    )
    seek = ["-ss", f"{recipe.offset:.3f}", "-i", str(original), "-t", f"{recipe.length:.3f}"]
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", *seek, "-vf", ",".join(filters), "-an", "-threads", "1", *codec, str(out)],
        check=True,
    )
    return out.read_bytes()


def recipes(rate: str, duration: float, faithful: int, painted: int, seed: int) -> list[Recipe]:
    rng = np.random.default_rng(seed)
    made = []
    for k in range(faithful + painted):
        speed = float(rng.uniform(0.8, 1.25)) if rng.random() < 0.35 else 1.0
        length = float(rng.uniform(6, 12))
        offset = float(rng.uniform(0.5, max(0.6, duration - speed * length - 0.5)))
        h264 = rng.random() < 0.7
        fps = None
        if speed != 1.0 or rng.random() < 0.3:
            fps = str(rng.choice(["30", "25", "29.97"] if rate in ("50", "60", "vfr") else ["30", "25", "24"]))
        paint = None
        if k >= faithful:
            span = float(rng.uniform(1, 4))
            start = round(float(rng.uniform(0.5, length - span - 0.3)), 2)
            paint = (start, round(start + span, 2))
        made.append(
            Recipe(
                offset=round(offset, 3),
                length=round(length, 3),
                height=int(rng.choice([720, 480, 360])),
                codec="h264" if h264 else "vp9",
                crf=int(rng.integers(18, 31)) if h264 else int(rng.integers(30, 41)),
                mirror=bool(rng.random() < 0.25),
                speed=round(speed, 3),
                fps=fps,
                paint=paint,
                box=(
                    round(float(rng.uniform(0.1, 0.5)), 2),
                    round(float(rng.uniform(0.1, 0.4)), 2),
                    round(float(rng.uniform(0.3, 0.45)), 2),
                    round(float(rng.uniform(0.3, 0.5)), 2),
                ),
            )
        )
    return made


# --- the registry ---------------------------------------------------------------------------------------------------


class Desk:
    """A verified publisher registering originals through the service, as a newsroom's client does."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.key = Ed25519PrivateKey.generate()
        with registry.session() as session:
            created = publishers.create_publisher(
                session=session,
                registry=registry,
                name="bench video desk",
                public_key=raw_public_key(self.key),
                verification=publishers.Verification(
                    method="benchmark", evidence="bench/video_truth_quick.py", verified_by="bench", expires_at=None
                ),
            )
        self.publisher_id = created.id

    def register(self, content: bytes, title: str) -> str:
        statement = registration_statement(
            publisher_id=self.publisher_id,
            key_id=key_id(raw_public_key(self.key)),
            content=content,
            metadata={"title": title},
        )
        return LocalTransport(self.registry).register(sign_statement(self.key, statement), content).id


def check(registry: Registry, content: bytes) -> tuple[views.CheckView, float]:
    started = time.perf_counter()
    with registry.session() as session:
        view = matching.check(session=session, registry=registry, content=content)
    return view, time.perf_counter() - started


# --- scoring --------------------------------------------------------------------------------------------------------


def iou(spans: list[tuple[float, float]], truth: tuple[float, float]) -> float:
    inter = sum(max(0.0, min(e, truth[1]) - max(s, truth[0])) for s, e in spans)
    union = sum(e - s for s, e in spans) + (truth[1] - truth[0]) - inter
    return inter / union if union > 0 else 0.0


def score(
    view: views.CheckView,
    expected: str,
    recipe: Recipe,
    size: tuple[int, int],
    painted: tuple[float, float] | None = None,
) -> dict[str, object]:
    """`painted`: the painted frames' times as measured in the file (`painted_frames`), else the recipe's."""
    match = next((m for m in view.matches if m.registration_id == expected), None)
    row: dict[str, object] = {"verdict": view.verdict, "found": match is not None}
    if match is None:
        return row
    row["spans"] = [(s.kind, s.start, s.end, s.frame, s.distance) for s in match.spans]
    row["segments"] = [(s.start, s.end, s.original_start, s.original_end, s.speed) for s in match.segments]
    row["speed_inconsistent"] = any(
        s.end - s.start > 1 and abs((s.original_end - s.original_start) / (s.end - s.start) - s.speed) > 0.02
        for s in match.segments
    )
    longest = max(match.segments, key=lambda s: s.end - s.start)
    row["speed_error"] = round(abs(longest.speed - recipe.speed), 3)
    row["offset_error_s"] = round(abs(longest.original_start - (recipe.offset + recipe.speed * longest.start)), 3)
    if recipe.paint is None:
        row["clean_copy"] = view.verdict == "copy" and not match.spans
        return row
    truth = painted or recipe.paint
    row["truth"] = [round(v, 3) for v in truth]
    altered = [s for s in match.spans if s.kind == "altered"]
    row["iou"] = round(iou([(s.start, s.end) for s in altered], truth), 3)
    w, h = size
    x, y, bw, bh = recipe.box
    box = (x * w, y * h, bw * w, bh * h)
    caught = [s for s in altered if min(s.end, truth[1]) > max(s.start, truth[0])]
    row["caught"] = bool(caught)
    row["frame_hits"] = [
        truth[0] - 1e-3 <= s.frame <= truth[1] + 1e-3 and any(_overlaps(r, box) for r in s.regions) for s in caught
    ]
    return row


def _overlaps(region: views.RegionView, box: tuple[float, float, float, float]) -> bool:
    x, y, w, h = box
    return min(region.x + region.w, x + w) > max(region.x, x) and min(region.y + region.h, y + h) > max(region.y, y)


_FILL = np.array([0x3A, 0x6E, 0xA5])  # drawbox's colour


def painted_frames(data: bytes, box: tuple[float, float, float, float]) -> tuple[float, float] | None:
    """When the box is on screen, read from the clip's own frames (times from its first frame, as a check reads
    them): the first painted frame's time and the next unpainted frame's (ffmpeg's `between(t, a, b)` and a
    re-encode can each move the truth by a frame)."""
    times, painted = [], []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        origin = stream.start_time or 0
        for frame in container.decode(stream):
            pixels = frame.to_ndarray(format="rgb24", width=160, height=90)
            x, y, w, h = box
            patch = pixels[round((y + h * 0.35) * 90) : round((y + h * 0.65) * 90), round((x + w * 0.35) * 160) :]
            patch = patch[:, : max(1, round(w * 0.3 * 160))]
            times.append(float((frame.pts - origin) * stream.time_base))
            painted.append(bool(np.abs(patch.reshape(-1, 3).mean(axis=0) - _FILL).max() < 25))
    if not any(painted):
        return None
    first = painted.index(True)
    last = len(painted) - 1 - painted[::-1].index(True)
    step = times[-1] - times[-2] if len(times) > 1 else 0.04
    return times[first], times[last + 1] if last + 1 < len(times) else times[last] + step


def _size(data: bytes) -> tuple[int, int]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


# --- runs -----------------------------------------------------------------------------------------------------------


def corpus(cache: Path, rates: tuple[str, ...], faithful: int, painted: int, duration: float) -> dict[str, object]:
    """Originals and excerpts on disk (made once per cache directory)."""
    made: dict[str, object] = {}
    for n, rate in enumerate(rates):
        original = cache / f"original_{rate}.mp4"
        if not original.exists():
            original.write_bytes(render(Footage(seed=n, duration=duration), rate, duration, seed=n))
        excerpts = []
        for k, recipe in enumerate(recipes(rate, duration, faithful, painted, seed=100 + n)):
            path = cache / f"excerpt_{rate}_{k}{'.mp4' if recipe.codec == 'h264' else '.webm'}"
            if not path.exists():
                cut(original, recipe, path)
            excerpts.append((recipe, path))
        made[rate] = (original, excerpts)
    return made


def unrelated(desk: Desk, cache: Path, rates: tuple[str, ...]) -> list[dict[str, object]]:
    """Footage over photos no original shows, at each rate, re-encoded as a platform would: every one must stay
    `unregistered` (checked once every original is registered)."""
    rows = []
    for n, rate in enumerate(rates):
        source, path = cache / f"unrelated_{rate}_source.mp4", cache / f"unrelated_{rate}.mp4"
        if not path.exists():
            footage = Footage(seed=200 + n, duration=10.0, photos=UNRELATED_PHOTOS)
            source.write_bytes(render(footage, rate, 10.0, seed=200 + n))
            cut(source, Recipe(offset=0.5, length=8.0, height=480, codec="h264", crf=23), path)
        view, seconds = check(desk.registry, path.read_bytes())
        rows.append({"rate": rate, "clip": path.name, "verdict": view.verdict, "check_s": round(seconds, 2)})
        print(f"{rate:>6} unrelated{'':<32} {view.verdict}", file=sys.stderr)
    return rows


def evaluate(desk: Desk, made: dict[str, object]) -> tuple[list[dict[str, object]], dict[str, object]]:
    registry = desk.registry
    rows = []
    for rate, (original, excerpts) in made.items():  # type: ignore[misc]
        expected = desk.register(original.read_bytes(), f"footage {rate}")
        for recipe, path in excerpts:
            data = path.read_bytes()
            view, seconds = check(registry, data)
            row = {"rate": rate, "clip": path.name, "recipe": recipe.describe(), "check_s": round(seconds, 2)}
            painted = None if recipe.paint is None else painted_frames(data, recipe.box)
            row |= score(view, expected, recipe, _size(data), painted)
            rows.append(row)
            print(_line(row), file=sys.stderr)
    return rows, summarise(rows)


def _line(row: dict[str, object]) -> str:
    spans = " ".join(f"{k}:{a:.2f}-{b:.2f}@{f:.2f}" for k, a, b, f, _ in row.get("spans", []))  # type: ignore[union-attr]
    return f"{row['rate']:>6} {row['recipe']:<40} {row['verdict']:<12} {row.get('iou', '')!s:<6} {spans}"


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    summary: dict[str, object] = {}
    for rate in dict.fromkeys(r["rate"] for r in rows):
        mine = [r for r in rows if r["rate"] == rate]
        faithful = [r for r in mine if "clean_copy" in r or ("iou" not in r and r["found"] is False)]
        painted = [r for r in mine if "iou" in r or (r not in faithful)]
        hits = [h for r in painted for h in r.get("frame_hits", [])]  # type: ignore[attr-defined]
        summary[rate] = {
            "faithful": len(faithful),
            "clean_copy_share": round(float(np.mean([bool(r.get("clean_copy")) for r in faithful])), 3)
            if faithful
            else None,
            "faithful_with_spans": sum(bool(r.get("spans")) for r in faithful),
            "faithful_with_inserted": sum(any(s[0] == "inserted" for s in r.get("spans", [])) for r in faithful),  # type: ignore[union-attr]
            "painted": len(painted),
            "painted_iou_median": round(float(np.median([r.get("iou", 0.0) for r in painted])), 3) if painted else None,
            "painted_caught": sum(bool(r.get("caught")) for r in painted),
            "representative_frame_hits": f"{sum(hits)}/{len(hits)}",
            "speed_inconsistent": sum(bool(r.get("speed_inconsistent")) for r in mine),
            "offset_error_max_s": max((float(r.get("offset_error_s", 0.0)) for r in mine), default=0.0),  # type: ignore[arg-type]
            "check_s_median": round(float(np.median([r["check_s"] for r in mine])), 2),  # type: ignore[misc]
        }
    everything = [r for r in rows]
    faithful_all = [r for r in everything if "clean_copy" in r]
    painted_all = [r for r in everything if "iou" in r]
    hits_all = [h for r in painted_all for h in r.get("frame_hits", [])]  # type: ignore[attr-defined]
    summary["all"] = {
        "faithful": len(faithful_all),
        "clean_copy_share": round(float(np.mean([bool(r["clean_copy"]) for r in faithful_all])), 3)
        if faithful_all
        else None,
        "painted": len(painted_all),
        "painted_iou_median": round(float(np.median([r["iou"] for r in painted_all])), 3) if painted_all else None,
        "representative_frame_hit_share": round(float(np.mean(hits_all)), 3) if hits_all else None,
    }
    return summary


def timing(desk: Desk, cache: Path) -> dict[str, object]:
    """One check of a 12 s 720p excerpt (H.264 CRF 23) of a 60 s 720p original at 30 and 60 fps."""
    registry = desk.registry
    figures: dict[str, object] = {}
    for n, rate in enumerate(("30", "60")):
        original = cache / f"timing_{rate}.mp4"
        if not original.exists():
            original.write_bytes(render(Footage(seed=50 + n, duration=60.0), rate, 60.0, seed=50 + n))
        excerpt = cache / f"timing_{rate}_excerpt.mp4"
        if not excerpt.exists():
            cut(original, Recipe(offset=23.4, length=12.0, height=720, codec="h264", crf=23), excerpt)
        desk.register(original.read_bytes(), f"timing {rate}")
        data = excerpt.read_bytes()
        runs = [check(registry, data) for _ in range(3)]
        view = runs[0][0]
        spans = [(s.kind, s.start, s.end) for m in view.matches for s in m.spans]
        figures[f"{rate}fps"] = {
            "check_s_median": round(float(np.median([s for _, s in runs])), 2),
            "verdict": view.verdict,
            "spans": spans,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 faithful and 1 painted excerpt per rate")
    parser.add_argument("--cache", type=Path, default=None, help="keep the media here (default: a temp dir)")
    parser.add_argument("--rates", default=",".join(RATES))
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--painted-only", action="store_true", help="check only the painted excerpts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rates = tuple(rate for rate in args.rates.split(",") if rate)  # none: the timing alone
    faithful, painted = (3, 1) if args.quick else (8, 4)
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache or Path(scratch) / "media"
        cache.mkdir(parents=True, exist_ok=True)
        made = corpus(cache, rates, faithful, painted, duration=24.0)
        if args.painted_only:
            made = {rate: (source, [e for e in clips if e[0].paint]) for rate, (source, clips) in made.items()}
        settings = Settings(_env_file=None, data_dir=Path(scratch) / "data", database_url=None)
        registry = Registry.open(settings)
        registry.load()
        try:
            desk = Desk(registry)
            rows, summary = evaluate(desk, made)
            others = unrelated(desk, cache, rates)
            summary["unrelated"] = {
                "clips": len(others),
                "unregistered": sum(row["verdict"] == "unregistered" for row in others),
            }
            rows += others
            times = {} if args.no_timing else timing(desk, cache)
        finally:
            registry.close()
    header = ["rate", "faithful", "clean", "w/ spans", "inserted", "painted", "IoU med", "frame hits", "speed bad"]
    columns = ("faithful", "clean_copy_share", "faithful_with_spans", "faithful_with_inserted", "painted")
    columns += ("painted_iou_median", "representative_frame_hits", "speed_inconsistent")
    table = [[rate, *(s[c] for c in columns)] for rate, s in summary.items() if rate not in ("all", "unrelated")]
    print_table("video truth, quick", header, table)
    print(summary["all"], summary["unrelated"], times)
    write_json(
        args.out,
        {"machine": machine_info(["av", "numpy", "pdqhash"]), "summary": summary, "timing": times, "rows": rows},
    )


if __name__ == "__main__":
    main()
