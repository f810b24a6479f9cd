"""A labelled corpus of what-was-done claims on real photographs: re-saves, benign edits, framings, composites.

Registered originals are photographs from Debian's wallpaper packages (gnome-backgrounds, mate-backgrounds,
ubuntu wallpapers, plasma-workspace-wallpapers; illustrations and renders left out by eye). Every query is made from
a seed and labelled with the claims it must make (`expected`) and the ones it may make without saying anything false
(`allowed`); any other claim is false. Claims are the transform's words: cropped, framed, composite, scale, aspect,
rotation, flipped, perspective, photometric, grayscale.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

# Photographs only: landscapes, close-ups, interiors, architecture, animals. Abstract renders, illustrations and
# drawings shipped in the same packages are left out.
PHOTOS = (
    "/usr/share/backgrounds/Bridge_by_Sander_Klootwijk.jpg",
    "/usr/share/backgrounds/Dragonfly_by_Bolly.jpg",
    "/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",
    "/usr/share/backgrounds/Picture_0B_by_freespace.jpg",
    "/usr/share/backgrounds/Picture_1A_by_freespace.jpg",
    "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
    "/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg",
    "/usr/share/backgrounds/free_by_Peter_Nerlich.jpg",
    "/usr/share/backgrounds/friends_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/mate/nature/Aqua.jpg",
    "/usr/share/backgrounds/mate/nature/Blinds.jpg",
    "/usr/share/backgrounds/mate/nature/Dune.jpg",
    "/usr/share/backgrounds/mate/nature/FreshFlower.jpg",
    "/usr/share/backgrounds/mate/nature/Garden.jpg",
    "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg",
    "/usr/share/backgrounds/mate/nature/LadyBird.jpg",
    "/usr/share/backgrounds/mate/nature/RainDrops.jpg",
    "/usr/share/backgrounds/mate/nature/Storm.jpg",
    "/usr/share/backgrounds/mate/nature/TwoWings.jpg",
    "/usr/share/backgrounds/mate/nature/Wood.jpg",
    "/usr/share/backgrounds/mate/nature/YellowFlower.jpg",
    "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg",
    "/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
    "/usr/share/wallpapers/BytheWater/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/ColdRipple/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/EveningGlow/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/FallenLeaf/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/Grey/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/Kite/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/OneStandsOut/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/Path/contents/images/1920x1080.jpg",
    "/usr/share/wallpapers/summer_1am/contents/images/1920x1080.jpg",
)
# Originals are registered at this longer side (a newsroom's web size; the registry works at 1024 anyway).
SIDE = 1600
CLAIMS = (
    "cropped",
    "framed",
    "composite",
    "scale",
    "aspect",
    "rotation",
    "flipped",
    "perspective",
    "photometric",
    "grayscale",
)
_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
)


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    name: str
    source: int  # index of the registered photo it was made from
    family: str  # resave, benign, framed, composite or edit
    data: bytes
    verdict: str  # the verdict it must get: copy or altered
    expected: frozenset[str] = frozenset()  # claims it must make
    allowed: frozenset[str] = frozenset()  # claims it may make besides those
    footprint: tuple[int, int, int, int] | None = None  # where the original is in the query: x0 y0 x1 y1 pixels


def load_photo(path: str, side: int = SIDE) -> np.ndarray:
    image = Image.open(path)
    image.draft("RGB", (side, side))
    image = image.convert("RGB")
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image)


def encode(pixels: np.ndarray, fmt: str = "JPEG", **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **params)
    return buffer.getvalue()


def font(size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    path = Path(_FONT_FILES[index % len(_FONT_FILES)])
    if path.exists():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _fit(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(pixels, (max(8, width), max(8, height)), interpolation=cv2.INTER_AREA)


def _cover(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scaled to cover width x height, centre-cropped (what `object-fit: cover` shows)."""
    h, w = pixels.shape[:2]
    scale = max(width / w, height / h)
    big = cv2.resize(pixels, (max(width, round(w * scale)), max(height, round(h * scale))), cv2.INTER_LINEAR)
    y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[y : y + height, x : x + width]


