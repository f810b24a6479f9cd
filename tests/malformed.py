"""A deterministic corpus of malformed and odd media, generated from the committed photos (nothing else is stored).

Each case is a file an attacker (or a broken uploader) could send: truncations of real JPEG, PNG and WebP files at
many offsets, bit flips, one format's magic on another's body, headers that declare huge canvases, progressive-JPEG
scan bombs, images one or two pixels thick, 16-bit images, and EXIF blocks of the wrong type or cut short. The
upload endpoints must answer each with a result or a documented JSON 4xx, never a 5xx or a hang.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import httpx2 as httpx
import numpy as np
from conftest import encode, photo, png_claiming
from PIL import Image

# Small bases keep the full analysis of ~120 files quick; the structures (markers, chunks, scans) are the real ones.
BASE_SIZE = (160, 120)
TRUNCATE_AT = (0, 1, 2, 3, 4, 8, 12, 16, 20, 30, 64)  # bytes: inside the magic and the first headers
TRUNCATE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)  # of the file: inside the entropy-coded / compressed data
FLIPS_PER_FORMAT = 6
ORIENTATION = 0x0112
DOCUMENTED_4XX = {400, 404, 409, 413, 415, 422}


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes


def contract_problem(case: Case, response: httpx.Response) -> str | None:
    """Why this answer to an upload of `case` breaks the contract (a result or a documented JSON 4xx), or None."""
    status = response.status_code
    if status < 400:
        return None
    if status not in DOCUMENTED_4XX:
        return f"{case.name}: status {status}: {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"{case.name}: {status} is not JSON: {response.text[:200]}"
    error = response.json().get("error")
    if not (isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)):
        return f"{case.name}: {status} body is not the documented error shape: {response.text[:200]}"
    return None


def _base_image() -> Image.Image:
    return photo("chelsea").resize(BASE_SIZE)


@cache
def bases() -> dict[str, bytes]:
    """The well-formed files the malformed ones are cut from."""
    image = _base_image()
    return {
        "jpeg": encode(image, "JPEG", quality=85),
        "progressive": encode(image, "JPEG", quality=85, progressive=True),
        "png": encode(image, "PNG"),
        "webp": encode(image, "WEBP", quality=80),
    }


def _truncations() -> Iterator[Case]:
    for fmt, data in bases().items():
        offsets = sorted({*TRUNCATE_AT, *(int(len(data) * f) for f in TRUNCATE_FRACTIONS), len(data) - 1})
        for offset in offsets:
            yield Case(f"truncated-{fmt}-at-{offset}", data[:offset])


def _bit_flips() -> Iterator[Case]:
    rng = np.random.default_rng(8)
    for fmt, data in bases().items():
        for n in range(FLIPS_PER_FORMAT):
            flipped = bytearray(data)
            # Early flips hit the headers (dimensions, tables, chunk lengths); later ones the compressed data.
            span = 64 if n % 2 == 0 else len(data)
            for position in rng.integers(0, min(span, len(data)), size=1 + n):
                flipped[position] ^= 1 << int(rng.integers(0, 8))
            yield Case(f"bitflip-{fmt}-{n}", bytes(flipped))


def _wrong_headers() -> Iterator[Case]:
    jpeg, png, webp = bases()["jpeg"], bases()["png"], bases()["webp"]
    riff = b"RIFF" + struct.pack("<I", len(png) + 4) + b"WEBP"
    yield from (
        Case("empty", b""),
        Case("text", b"this is not an image\n" * 20),
        Case("random", np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()),
        Case("png-magic-jpeg-body", b"\x89PNG\r\n\x1a\n" + jpeg[2:]),
        Case("jpeg-magic-png-body", b"\xff\xd8\xff\xe0" + png[8:]),
        Case("riff-webp-png-body", riff + png),
        Case("webp-magic-jpeg-body", webp[:16] + jpeg),
        Case("gif-magic-png-body", b"GIF89a" + png[6:]),
        Case("jpeg-soi-only", b"\xff\xd8"),
        Case("png-signature-only", b"\x89PNG\r\n\x1a\n"),
    )


def _patch_jpeg_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The first start-of-frame (SOF0/SOF2) with new dimensions: the header lies about the canvas."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at >= 0:
            return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]
    raise ValueError("no start-of-frame marker")


def _webp_claiming(width: int, height: int, body: bytes) -> bytes:
    """An extended (VP8X) WebP header declaring a width x height canvas, followed by `body`'s chunks."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    chunks = vp8x + body[12:]
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + chunks


