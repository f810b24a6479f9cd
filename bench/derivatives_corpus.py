"""The derivative benchmark's corpus: real photos shipped in PyPI packages, benign transforms and local edits.

Every query is generated from a seed, so two runs see the same bytes. Local edits return their ground-truth mask in
the original's full-size frame (the edit is made first, any geometric change after it, as a re-poster would).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

# Photos registered as originals, and photos that are never registered (their queries must match nothing).
# motorcycle_right is the other half of the stereo pair motorcycle_left: a different photo of the same scene.
ORIGINALS = (
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "coffee",
    "coins",
    "grass",
    "hubble_deep_field",
    "moon",
    "motorcycle_left",
    "page",
    "retina",
    "rocket",
    "text",
    "china",
    "grace_hopper",
)
DISTRACTORS = ("motorcycle_right", "flower", "gravel", "ihc", "clock_motion", "color")


@dataclass(frozen=True, slots=True)
class Photo:
    name: str
    pixels: np.ndarray  # (h, w, 3) uint8 RGB
    data: bytes  # the file as it ships: what gets registered


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    source: str  # photo the query was made from
    transform: str
    kind: str  # "benign", "edit" or "distractor"
    data: bytes
    mask: np.ndarray | None = None  # edits: (h, w) bool in the source's full-size frame
    caption: bool = False


def _package_dir(module: str) -> Path:
    imported = __import__(module, fromlist=["__file__"])
    return Path(os.path.dirname(imported.__file__))


def _photo_paths() -> dict[str, Path]:
    import matplotlib

    skimage_dir = _package_dir("skimage") / "data"
    sklearn_dir = _package_dir("sklearn.datasets") / "images"
    mpl_dir = Path(matplotlib.get_data_path()) / "sample_data"
    paths = {p.stem: p for p in skimage_dir.glob("*.png")} | {p.stem: p for p in skimage_dir.glob("*.jpg")}
    paths |= {p.stem: p for p in sklearn_dir.glob("*.jpg")}
    paths["grace_hopper"] = mpl_dir / "grace_hopper.jpg"
    return paths


def load_photos(names: tuple[str, ...]) -> list[Photo]:
    paths = _photo_paths()
    photos = []
    for name in names:
        data = paths[name].read_bytes()
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        photos.append(Photo(name, pixels, data))
    return photos


def encode(pixels: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels)


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def font(size: int) -> ImageFont.FreeTypeFont:
    """Impact (the meme-caption face) from AugLy's assets, or Pillow's built-in font."""
    fonts = _package_dir("augly") / "assets" / "fonts"
    for name in ("Impact.ttf", "OpenSans-Bold.ttf"):
        if (fonts / name).exists():
            return ImageFont.truetype(str(fonts / name), size)
    return ImageFont.load_default(size)


# --- benign transforms ------------------------------------------------------------------------------------------

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _resize(pixels: np.ndarray, fx: float, fy: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    return _arr(_pil(pixels).resize((max(8, round(w * fx)), max(8, round(h * fy))), Image.Resampling.BICUBIC))


def _crop(pixels: np.ndarray, keep: float, ax: float = 0.5, ay: float = 0.5) -> np.ndarray:
    """Keep `keep` of each side; (ax, ay) place the window (0.5 = centred)."""
    h, w = pixels.shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    y0, x0 = round((h - ch) * ay), round((w - cw) * ax)
    return pixels[y0 : y0 + ch, x0 : x0 + cw]


def _rotate(pixels: np.ndarray, degrees: float) -> np.ndarray:
    return _arr(_pil(pixels).rotate(degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0)))


def _screenshot(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo inside a fake app window: title bar, text, side panel, the photo scaled down."""
    photo = _resize(pixels, 0.75, 0.75)
    ph, pw = photo.shape[:2]
    canvas = Image.new("RGB", (pw + 220, ph + 170), (245, 246, 248))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, 48), fill=(36, 41, 47))
    draw.text((16, 12), "photos.example  -  shared with you", font=font(20), fill=(230, 230, 230))
    draw.rectangle((pw + 40, 70, canvas.width - 12, canvas.height - 20), fill=(255, 255, 255), outline=(210, 210, 210))
    for i in range(6):
        draw.text((pw + 52, 84 + 26 * i), f"comment {int(rng.integers(100, 999))}", font=font(15), fill=(60, 60, 60))
    canvas.paste(_pil(photo), (20, 64))
    draw.text((20, 64 + ph + 20), "1,204 likes  Posted 3h ago", font=font(18), fill=(40, 40, 40))
    return _arr(canvas)


def _perspective(pixels: np.ndarray, amount: float) -> np.ndarray:
    h, w = pixels.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[w * amount, 0], [w * (1 - amount / 2), h * amount], [w, h], [0, h * (1 - amount)]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(pixels, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))


def _colour(pixels: np.ndarray) -> np.ndarray:
    image = ImageEnhance.Color(_pil(pixels)).enhance(1.6)
    image = ImageEnhance.Brightness(image).enhance(1.1)
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 12) % 256  # hue shift
    return _arr(Image.fromarray(hsv, "HSV"))