# --- re-saves: the same pixels, only re-encoded -----------------------------------------------------------------


def resaves(index: int, pixels: np.ndarray) -> list[LabelledQuery]:
    made = [("png", encode(pixels, "PNG")), ("webp80", encode(pixels, "WEBP", quality=80))]
    made += [(f"jpeg{q}", encode(pixels, "JPEG", quality=q)) for q in (40, 60, 75, 95)]
    return [LabelledQuery(f"{index:02d}/resave_{name}", index, "resave", data, "copy") for name, data in made]


# --- benign edits: each claims what was done, and nothing else ---------------------------------------------------


def _crop(p: np.ndarray, r: np.random.Generator) -> np.ndarray:
    h, w = p.shape[:2]
    keep = r.uniform(0.6, 0.85)
    x, y = int(r.uniform(0, 1 - keep) * w), int(r.uniform(0, 1 - keep) * h)
    return p[y : y + int(keep * h), x : x + int(keep * w)]


def _rotate_crop(p: np.ndarray, r: np.random.Generator) -> np.ndarray:
    angle = float(r.choice([-1, 1]) * r.uniform(3, 10))
    rotated = np.asarray(Image.fromarray(p).rotate(angle, Image.Resampling.BICUBIC, expand=False))
    h, w = p.shape[:2]
    return rotated[int(0.15 * h) : int(0.85 * h), int(0.15 * w) : int(0.85 * w)]


def _perspective(p: np.ndarray, r: np.random.Generator) -> np.ndarray:
    h, w = p.shape[:2]
    d = r.uniform(0.06, 0.12)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[d * w, d * h], [(1 - d) * w, 0], [w, h], [0, (1 - d) * h]])
    warped = cv2.warpPerspective(p, cv2.getPerspectiveTransform(src, dst), (w, h), flags=cv2.INTER_LINEAR)
    return warped[int(0.15 * h) : int(0.85 * h), int(0.15 * w) : int(0.85 * w)]


def _grayscale(p: np.ndarray, r: np.random.Generator) -> np.ndarray:
    return np.asarray(ImageOps.grayscale(Image.fromarray(p)).convert("RGB"))


def _photometric(p: np.ndarray, r: np.random.Generator) -> np.ndarray:
    image = ImageEnhance.Brightness(Image.fromarray(p)).enhance(r.uniform(1.15, 1.3))
    return np.asarray(ImageEnhance.Contrast(image).enhance(r.uniform(1.2, 1.4)))


BENIGN: dict[str, tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], set[str], set[str]]] = {
    # name: (transform, claims it must make, claims it may also make)
    "crop": (_crop, {"cropped"}, set()),
    "resize": (lambda p, r: _fit(p, int(p.shape[1] * 0.55), int(p.shape[0] * 0.55)), {"scale"}, set()),
    "rotate_crop": (_rotate_crop, {"rotation", "cropped"}, set()),
    "mirror": (lambda p, r: p[:, ::-1].copy(), {"flipped"}, set()),
    "grayscale": (_grayscale, {"grayscale"}, {"photometric"}),
    "photometric": (_photometric, {"photometric"}, set()),
    "stretch": (lambda p, r: _fit(p, int(p.shape[1] * 1.25), p.shape[0]), {"aspect"}, {"scale"}),
    "perspective": (_perspective, {"perspective", "cropped"}, {"scale", "aspect", "rotation"}),
}


def benign(index: int, pixels: np.ndarray, seed: int) -> list[LabelledQuery]:
    queries = []
    for j, (name, (transform, expected, allowed)) in enumerate(BENIGN.items()):
        made = transform(pixels, np.random.default_rng([seed, index, j]))
        queries.append(
            LabelledQuery(
                f"{index:02d}/benign_{name}",
                index,
                "benign",
                encode(np.ascontiguousarray(made), "JPEG", quality=85),
                "copy",
                frozenset(expected),
                frozenset(allowed),
            )
        )
    return queries


# --- a whole original inside flat or UI-like surroundings: framed copies -----------------------------------------


def _words(r: np.random.Generator, n: int) -> str:
    vocabulary = ("the", "a", "council", "said", "on", "monday", "that", "river", "flood", "water", "report", "city")
    return " ".join(str(r.choice(vocabulary)) for _ in range(n))