def _huge_declared_sizes() -> Iterator[Case]:
    jpeg, progressive, webp = bases()["jpeg"], bases()["progressive"], bases()["webp"]
    yield from (
        Case("png-claims-100000x100000", png_claiming(100_000, 100_000)),
        Case("png-claims-2147483647x1", png_claiming(2**31 - 1, 1)),
        Case("png-claims-0x0", png_claiming(0, 0)),
        Case("jpeg-claims-65535x65535", _patch_jpeg_dimensions(jpeg, 65535, 65535)),
        Case("progressive-claims-65535x65535", _patch_jpeg_dimensions(progressive, 65535, 65535)),
        Case("jpeg-claims-0x0", _patch_jpeg_dimensions(jpeg, 0, 0)),
        Case("webp-claims-16777216x16777216", _webp_claiming(2**24, 2**24, webp)),
        Case("webp-claims-1x1-with-a-bigger-frame", _webp_claiming(1, 1, webp)),
    )


def _repeat_last_scan(data: bytes, times: int) -> bytes:
    """A progressive JPEG whose last scan is repeated: each repeat costs a full decoding pass."""
    start, end = data.rfind(b"\xff\xda"), data.rfind(b"\xff\xd9")
    return data[:end] + data[start:end] * times + data[end:]


def _scan_bombs() -> Iterator[Case]:
    progressive = bases()["progressive"]
    yield from (
        Case("scan-bomb-2000", _repeat_last_scan(progressive, 2000)),
        Case("scan-bomb-200", _repeat_last_scan(progressive, 200)),
        # Under the default scan limit: decoded, but still a valid (if odd) image.
        Case("scan-repeat-50", _repeat_last_scan(progressive, 50)),
        Case("scan-bomb-empty-scans", progressive[:-2] + b"\xff\xda\x00\x02" * 5000 + b"\xff\xd9"),
    )


def _thin_and_deep() -> Iterator[Case]:
    rng = np.random.default_rng(2)
    for width, height in ((1, 1), (1, 600), (600, 1), (2, 1000), (1000, 2)):
        pixels = (rng.random((height, width, 3)) * 255).astype(np.uint8)
        yield Case(f"thin-{width}x{height}-png", encode(Image.fromarray(pixels), "PNG"))
    yield Case("thin-1x400-jpeg", encode(Image.fromarray(np.full((400, 1, 3), 90, np.uint8)), "JPEG"))
    ramp = np.linspace(0, 65535, 96 * 128).reshape(96, 128).astype(np.uint16)
    yield Case("16bit-grey-png", encode(Image.fromarray(ramp), "PNG"))
    yield Case("16bit-grey-flat-png", encode(Image.fromarray(np.full((64, 64), 40_000, np.uint16)), "PNG"))
    yield Case("16bit-grey-thin-png", encode(Image.fromarray(np.full((1, 500), 1234, np.uint16)), "PNG"))
    rgb16 = np.stack([ramp, ramp[::-1], np.full_like(ramp, 30_000)], axis=-1)
    yield Case("16bit-rgb-png", _raw_png(rgb16, color_type=2))


def _tiff_orientation(type_: int, count: int, payload: bytes) -> bytes:
    """A little-endian TIFF block (EXIF's body) with one orientation entry of any type, written by hand.

    Pillow refuses to write an orientation that is not a SHORT, which is exactly what these cases need.
    """
    value = payload if len(payload) <= 4 else struct.pack("<I", 26)  # 26: just past the IFD
    entry = struct.pack("<HHI", ORIENTATION, type_, count) + value.ljust(4, b"\0")
    ifd = struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + (payload if len(payload) > 4 else b"")


