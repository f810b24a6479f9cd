"""Open untrusted media safely and bring images to one canonical form.

The type comes from magic bytes, never from a file name or a client's header; pixel count, decoded size, bits per
sample and (for JPEG) the number of scans are checked from the header before any decoding, so a decompression or
scan bomb costs nothing. Everything that reads past the header, EXIF included, runs under one guard that turns any
failure into a `MediaError`.
"""

from __future__ import annotations

import io
import math
import re
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image
from pillow_heif import register_heif_opener

from fingerprint.geometry import Rect

register_heif_opener()

# Every image is decoded at most this large, once per request: hashes are computed on a smaller copy of it
# (`fingerprint.kinds.image.hash_pixels`), ORB features, alignment and localisation on it. A 0.6% mouth edit is
# still about 80x80 pixels there, and decoding and warping stay cheap.
WORKING_SIDE = 1024

# Default per-file limits; the registry passes its own settings. 200 MB is an 8-bit RGBA image at 50 megapixels.
MAX_DECODED_BYTES = 200_000_000
MAX_BITS_PER_SAMPLE = 16
# Real progressive encoders write about 10 scans; each one is a full pass over the image, so 20,000 take minutes.
MAX_JPEG_SCANS = 100

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

# EXIF orientation -> the transpose that shows the image upright (as in `ImageOps.exif_transpose`).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes with more than 8 bits per sample, reduced to 8-bit "L" right after decoding.
_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I", "F")
# Rows of a wide image converted at a time, so the conversion's float temporaries stay small.
_STRIP_PIXELS = 1 << 20
# In JPEG entropy-coded data 0xFF is followed by 0x00 (stuffing), a restart marker or a fill byte; anything else is
# the next marker.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