def _page(photo: np.ndarray, r: np.random.Generator, dark: bool) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A web article or app screen: header bar, headline, body text, buttons, the photo at 45-75% of the width."""
    width = int(r.choice([720, 1080, 1280]))
    share = r.uniform(0.45, 0.75)
    pw = int(width * share)
    ph = int(pw * photo.shape[0] / photo.shape[1])
    height = ph + int(r.uniform(0.5, 0.9) * width)
    background = (int(r.integers(18, 40)),) * 3 if dark else (int(r.integers(235, 256)),) * 3
    ink = (225, 225, 225) if dark else (30, 30, 30)
    page = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(page)
    bar = tuple(int(c) for c in r.integers(0, 200, 3))
    draw.rectangle((0, 0, width, int(0.07 * width)), fill=bar)
    draw.text((int(0.03 * width), int(0.02 * width)), "News", font=font(int(0.035 * width)), fill=(255, 255, 255))
    y = int(0.1 * width)
    draw.text((int(0.05 * width), y), _words(r, 6).title(), font=font(int(0.04 * width), 1), fill=ink)
    y += int(0.08 * width)
    x = int((width - pw) * r.uniform(0.1, 0.9))
    page.paste(Image.fromarray(_fit(photo, pw, ph)), (x, y))
    box = (x, y, x + pw, y + ph)
    y += ph + int(0.03 * width)
    size = int(0.022 * width)
    while y < height - 2 * size:
        draw.text((int(0.05 * width), y), _words(r, 9), font=font(size), fill=ink)
        y += int(1.6 * size)
        if r.random() < 0.1:  # a button or a like bar
            draw.rounded_rectangle((int(0.05 * width), y, int(0.3 * width), y + 2 * size), 8, fill=bar)
            y += 3 * size
    return np.asarray(page), box


def _padded(photo: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    h, w = photo.shape[:2]
    colour = tuple(int(c) for c in (r.integers(0, 256, 3) if r.random() < 0.5 else [int(r.choice([0, 255]))] * 3))
    pad = [int(r.uniform(0.04, 0.3) * s) for s in (w, h, w, h)]
    canvas = np.empty((h + pad[1] + pad[3], w + pad[0] + pad[2], 3), np.uint8)
    canvas[:] = colour
    canvas[pad[1] : pad[1] + h, pad[0] : pad[0] + w] = photo
    return canvas, (pad[0], pad[1], pad[0] + w, pad[1] + h)


def _letterbox(photo: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    h, w = photo.shape[:2]
    portrait = w > h
    cw, ch = (1080, 1920) if portrait else (1920, 1080)
    scale = min(cw / w, ch / h)
    pw, ph = int(w * scale), int(h * scale)
    canvas = np.zeros((ch, cw, 3), np.uint8)
    x, y = (cw - pw) // 2, (ch - ph) // 2
    canvas[y : y + ph, x : x + pw] = _fit(photo, pw, ph)
    return canvas, (x, y, x + pw, y + ph)


def _blurred_self(photo: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The platforms' presentation: the photo fitted over an enlarged, blurred (often darkened) copy of itself."""
    h, w = photo.shape[:2]
    cw, ch = (1080, 1920) if r.random() < 0.5 else (1080, 1080)
    if w < h:
        cw, ch = ch, cw
    background = _cover(photo, cw, ch).astype(np.float32)
    background = cv2.GaussianBlur(background, (0, 0), r.uniform(15, 40)) * r.uniform(0.55, 1.0)
    canvas = np.clip(background, 0, 255).astype(np.uint8)
    scale = min(cw / w, ch / h) * r.uniform(0.85, 1.0)
    pw, ph = int(w * scale), int(h * scale)
    x, y = (cw - pw) // 2, (ch - ph) // 2
    canvas[y : y + ph, x : x + pw] = _fit(photo, pw, ph)
    return canvas, (x, y, x + pw, y + ph)