def _jpeg_with_app1(app1: bytes) -> bytes:
    """The base JPEG with a raw APP1 segment right after SOI (its length field as declared by `app1`'s size)."""
    jpeg = bases()["jpeg"]
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def _bad_exif() -> Iterator[Case]:
    image = _base_image()
    for label, tiff in (
        ("ascii", _tiff_orientation(2, 12, b"upside down\0")),
        ("rational", _tiff_orientation(5, 1, struct.pack("<II", 7, 2))),
        ("two-shorts", _tiff_orientation(3, 2, struct.pack("<HH", 6, 6))),
        ("no-shorts", _tiff_orientation(3, 0, b"")),
        ("float", _tiff_orientation(11, 1, struct.pack("<f", 6.5))),
        ("undefined-type", _tiff_orientation(99, 1, b"\x06\0")),
        ("nine", _tiff_orientation(3, 1, struct.pack("<H", 9))),
        ("zero", _tiff_orientation(3, 1, struct.pack("<H", 0))),
        ("huge", _tiff_orientation(3, 1, struct.pack("<H", 65535))),
    ):
        exif = b"Exif\x00\x00" + tiff
        yield Case(f"exif-orientation-{label}-jpeg", encode(image, "JPEG", exif=exif))
        yield Case(f"exif-orientation-{label}-png", encode(image, "PNG", exif=exif))
    good = _tiff_orientation(3, 1, struct.pack("<H", 6))
    text = _tiff_orientation(2, 12, b"upside down\0")
    yield Case("exif-truncated-jpeg", _jpeg_with_app1(b"Exif\x00\x00" + good[: len(good) // 2]))
    yield Case("exif-header-only-jpeg", _jpeg_with_app1(b"Exif\x00\x00"))
    yield Case("exif-bad-byte-order-jpeg", _jpeg_with_app1(b"Exif\x00\x00XX" + good[2:]))
    # An IFD that claims 65535 entries, and an entry whose value lies far past the end of the block.
    yield Case("exif-ifd-count-huge-jpeg", _jpeg_with_app1(b"Exif\x00\x00" + good[:8] + b"\xff\xff" + good[10:]))
    far = text[:18] + struct.pack("<I", 0x7FFFFFF0) + text[22:]
    yield Case("exif-offset-far-jpeg", _jpeg_with_app1(b"Exif\x00\x00" + far))
    yield Case("exif-truncated-png", _png_with_chunk(b"eXIf", good[: len(good) // 2]))
    # The APP1 length field says more than the file holds.
    yield Case("app1-length-past-end", bases()["jpeg"][:2] + b"\xff\xe1\xff\xf0Exif\x00\x00" + good)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _raw_png(pixels: np.ndarray, *, color_type: int) -> bytes:
    """A 16-bit PNG written by hand (Pillow writes 16 bits only for greyscale)."""
    height, width = pixels.shape[:2]
    rows = pixels.astype(">u2").reshape(height, -1).tobytes()
    stride = len(rows) // height
    raw = b"".join(b"\0" + rows[y * stride : (y + 1) * stride] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _png_with_chunk(kind: bytes, payload: bytes) -> bytes:
    """The base PNG with one extra chunk (correct CRC) right after IHDR."""
    png = bases()["png"]
    return png[:33] + _chunk(kind, payload) + png[33:]


def corpus() -> list[Case]:
    """Every distinct case, in a fixed order (a truncation that equals an earlier case is dropped)."""
    generated = [
        *_truncations(),
        *_bit_flips(),
        *_wrong_headers(),
        *_huge_declared_sizes(),
        *_scan_bombs(),
        *_thin_and_deep(),
        *_bad_exif(),
    ]
    seen: set[bytes] = set()
    cases = [case for case in generated if not (case.content in seen or seen.add(case.content))]
    assert len({case.name for case in cases}) == len(cases)
    return cases
