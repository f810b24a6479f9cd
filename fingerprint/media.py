"""Open untrusted media safely and bring images to one canonical form.

The type comes from magic bytes, never from a file name or a client's header; pixel counts are checked from the
header before any decoding, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from pillow_heif import register_heif_opener

from fingerprint.geometry import Rect

register_heif_opener()

# Every image is decoded at most this large, once per request: hashes are computed on a smaller copy of it
# (`fingerprint.kinds.image.hash_pixels`), ORB features, alignment and localisation on it. A 0.6% mouth edit is
# still about 80x80 pixels there, and decoding and warping stay cheap.
WORKING_SIDE = 1024

# media type -> the Pillow format allowed to decode it
IMAGE_FORMATS: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/avif": "AVIF",
    "image/heic": "HEIF",
}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}

# A border row or column counts as uniform when no channel varies across it by more than this (JPEG noise).
_TRIM_TOLERANCE = 24
# Never trim an axis below this share of its length: such a "border" is content, not framing.
_TRIM_MIN_KEEP = 0.3
# Ignore uniform edges thinner than this share of the side: a few dark edge pixels are part of the photo, and
# trimming them or not (JPEG noise decides) would move PDQ by tens of bits. Real padding is wider.
_TRIM_MIN_BORDER = 0.02


class MediaError(Exception):
    """Base class for media that cannot be fingerprinted; the message is safe to show to the sender."""


class UnsupportedMediaError(MediaError):
    """The bytes are not a media type we decode."""


class MediaTooLargeError(MediaError):
    """The media declares more pixels than the configured cap."""


class CorruptMediaError(MediaError):
    """The header looked right but the data does not decode (truncated, damaged)."""


@dataclass(frozen=True, slots=True)
class CanonicalImage:
    """An oriented, RGB, border-trimmed image, possibly decoded at reduced resolution.

    `width`/`height` are the full oriented size of the medium; `trim_box` is in those full-size pixels, so it
    means the same whatever resolution `pixels` was decoded at.
    """

    media_type: str
    width: int
    height: int
    trim_box: Rect
    pixels: np.ndarray  # (h, w, 3) uint8, the trimmed content at reduced or full resolution


def sniff_media_type(data: bytes) -> str | None:
    """The media type told by the leading bytes, or None when it is not one we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if len(data) >= 16 and data[4:8] == b"ftyp":
        box_size = int.from_bytes(data[:4], "big")
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(box_size, len(data), 64) - 3, 4)}
        if brands & _AVIF_BRANDS:
            return "image/avif"
        if brands & _HEIF_BRANDS:
            return "image/heic"
    return None


def load_image(data: bytes, *, max_pixels: int, max_side: int | None = None) -> CanonicalImage:
    """Decode `data` into a canonical image, at most `max_side` pixels on its longer side when given.

    Raises a MediaError subclass with a message for the sender on anything it cannot decode.
    """
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedMediaError("unsupported media type: expected JPEG, PNG, WebP, AVIF or HEIC image data")
    image = _open(data, media_type, max_pixels)
    full_w, full_h = _oriented_size(image)
    if max_side is not None and media_type == "image/jpeg":
        # DCT scaling decodes at 1/2, 1/4 or 1/8 size for a fraction of the cost. Asking for half of max_side on the
        # shorter side lands most photos between max_side / 2 and max_side (a 1080p frame at 960x540) with no
        # resampling at all; reduce() handles the rest below.
        image.draft("RGB", (max_side // 2, max_side // 2))
    image = _decode(image)
    image = _to_rgb(ImageOps.exif_transpose(image))
    if max_side is not None and max(image.size) > max_side:
        # An integer box reduction: several times cheaper than resampling to exactly max_side, and the
        # hashes downsample further anyway. The result is between max_side / 2 and max_side.
        image = image.reduce(math.ceil(max(image.size) / max_side))
    pixels = np.asarray(image)
    box = trim_borders(pixels)
    fx, fy = full_w / pixels.shape[1], full_h / pixels.shape[0]
    return CanonicalImage(
        media_type=media_type,
        width=full_w,
        height=full_h,
        trim_box=box.scaled(fx, fy),
        pixels=np.ascontiguousarray(pixels[box.y : box.y + box.h, box.x : box.x + box.w]),
    )


def _open(data: bytes, media_type: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[media_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLargeError(f"image has too many pixels to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError):
        raise CorruptMediaError(f"the data starts like {media_type} but its header is damaged") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptMediaError("image has no pixels")
    if width * height > max_pixels:
        raise MediaTooLargeError(f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}")
    return image


def _decode(image: Image.Image) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Image.DecompressionBombWarning as exc:
        raise MediaTooLargeError(f"image has too many pixels to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptMediaError(f"image data is truncated or corrupt: {exc}") from None
    return image


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    """Full-resolution size after EXIF orientation, read before any DCT-scaled draft shrinks the image."""
    width, height = image.size
    orientation = image.getexif().get(0x0112, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency flattened onto white the way platforms flatten re-uploads."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale: rescale to 8 bits instead of letting convert() clip at 255.
        values = np.asarray(image, dtype=np.float64)
        peak = values.max() if values.size else 0.0
        scaled = values * (255.0 / peak) if peak > 255 else values
        image = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def trim_borders(pixels: np.ndarray) -> Rect:
    """The box left after removing uniform rows and columns from each edge (letterboxing, padding, frames)."""
    height, width = pixels.shape[:2]
    columns = pixels.transpose(1, 0, 2)
    y0, y1 = _content_span(_edge_run(pixels), _edge_run(pixels[::-1]), height)
    x0, x1 = _content_span(_edge_run(columns), _edge_run(columns[::-1]), width)
    return Rect.from_corners(x0, y0, x1, y1)


def _edge_run(lines: np.ndarray) -> int:
    """How many leading lines (rows, or columns of a transposed view) lie within tolerance of the edge's colour.

    Reads lines in growing chunks from the edge, so a photo with no border costs one line per side.
    """
    colour = lines[0, 0].astype(np.int16)
    run, step = 0, 4
    while run < len(lines):
        chunk = lines[run : run + step].astype(np.int16)
        within = (np.abs(chunk - colour) <= _TRIM_TOLERANCE).all(axis=(1, 2))
        if not within.all():
            return run + int(np.argmin(within))
        run += len(chunk)
        step *= 2
    return run


def _content_span(start: int, end_run: int, length: int) -> tuple[int, int]:
    """Start and end of the content along one axis, ignoring borders too thin to be framing."""
    thinnest = max(1, round(length * _TRIM_MIN_BORDER))
    start = start if start >= thinnest else 0
    end = length - end_run if end_run >= thinnest else length
    if end - start < max(1, round(length * _TRIM_MIN_KEEP)):
        return 0, length
    return start, end