def _rotated(photo: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    angle = float(r.choice([-1, 1]) * r.uniform(4, 15))
    fill = (0, 0, 0) if r.random() < 0.5 else (255, 255, 255)
    rotated = Image.fromarray(photo).rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)
    return np.asarray(rotated), (0, 0, rotated.width, rotated.height)


def _window(photo: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A desktop screenshot: an image viewer window (title bar, toolbar, status bar) on a flat desktop."""
    width, height = 1920, 1080
    desktop = tuple(int(c) for c in r.integers(20, 120, 3))
    screen = Image.new("RGB", (width, height), desktop)
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, height - 48, width, height), fill=(32, 32, 36))  # task bar
    for i in range(6):
        icon = tuple(int(c) for c in r.integers(60, 255, 3))
        draw.ellipse((20 + 60 * i, height - 40, 52 + 60 * i, height - 8), fill=icon)
    wx, wy = int(r.uniform(40, 300)), int(r.uniform(20, 120))
    ww, wh = int(r.uniform(0.55, 0.8) * width), int(r.uniform(0.6, 0.8) * height)
    chrome = (int(r.integers(40, 70)),) * 3 if r.random() < 0.5 else (int(r.integers(220, 245)),) * 3
    draw.rectangle((wx, wy, wx + ww, wy + wh), fill=chrome)
    title = (255, 255, 255) if chrome[0] < 128 else (20, 20, 20)
    draw.text((wx + 16, wy + 8), "photo.jpg - Viewer", font=font(18), fill=title)
    for i, colour in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        draw.ellipse((wx + ww - 30 - 26 * i, wy + 10, wx + ww - 14 - 26 * i, wy + 26), fill=colour)
    for i in range(8):
        draw.rectangle((wx + 16 + 40 * i, wy + 44, wx + 44 + 40 * i, wy + 68), outline=title)
    draw.text((wx + 16, wy + wh - 26), "1600 x 1067   100%", font=font(14), fill=title)
    h, w = photo.shape[:2]
    scale = min((ww - 40) / w, (wh - 120) / h)
    pw, ph = int(w * scale), int(h * scale)
    x, y = wx + (ww - pw) // 2, wy + 80 + (wh - 120 - ph) // 2
    screen.paste(Image.fromarray(_fit(photo, pw, ph)), (x, y))
    return np.asarray(screen), (x, y, x + pw, y + ph)


FRAMINGS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, tuple[int, int, int, int]]]] = {
    "padded": _padded,
    "letterbox": _letterbox,
    "page_light": lambda p, r: _page(p, r, dark=False),
    "page_dark": lambda p, r: _page(p, r, dark=True),
    "window": _window,
    "rotated": _rotated,
    "blurred_self": _blurred_self,
}


def framed(index: int, pixels: np.ndarray, seed: int) -> list[LabelledQuery]:
    queries = []
    for j, (name, make) in enumerate(FRAMINGS.items()):
        canvas, box = make(pixels, np.random.default_rng([seed, index, 100 + j]))
        allowed = {"scale", "rotation"} if name == "rotated" else {"scale"}
        queries.append(
            LabelledQuery(
                f"{index:02d}/framed_{name}",
                index,
                "framed",
                encode(np.ascontiguousarray(canvas), "JPEG", quality=85),
                "copy",
                frozenset({"framed"}),
                frozenset(allowed),
                footprint=box,
            )
        )
    return queries


# --- composites: the original, or part of it, with other photographic content -----------------------------------


def _paste(base: np.ndarray, part: np.ndarray, x: int, y: int) -> np.ndarray:
    out = base.copy()
    out[y : y + part.shape[0], x : x + part.shape[1]] = part
    return out


def _centre_scaled(photo: np.ndarray, donor: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """The issue's case: the centre of the original, scaled 1.25-1.5x, pasted into another photograph."""
    h, w = photo.shape[:2]
    keep, scale = r.uniform(0.35, 0.6), r.uniform(1.25, 1.5)
    centre = photo[int((1 - keep) / 2 * h) : int((1 + keep) / 2 * h), int((1 - keep) / 2 * w) : int((1 + keep) / 2 * w)]
    part = cv2.resize(centre, (int(centre.shape[1] * scale), int(centre.shape[0] * scale)), cv2.INTER_CUBIC)
    base = _cover(donor, w, h)
    part = part[: int(0.9 * h), : int(0.9 * w)]
    x, y = int(r.uniform(0, w - part.shape[1])), int(r.uniform(0, h - part.shape[0]))
    return _paste(base, part, x, y), (x, y, x + part.shape[1], y + part.shape[0])


def _inset_in_photo(photo: np.ndarray, donor: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """The query is mostly another photograph; the whole original is a smaller pasted part of it."""
    dh, dw = donor.shape[:2]
    share = r.uniform(0.3, 0.55)
    pw = int(dw * share)
    ph = int(pw * photo.shape[0] / photo.shape[1])
    if ph > 0.8 * dh:
        ph = int(0.8 * dh)
        pw = int(ph * photo.shape[1] / photo.shape[0])
    x, y = int(r.uniform(0, dw - pw)), int(r.uniform(0, dh - ph))
    return _paste(donor, _fit(photo, pw, ph), x, y), (x, y, x + pw, y + ph)


def _part_at_edge(photo: np.ndarray, donor: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, tuple]:
    """Half of the original side by side with another photograph (a before/after or a splice along a seam)."""
    h, w = photo.shape[:2]
    keep = r.uniform(0.45, 0.7)
    base = _cover(donor, w, h)
    if r.random() < 0.5:
        part = photo[:, : int(keep * w)]
        return _paste(base, part, 0, 0), (0, 0, part.shape[1], h)
    part = photo[:, int((1 - keep) * w) :]
    return _paste(base, part, w - part.shape[1], 0), (w - part.shape[1], 0, w, h)


COMPOSITES = {
    "centre_scaled": (_centre_scaled, {"composite"}, {"cropped", "scale", "photometric"}),
    "inset_in_photo": (_inset_in_photo, {"composite"}, {"scale", "photometric"}),
    "part_at_edge": (_part_at_edge, {"composite"}, {"cropped", "photometric"}),
}


def composites(index: int, pixels: np.ndarray, donor: np.ndarray, seed: int) -> list[LabelledQuery]:
    queries = []
    for j, (name, (make, expected, allowed)) in enumerate(COMPOSITES.items()):
        canvas, box = make(pixels, donor, np.random.default_rng([seed, index, 200 + j]))
        queries.append(
            LabelledQuery(
                f"{index:02d}/composite_{name}",
                index,
                "composite",
                encode(np.ascontiguousarray(canvas), "JPEG", quality=88),
                "altered",
                frozenset(expected),
                frozenset(allowed),
                footprint=box,
            )
        )
    return queries


# --- local edits inside the original: altered, but not composites -------------------------------------------------


def _patch(photo: np.ndarray, donor: np.ndarray, r: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    ph, pw = int(0.3 * h), int(0.3 * w)
    y, x = int(r.uniform(0.1, 0.6) * h), int(r.uniform(0.1, 0.6) * w)
    return _paste(photo, _cover(donor, pw, ph), x, y)


def _caption(photo: np.ndarray, donor: np.ndarray, r: np.random.Generator) -> np.ndarray:
    image = Image.fromarray(photo)
    draw = ImageDraw.Draw(image)
    size = int(0.07 * photo.shape[0])
    text = _words(r, 4).upper()
    y = int(0.05 * photo.shape[0]) if r.random() < 0.5 else int(0.85 * photo.shape[0])
    draw.text((int(0.08 * photo.shape[1]), y), text, font=font(size), fill=(255, 255, 255), stroke_width=3,
              stroke_fill=(0, 0, 0))  # fmt: skip
    return np.asarray(image)


EDITS = {"patch": _patch, "caption": _caption}


def edits(index: int, pixels: np.ndarray, donor: np.ndarray, seed: int) -> list[LabelledQuery]:
    return [
        LabelledQuery(
            f"{index:02d}/edit_{name}",
            index,
            "edit",
            encode(make(pixels, donor, np.random.default_rng([seed, index, 300 + j])), "JPEG", quality=85),
            "altered",
        )
        for j, (name, make) in enumerate(EDITS.items())
    ]
