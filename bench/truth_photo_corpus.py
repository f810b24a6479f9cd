"""The truth benchmark's photo corpus (bench/truth.py): registered photographs, their queries, same-scene pairs and
near-duplicate floods, with what was done to each (bench/truth_corpus.py keeps the files).

Photographs are Debian wallpapers (bench/truth_photos.json); queries are re-saves, benign transforms with known
parameters, framed copies on a page or in an app window, composites into other photographs, pasted patches
(bench/derivatives_corpus.py's edits), different photographs of one scene (bench/same_scene.py's renders and
scikit-image's stereo pair) and photographs never registered.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from bench.derivatives_corpus import BENIGN, EDITS, _colour, _crop, _resize, _rotate, load_photos
from bench.same_scene import rendered_scene
from bench.truth_corpus import Corpus
from bench.truth_media import encode_image, font, photos, pixels

BENIGN_KINDS = ("resize", "crop", "pad", "rotate", "mirror", "colour", "grayscale", "crop_resize", "aspect")


@dataclass(frozen=True, slots=True)
class Original:
    """A registered photo: a wallpaper file as shipped, or the first view of a rendered scene."""

    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class PhotoQuery:
    name: str
    original: str | None  # the Original it was made from (None: never registered)
    kind: str  # resave, benign, framed, composite, patch, same_scene, unrelated
    transform: str
    label: str  # copy, altered, related (a different photograph of the same scene) or unregistered
    path: Path = field(compare=False)
    done: frozenset[str] = frozenset()  # transform words that are true of it
    tolerated: frozenset[str] = frozenset()  # words that are arguable for it: counted neither way
    scale: float | None = None  # query pixels per original pixel, where one scale says it
    box: tuple[int, int, int, int] | None = None  # the original's footprint (composites) or the edit (patches)


Made = tuple[np.ndarray, dict[str, object]]  # pixels and their labels


def _benign(kind: str, rgb: np.ndarray, rng: np.random.Generator) -> Made:
    """A benign change with known parameters, labelled with the transform words it makes true."""
    if kind == "resize":
        f = float(rng.uniform(0.35, 0.8) if rng.random() < 0.7 else rng.uniform(1.2, 1.5))
        return _resize(rgb, f, f), {"done": ["scale"], "scale": f}
    if kind == "crop":
        return _crop(rgb, float(rng.uniform(0.55, 0.9)), float(rng.random()), float(rng.random())), {
            "done": ["cropped"]
        }
    if kind == "pad":
        border, colour = round(rgb.shape[1] * rng.uniform(0.04, 0.15)), tuple(int(c) for c in rng.integers(0, 256, 3))
        return np.asarray(ImageOps.expand(Image.fromarray(rgb), border=border, fill=colour)), {"done": ["framed"]}
    if kind == "rotate":  # the canvas grows, with black corners: "framed" is arguable
        rotated = _rotate(rgb, float(rng.choice([-1, 1]) * rng.uniform(2, 15)))
        return rotated, {"done": ["rotation"], "tolerated": ["framed"]}
    if kind == "mirror":
        return np.ascontiguousarray(rgb[:, ::-1]), {"done": ["flipped"]}
    if kind == "colour":
        return _colour(rgb), {"done": ["photometric_change"]}
    if kind == "grayscale":
        return BENIGN["grayscale"](rgb, rng), {"done": ["grayscale", "photometric_change"]}
    if kind == "crop_resize":
        f = float(rng.uniform(0.5, 0.8))
        cropped = _crop(rgb, float(rng.uniform(0.6, 0.9)), float(rng.random()), float(rng.random()))
        return _resize(cropped, f, f), {"done": ["cropped", "scale"], "scale": f}
    if kind == "aspect":  # one side stretched: which scale to call it is arguable
        return _resize(rgb, float(rng.uniform(1.15, 1.35)), 1.0), {"done": ["aspect_change"], "tolerated": ["scale"]}
    raise ValueError(kind)


def _framed(rgb: np.ndarray, rng: np.random.Generator, layout: str) -> Made:
    """The whole photo, smaller, among flat surroundings: an article page (a masthead, text beside the photo, a
    caption) or a photo app's window (a title bar, a panel of comments, likes): a framed copy."""
    page = layout == "page"
    scale = float(rng.uniform(0.3, 0.55) if page else rng.uniform(0.4, 0.7))
    photo = _resize(rgb, scale, scale)
    ph, pw = photo.shape[:2]
    (x, y), bar = ((340, 200), 90) if page else ((24, 76), 56)
    canvas = Image.new("RGB", (pw + (700 if page else 420), ph + (520 if page else 200)), (250, 250, 248))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, bar), fill=(20, 40, 90) if page else (36, 41, 47))
    title = "THE DAILY EXAMPLE" if page else "photos.example  -  shared with you"
    draw.text((24, bar // 4), title, font=font(bar // 3), fill=(240, 240, 240))
    letters = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz     "), 4000))
    left, top = (40, 130) if page else (x + pw + 40, y + 20)
    for k, line_y in enumerate(range(top, canvas.height - 40, 30 if page else 32)):
        line = letters[k * 60 : k * 60 + (30 if page else 20)] if page else f"comment {int(rng.integers(100, 999))}"
        draw.text((left, line_y), line, font=font(18), fill=(50, 50, 50))
    canvas.paste(Image.fromarray(photo), (x, y))
    caption = "Photo: a registered original" if page else "1,204 likes  Posted 3h ago"
    draw.text((x, y + ph + 20), caption, font=font(18), fill=(90, 90, 90))
    return np.asarray(canvas), {"done": ["framed", "scale"], "scale": scale, "box": [x, y, pw, ph]}


def _composite(rgb: np.ndarray, background: np.ndarray, rng: np.random.Generator, whole: bool) -> Made:
    """The original (or its centre) scaled 0.5-1.5x and pasted into another photograph, covering at most 75% of
    either side of it."""
    piece = rgb if whole else _crop(rgb, float(rng.uniform(0.4, 0.7)))
    bh, bw = background.shape[:2]
    scale = min(float(rng.uniform(0.5, 1.5)), 0.75 * bw / piece.shape[1], 0.75 * bh / piece.shape[0])
    piece = _resize(piece, scale, scale)
    ph, pw = piece.shape[:2]
    x, y = int(rng.integers(0, bw - pw + 1)), int(rng.integers(0, bh - ph + 1))
    out = background.copy()
    out[y : y + ph, x : x + pw] = piece
    done = ["scale", "framed", "composite"] if whole else ["scale", "cropped", "framed", "composite"]
    return out, {"done": done, "scale": scale, "box": [x, y, pw, ph]}


def _patched(rgb: np.ndarray, donor: np.ndarray, rng: np.random.Generator, edit: str) -> Made:
    """bench/derivatives_corpus.py's local edits: a pasted rectangle or a feathered spliced region."""
    edited, mask = EDITS[edit](rgb, donor, rng)
    ys, xs = np.nonzero(mask)
    box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
    return edited, {"scale": 1.0, "box": box}


def photo_originals(quick: bool) -> list[Original]:
    return [Original(p.name, p.path) for p in photos("photo")[: 6 if quick else 12]]


class _Queries(list[PhotoQuery]):
    """Photo queries as they are added: the bytes and labels made (or read back) through the corpus."""

    def __init__(self, corpus: Corpus) -> None:
        super().__init__()
        self.corpus = corpus

    def add(
        self,
        original: str | None,
        kind: str,
        transform: str,
        label: str,
        make: Callable[[], Made],
        fmt: str = "JPEG",
        quality: int = 90,
    ) -> None:
        name = f"{original or 'unregistered'}/{transform}"

        def made() -> tuple[bytes, dict[str, object]]:
            rgb, labels = make()
            return encode_image(rgb, fmt, quality), labels

        suffix = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[fmt]
        path, labels = self.corpus.item(f"photos/queries/{name.replace('/', '--')}{suffix}", made)
        box = labels.get("box")
        self.append(
            PhotoQuery(
                name,
                original,
                kind,
                transform,
                label,
                path,
                done=frozenset(labels.get("done", [])),
                tolerated=frozenset(labels.get("tolerated", [])),
                scale=labels.get("scale"),
                box=tuple(box) if box else None,  # type: ignore[arg-type]
            )
        )


def photo_queries(corpus: Corpus, registered: list[Original], quick: bool) -> tuple[list[Original], list[PhotoQuery]]:
    """Queries of the registered photos; same-scene pairs (whose first views are returned, to be registered too);
    unrelated photos."""
    queries = _Queries(corpus)
    for i, original in enumerate(registered):
        _queries_of(queries, original, i, quick)
    firsts = _same_scene(corpus, quick, queries)
    for k, other in enumerate(photos("other")[: 4 if quick else None]):
        change = ("jpeg", "resize", "crop")[k % 3]
        queries.add(
            None,
            "unrelated",
            f"{other.name}_{change}",
            "unregistered",
            lambda path=other.path, change=change: (_unrelated(path, change), {}),
            quality=85,
        )
    return firsts, list(queries)


def _unrelated(path: Path, change: str) -> np.ndarray:
    rgb = pixels(path, 2560)
    return {"jpeg": rgb, "resize": _resize(rgb, 0.5, 0.5), "crop": _crop(rgb, 0.8, 0.3, 0.6)}[change]


def _queries_of(queries: _Queries, original: Original, i: int, quick: bool) -> None:
    """Every query made from one registered photo (fewer in the quick run)."""
    others = [p.path for p in photos("other")]
    rng = queries.corpus.rng(f"photo/{original.name}")

    def rgb() -> np.ndarray:
        return pixels(original.path)

    def sub(what: str) -> np.random.Generator:
        return queries.corpus.rng(f"photo/{original.name}/{what}")

    def plain() -> Made:
        return rgb(), {"scale": 1.0}

    queries.add(original.name, "resave", "png", "copy", plain, "PNG")
    quality = int(rng.integers(40, 96))
    queries.add(original.name, "resave", f"jpeg_q{quality}", "copy", plain, "JPEG", quality)
    if not quick or i < 2:
        quality = int(rng.integers(50, 91))
        queries.add(original.name, "resave", f"webp_q{quality}", "copy", plain, "WEBP", quality)
    kinds = (
        [BENIGN_KINDS[(2 * i + j) % 9] for j in range(2)]
        if quick
        else [BENIGN_KINDS[(5 * i + j) % 9] for j in range(5)]
    )
    for kind in kinds:
        fmt = "PNG" if sub(f"{kind}/format").random() < 0.25 else "JPEG"
        queries.add(original.name, "benign", kind, "copy", lambda kind=kind: _benign(kind, rgb(), sub(kind)), fmt)
    for framing in (("page",) if i % 2 == 0 else ("screenshot",)) if quick else ("page", "screenshot"):
        queries.add(original.name, "framed", framing, "copy", lambda w=framing: _framed(rgb(), sub(w), w))
    for whole in (i % 2 == 0,) if quick else (True, False):
        transform = f"composite_{'whole' if whole else 'centre'}"
        background = others[int(sub(f"{transform}/background").integers(len(others)))]
        queries.add(
            original.name,
            "composite",
            transform,
            "altered",
            lambda b=background, w=whole, t=transform: _composite(rgb(), pixels(b, 2560), sub(t), w),
        )
    if not quick or i % 2 == 0:
        edit = "paste_patch" if i % 2 == 0 else "splice_face"
        donor = others[int(sub(f"{edit}/donor").integers(len(others)))]
        queries.add(
            original.name,
            "patch",
            edit,
            "altered",
            lambda d=donor, e=edit: _patched(rgb(), pixels(d, 1600), sub(e), e),
            quality=88,
        )


@lru_cache(maxsize=1)
def _scene(seed: int, index: int) -> tuple[bytes, bytes]:
    """bench/same_scene.py's two views of one rendered scene: a quarter of a footage photo far away, and 1-3 other
    quarters as cards nearer the camera. No two scenes share a quarter, so a scene matches only itself."""
    quarters = [(p.path, q) for p in photos("footage") for q in range(4)]
    order = np.random.default_rng(seed).permutation(len(quarters))
    chosen = [quarters[k] for k in order[4 * index : 4 * index + 2 + index % 3]]

    def quarter(path: Path, q: int) -> np.ndarray:
        rgb = pixels(path, 2400)
        h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
        return np.ascontiguousarray(rgb[(q // 2) * h : (q // 2 + 1) * h, (q % 2) * w : (q % 2 + 1) * w])

    return rendered_scene(index, quarter(*chosen[0]), [quarter(*c) for c in chosen[1:]], index % 3 == 2)


def _same_scene(corpus: Corpus, quick: bool, queries: _Queries) -> list[Original]:
    """Different photographs of one scene: rendered pairs (the first view registered) and scikit-image's stereo
    pair (the left one registered)."""
    firsts = []
    for index in range(3 if quick else 10):
        name = f"scene-{index:02d}"
        first = corpus.data(f"photos/scenes/{name}-first.jpg", lambda index=index: _scene(corpus.seed, index)[0])
        firsts.append(Original(name, first))
        second = lambda index=index: (_decoded(_scene(corpus.seed, index)[1]), {})  # noqa: E731
        queries.add(name, "same_scene", "second_view", "related", second, quality=85)
    left, right = load_photos(("motorcycle_left", "motorcycle_right"))
    firsts.append(Original("stereo-left", corpus.data("photos/scenes/stereo-left.png", lambda: left.data)))
    queries.add("stereo-left", "same_scene", "stereo_right", "related", lambda: (right.pixels, {}), "PNG")
    return firsts


def _decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# --- near-duplicate floods ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flood:
    original: Original
    copies: list[tuple[str, Path]]  # what a second publisher registers: (what it is, file)
    checks: list[tuple[str, Path]]  # what is checked afterwards


def floods(corpus: Corpus, quick: bool) -> list[Flood]:
    """A newsroom's photo, then 20 near-copies by another publisher (the same bytes, 10 one-pixel edits, 9
    re-saves), checked with the original, a re-save, a half-size copy, a 90% crop and a fresh one-pixel edit."""
    return [_flood(corpus, original) for original in photo_originals(quick=False)[-(2 if quick else 4) :]]


def _flood(corpus: Corpus, original: Original) -> Flood:
    def rgb() -> np.ndarray:
        return pixels(original.path)

    def one_pixel(k: int, fmt: str) -> bytes:
        rng = corpus.rng(f"flood/{original.name}/pixel-{k}")
        edited = rgb().copy()
        edited[int(rng.integers(edited.shape[0])), int(rng.integers(edited.shape[1]))] = rng.integers(0, 256, 3)
        return encode_image(edited, fmt, 95)

    def keep(name: str, make: Callable[[], bytes], suffix: str) -> tuple[str, Path]:
        return name, corpus.data(f"floods/{original.name}/{name}{suffix}", make)

    copies = [("same_bytes", original.path)]
    copies += [
        keep(f"pixel_{k}", lambda k=k: one_pixel(k, "PNG" if k % 2 else "JPEG"), ".png" if k % 2 else ".jpg")
        for k in range(10)
    ]
    copies += [
        keep(f"jpeg_q{q}", lambda q=q: encode_image(rgb(), "JPEG", q), ".jpg") for q in (60, 70, 75, 80, 85, 90, 95)
    ]
    copies += [
        keep("webp_q80", lambda: encode_image(rgb(), "WEBP", 80), ".webp"),
        keep("png", lambda: encode_image(rgb(), "PNG"), ".png"),
    ]
    checks = [
        ("original", original.path),
        keep("check_jpeg_q88", lambda: encode_image(rgb(), "JPEG", 88), ".jpg"),
        keep("check_half", lambda: encode_image(_resize(rgb(), 0.5, 0.5), "JPEG", 85), ".jpg"),
        keep("check_crop90", lambda: encode_image(_crop(rgb(), 0.9), "JPEG", 85), ".jpg"),
        keep("check_pixel", lambda: one_pixel(99, "PNG"), ".png"),
    ]
    return Flood(original, copies, checks)