class MediaError(Exception):
    """Base class for media that cannot be fingerprinted; the message is safe to show to the sender.

    `limit` names the `load_image` argument that refused the file, so a caller can name its own setting for it.
    """

    def __init__(self, message: str, *, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class UnsupportedMediaError(MediaError):
    """The bytes are not a media type we decode."""


class MediaTooLargeError(MediaError):
    """The media declares more pixels, decoded bytes or scans than the configured caps."""


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


def load_image(
    data: bytes,
    *,
    max_pixels: int,
    max_side: int | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
    max_bits_per_sample: int = MAX_BITS_PER_SAMPLE,
    max_jpeg_scans: int = MAX_JPEG_SCANS,
) -> CanonicalImage:
    """Decode `data` into a canonical image, at most `max_side` pixels on its longer side when given.

    Raises a MediaError subclass with a message for the sender on anything it cannot decode or any limit it exceeds.
    """
    media_type = sniff_media_type(data)
    if media_type is None:
        raise UnsupportedMediaError("unsupported media type: expected JPEG, PNG, WebP, AVIF or HEIC image data")
    image = _open(data, media_type, max_pixels)
    bits = _bits_per_sample(image, media_type, data)
    if bits > max_bits_per_sample:
        raise UnsupportedMediaError(
            f"image has {bits} bits per sample; the limit is {max_bits_per_sample}", limit="max_bits_per_sample"
        )
    _check_decoded_bytes(image, bits, max_decoded_bytes)
    if media_type == "image/jpeg" and count_jpeg_scans(data, stop_after=max_jpeg_scans) > max_jpeg_scans:
        raise MediaTooLargeError(
            f"JPEG has more than {max_jpeg_scans} scans (each one is a full decoding pass); the limit is "
            f"{max_jpeg_scans}",
            limit="max_jpeg_scans",
        )
    width, height = image.size
    if max_side is not None and media_type == "image/jpeg":
        # DCT scaling decodes at 1/2, 1/4 or 1/8 size for a fraction of the cost. Asking for half of max_side on the
        # shorter side lands most photos between max_side / 2 and max_side (a 1080p frame at 960x540) with no
        # resampling at all; reduce() handles the rest below.
        image.draft("RGB", (max_side // 2, max_side // 2))
    image, orientation = _decode(image)
    full_w, full_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    if orientation in _ORIENTATION_TRANSPOSE:
        image = image.transpose(_ORIENTATION_TRANSPOSE[orientation])
    image = _to_rgb(image)
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


def count_jpeg_scans(data: bytes, *, stop_after: int | None = None) -> int:
    """The number of scans (SOS markers) in a JPEG byte stream, counted without decoding.

    Walks the marker segments by their lengths, so bytes inside metadata (an EXIF thumbnail) are not counted, and
    skips each scan's entropy-coded data. Stops counting once past `stop_after`. A damaged stream ends the walk: the
    decoder reports the damage.
    """
    pos, scans = 2, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            scans += 1
            if stop_after is not None and scans > stop_after:
                break
            found = _JPEG_NEXT_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
    return scans


def _open(data: bytes, media_type: str, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[media_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLargeError(f"image has too many pixels to decode safely ({exc})", limit="max_pixels") from None
    except (OSError, SyntaxError, ValueError, struct.error):
        raise CorruptMediaError(f"the data starts like {media_type} but its header is damaged") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptMediaError("image has no pixels")
    if width * height > max_pixels:
        raise MediaTooLargeError(
            f"image is {width}x{height} = {width * height:,} pixels; the limit is {max_pixels:,}", limit="max_pixels"
        )
    return image


def _bits_per_sample(image: Image.Image, media_type: str, data: bytes) -> int:
    """Bits per sample as the file declares them: what the decoder holds, whatever it hands on."""
    if media_type == "image/png":
        # IHDR's bit depth; a file that does not start with IHDR is counted at the widest depth PNG has
        return data[24] if data[12:16] == b"IHDR" else 16
    if media_type == "image/heic":
        return int(image.info.get("bit_depth", 8))
    return int(getattr(image, "bits", 8))  # JPEG declares its precision; the WebP and AVIF decoders give 8 bits


def _check_decoded_bytes(image: Image.Image, bits: int, max_decoded_bytes: int) -> None:
    width, height = image.size
    channels = len(image.getbands())
    decoded = width * height * channels * math.ceil(bits / 8)
    if decoded > max_decoded_bytes:
        raise MediaTooLargeError(
            f"image would decode to {decoded:,} bytes ({width}x{height}, {channels} channel(s) of {bits} bits); "
            f"the limit is {max_decoded_bytes:,}",
            limit="max_decoded_bytes",
        )


def _decode(image: Image.Image) -> tuple[Image.Image, int]:
    """The decoded image with at most 8 bits per sample, and its EXIF orientation (1 when absent or unreadable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except Image.DecompressionBombWarning as exc:
        raise MediaTooLargeError(f"image has too many pixels to decode safely ({exc})", limit="max_pixels") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise CorruptMediaError(f"image data is truncated or corrupt: {exc}") from None
    # After load(), so that reading EXIF decodes nothing more (Pillow loads a PNG to find a trailing eXIf chunk).
    orientation = _orientation(image)
    return _to_8bit(image), orientation


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when the tag is missing, of the wrong type or out of range, or EXIF is damaged.

    EXIF is metadata: a damaged block must not cost the picture. Reading the tag ourselves, instead of
    `ImageOps.exif_transpose`, also avoids re-serialising the rest of the block, which fails on tags of odd types.
    """
    try:
        value = image.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and wider greyscale rescaled to 8 bits (not clipped at 255), strip by strip.

    Converting the whole image through float64 at once cost 8 bytes a pixel (about 1 GB for a 7000x7000 PNG that
    is 93 KB on disk); strips keep the temporaries at a few megabytes.
    """
    if image.mode not in _WIDE_MODES:
        return image
    width, height = image.size
    peak = float(image.getextrema()[1])  # type: ignore[arg-type]  # one band: (min, max), not a pair per band
    scale = 255.0 / peak if peak > 255 else 1.0
    rows = max(1, _STRIP_PIXELS // width)
    out = np.empty((height, width), dtype=np.uint8)
    for top in range(0, height, rows):
        strip = np.asarray(image.crop((0, top, width, min(height, top + rows))), dtype=np.float64)
        out[top : top + rows] = np.clip(strip * scale, 0, 255).astype(np.uint8)
    return Image.fromarray(out)


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparency flattened onto white the way platforms flatten re-uploads."""
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