def _noise(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(pixels + rng.normal(0, 10, pixels.shape), 0, 255).astype(np.uint8)


BENIGN: dict[str, Transform] = {
    "jpeg_q30": lambda p, r: p,  # encoded at quality 30 below
    "resize_half": lambda p, r: _resize(p, 0.5, 0.5),
    "upscale_1.6": lambda p, r: _resize(p, 1.6, 1.6),
    "aspect_1.3x": lambda p, r: _resize(p, 1.3, 1.0),
    "crop_10": lambda p, r: _crop(p, 0.9),
    "crop_25": lambda p, r: _crop(p, 0.75),
    "crop_offcentre": lambda p, r: _crop(p, 0.7, 0.1, 0.85),
    "rotate_5": lambda p, r: _rotate(p, 5),
    "rotate_15": lambda p, r: _rotate(p, -15),
    "rotate_90": lambda p, r: np.ascontiguousarray(np.rot90(p)),
    "flip_h": lambda p, r: np.ascontiguousarray(p[:, ::-1]),
    "flip_v": lambda p, r: np.ascontiguousarray(p[::-1]),
    "pad_10": lambda p, r: _arr(ImageOps.expand(_pil(p), border=max(8, p.shape[1] // 10), fill=(255, 255, 255))),
    "screenshot": _screenshot,
    "skew": lambda p, r: _perspective(p, 0.08),
    "blur": lambda p, r: _arr(_pil(p).filter(ImageFilter.GaussianBlur(2))),
    "noise": _noise,
    "colour": lambda p, r: _colour(p),
    "grayscale": lambda p, r: _arr(ImageOps.grayscale(_pil(p))),
    "contrast": lambda p, r: _arr(ImageEnhance.Contrast(_pil(p)).enhance(1.5)),
    "crop_resize_jpeg": lambda p, r: _resize(_crop(p, 0.85, 0.3, 0.6), 0.7, 0.7),
    "rotate_crop_colour": lambda p, r: _colour(_crop(_rotate(p, 3), 0.8)),
    "flip_pad_blur": lambda p, r: _arr(
        ImageOps.expand(_pil(p[:, ::-1]).filter(ImageFilter.GaussianBlur(1)), border=24, fill=(0, 0, 0))
    ),
}
_QUALITY = {"jpeg_q30": 30, "crop_resize_jpeg": 50}


# --- local edits ------------------------------------------------------------------------------------------------

Edit = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _place(shape: tuple[int, ...], size: tuple[int, int], rng: np.random.Generator) -> tuple[int, int]:
    """A random top-left corner for a (h, w) box, away from the outer 8% where crops would cut it."""
    h, w = shape[:2]
    margin_y, margin_x = round(h * 0.08), round(w * 0.08)
    y = int(rng.integers(margin_y, max(margin_y + 1, h - size[0] - margin_y)))
    x = int(rng.integers(margin_x, max(margin_x + 1, w - size[1] - margin_x)))
    return y, x


def _donor_region(donor: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    donor = _resize(donor, *(2 * [max(1.0, size[0] / donor.shape[0] * 1.2, size[1] / donor.shape[1] * 1.2)]))
    y, x = _place(donor.shape, size, rng)
    return donor[y : y + size[0], x : x + size[1]]


def _blend(target: np.ndarray, patch: np.ndarray, alpha: np.ndarray, y: int, x: int) -> np.ndarray:
    out = target.astype(np.float32).copy()
    h, w = alpha.shape
    region = out[y : y + h, x : x + w]
    out[y : y + h, x : x + w] = region * (1 - alpha[..., None]) + patch * alpha[..., None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _ellipse_alpha(h: int, w: int, feather: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - (h - 1) / 2) / (h / 2), (xx - (w - 1) / 2) / (w / 2))
    return np.clip((1 - r) / feather, 0, 1).astype(np.float32) if feather > 0 else (r <= 1).astype(np.float32)


def _full_mask(shape: tuple[int, ...], alpha: np.ndarray, y: int, x: int, level: float = 0.5) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[y : y + alpha.shape[0], x : x + alpha.shape[1]] = alpha >= level
    return mask


def _paste_patch(pixels: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A rectangle from another photo covering about 10% of the image."""
    h, w = pixels.shape[:2]
    size = (round(h * 0.3), round(w * 0.33))
    y, x = _place(pixels.shape, size, rng)
    alpha = np.ones(size, np.float32)
    return _blend(pixels, _donor_region(donor, size, rng), alpha, y, x), _full_mask(pixels.shape, alpha, y, x)


def _splice(pixels: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A feathered elliptical region from another photo, about 2.5% of the image: a face-region swap."""
    h, w = pixels.shape[:2]
    size = (round(h * 0.2), round(w * 0.16))
    y, x = _place(pixels.shape, size, rng)
    alpha = _ellipse_alpha(*size, feather=0.35)
    patch = _donor_region(donor, size, rng).astype(np.float32)
    # match the donor's brightness to the target's, as a careful forger would
    region = pixels[y : y + size[0], x : x + size[1]].astype(np.float32)
    patch = (patch - patch.mean((0, 1))) / (patch.std((0, 1)) + 1) * region.std((0, 1)) + region.mean((0, 1))
    return _blend(pixels, patch, alpha, y, x), _full_mask(pixels.shape, alpha, y, x, 0.5)


def _small_edit(pixels: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A small (about 1%) region moved from elsewhere in the same image, feathered: a mouth-region edit."""
    h, w = pixels.shape[:2]
    size = (round(h * 0.08), round(w * 0.14))
    y, x = _place(pixels.shape, size, rng)
    sy, sx = _place(pixels.shape, size, rng)
    while abs(sy - y) < size[0] and abs(sx - x) < size[1]:
        sy, sx = _place(pixels.shape, size, rng)
    alpha = _ellipse_alpha(*size, feather=0.3)
    patch = pixels[sy : sy + size[0], sx : sx + size[1]]
    return _blend(pixels, patch, alpha, y, x), _full_mask(pixels.shape, alpha, y, x, 0.5)


def _caption(pixels: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Meme-style caption: white text with a black outline near the top or bottom; the mask is its bounding box."""
    h, w = pixels.shape[:2]
    image = _pil(pixels).copy()
    draw = ImageDraw.Draw(image)
    text = str(rng.choice(["FAKE NEWS TODAY", "NOT WHAT IT SEEMS", "BREAKING: LEAKED", "SHOCKING PHOTO"]))
    size = max(12, round(h * 0.08))
    type_face = font(size)
    box = draw.textbbox((0, 0), text, font=type_face, stroke_width=2)
    while box[2] - box[0] > w * 0.9 and size > 10:
        size -= 2
        type_face = font(size)
        box = draw.textbbox((0, 0), text, font=type_face, stroke_width=2)
    tw, th = box[2] - box[0], box[3] - box[1]
    x = (w - tw) // 2 - box[0]
    y = (round(h * 0.1) if rng.random() < 0.5 else h - th - round(h * 0.1)) - box[1]
    draw.text((x, y), text, font=type_face, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    mask = np.zeros((h, w), bool)
    mask[y + box[1] : y + box[3], x + box[0] : x + box[2]] = True
    return _arr(image), mask


def _emoji(pixels: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An AugLy twemoji sticker covering about 4% of the image."""
    emojis = sorted((_package_dir("augly") / "assets" / "twemojis").rglob("*.png"))
    sticker = Image.open(emojis[int(rng.integers(len(emojis)))]).convert("RGBA")
    h, w = pixels.shape[:2]
    side = round(min(h, w) * 0.2)
    sticker = sticker.resize((side, side), Image.Resampling.BICUBIC)
    alpha = np.asarray(sticker)[..., 3].astype(np.float32) / 255
    y, x = _place(pixels.shape, (side, side), rng)
    patch = np.asarray(sticker.convert("RGB")).astype(np.float32)
    return _blend(pixels, patch, alpha, y, x), _full_mask(pixels.shape, alpha, y, x)


EDITS: dict[str, Edit] = {
    "paste_patch": _paste_patch,
    "splice_face": _splice,
    "small_edit": _small_edit,
    "caption": _caption,
    "emoji": _emoji,
}
# Benign changes applied after an edit (a re-post), with the mask following the geometry.
EDIT_POSTS: dict[str, Transform] = {
    "jpeg": lambda p, r: p,
    "resize_crop": lambda p, r: _resize(_crop(p, 0.9, 0.4, 0.6), 0.8, 0.8),
}


def benign_queries(photos: list[Photo], kind: str, seed: int) -> list[Query]:
    queries = []
    for i, photo in enumerate(photos):
        for j, (name, transform) in enumerate(BENIGN.items()):
            rng = np.random.default_rng([seed, i, j])
            pixels = transform(photo.pixels, rng)
            data = encode(pixels, _QUALITY.get(name, 85))
            queries.append(Query(f"{photo.name}/{name}", photo.name, name, kind, data))
    return queries


def edit_queries(photos: list[Photo], donors: list[Photo], seed: int) -> list[Query]:
    """Every edit on every photo, each followed by every re-post change; donors are never registered."""
    queries = []
    for i, photo in enumerate(photos):
        for j, (name, edit) in enumerate(EDITS.items()):
            rng = np.random.default_rng([seed, i, j, 7])
            donor = donors[int(rng.integers(len(donors)))].pixels
            edited, mask = edit(photo.pixels, donor, rng)
            for k, (post_name, post) in enumerate(EDIT_POSTS.items()):
                post_rng = np.random.default_rng([seed, i, j, k])
                data = encode(post(edited, post_rng), 80)
                queries.append(
                    Query(f"{photo.name}/{name}+{post_name}", photo.name, name, "edit", data, mask, name == "caption")
                )
    return queries
