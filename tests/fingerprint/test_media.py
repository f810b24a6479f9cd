from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import encode, photo, photo_bytes, png_claiming
from PIL import Image

from fingerprint.geometry import Rect
from fingerprint.media import (
    MAX_JPEG_SCANS,
    CorruptMediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
    count_jpeg_scans,
    load_image,
    sniff_media_type,
    trim_borders,
)

CAP = 50_000_000


@pytest.mark.parametrize(
    ("fmt", "params", "media_type"),
    [
        ("JPEG", {"quality": 90}, "image/jpeg"),
        ("PNG", {}, "image/png"),
        ("WEBP", {"quality": 90}, "image/webp"),
        ("AVIF", {"quality": 90}, "image/avif"),
        ("HEIF", {"quality": 90}, "image/heic"),
    ],
)
def test_every_supported_format_decodes(fmt: str, params: dict[str, int], media_type: str) -> None:
    data = encode(photo("coffee"), fmt, **params)
    assert sniff_media_type(data) == media_type
    image = load_image(data, max_pixels=CAP)
    assert image.media_type == media_type
    assert (image.width, image.height) == photo("coffee").size
    assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3


@pytest.mark.parametrize("data", [b"GIF89a" + b"\0" * 32, b"hello world", b"", b"%PDF-1.7\n"])
def test_unsupported_types_are_refused(data: bytes) -> None:
    assert sniff_media_type(data) is None
    with pytest.raises(UnsupportedMediaError, match="unsupported media type"):
        load_image(data, max_pixels=CAP)


def test_truncated_jpeg_is_corrupt() -> None:
    data = photo_bytes("rocket")
    with pytest.raises(CorruptMediaError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2], max_pixels=CAP)


def test_damaged_header_is_corrupt() -> None:
    with pytest.raises(CorruptMediaError, match="header is damaged"):
        load_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, max_pixels=CAP)


@pytest.mark.parametrize("size", [(20_000, 20_000), (200_000, 200_000)])
def test_pixel_bomb_is_refused_from_the_header(size: tuple[int, int]) -> None:
    with pytest.raises(MediaTooLargeError, match=r"limit|too many pixels"):
        load_image(png_claiming(*size), max_pixels=CAP)


def test_exif_orientation_is_applied() -> None:
    original = photo("rocket")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, display rotated 90 degrees clockwise
    data = encode(original.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    image = load_image(data, max_pixels=CAP)
    assert (image.width, image.height) == original.size
    diff = np.abs(image.pixels.astype(int) - np.asarray(original).astype(int)).mean()
    assert diff < 6


def test_transparency_is_flattened_on_white() -> None:
    rgba = Image.new("RGBA", (64, 48), (10, 20, 30, 0))
    rgba.paste((200, 0, 0, 255), (16, 16, 48, 32))
    image = load_image(encode(rgba, "PNG"), max_pixels=CAP)
    # the transparent surround is white, hence a uniform border, hence trimmed away
    assert image.trim_box == Rect(16, 16, 32, 16)
    assert (image.pixels == [200, 0, 0]).all()


def test_sixteen_bit_greyscale_is_rescaled_not_clipped() -> None:
    y, x = np.mgrid[0:64, 0:64]
    ramp = ((x + y) / 126 * 65535).astype(np.uint16)  # diagonal: no uniform border rows to trim
    image = load_image(encode(Image.fromarray(ramp), "PNG"), max_pixels=CAP)
    assert image.pixels.max() >= 250 and image.pixels.min() <= 5
    assert np.median(image.pixels) > 100


def test_padding_is_trimmed_and_reported_in_full_size_pixels() -> None:
    content = photo("chelsea")
    canvas = Image.new("RGB", (content.width + 100, content.height + 60), (0, 0, 0))
    canvas.paste(content, (40, 20))
    data = encode(canvas, "PNG")
    image = load_image(data, max_pixels=CAP)
    assert image.trim_box == Rect(40, 20, content.width, content.height)
    reduced = load_image(data, max_pixels=CAP, max_side=256)
    x0, y0, x1, _ = reduced.trim_box.corners()
    assert abs(x0 - 40) <= 2 and abs(y0 - 20) <= 2 and abs(x1 - (40 + content.width)) <= 2


def test_thin_uniform_edges_are_not_trimmed() -> None:
    """A few dark edge pixels belong to the photo: trimming them or not would move PDQ by tens of bits."""
    pixels = np.asarray(photo("coffee")).copy()
    pixels[:3] = 0
    assert trim_borders(pixels) == Rect(0, 0, pixels.shape[1], pixels.shape[0])
    pixels[:20] = 0
    assert trim_borders(pixels) == Rect(0, 20, pixels.shape[1], pixels.shape[0] - 20)


def test_trim_keeps_content_that_is_mostly_uniform() -> None:
    flat = np.full((100, 100, 3), 128, dtype=np.uint8)
    assert trim_borders(flat) == Rect(0, 0, 100, 100)  # nothing but border: keep it all
    flat[45:55, 45:55] = 0
    assert trim_borders(flat) == Rect(0, 0, 100, 100)  # what is left would be under 30% of each side


def test_jpeg_is_decoded_reduced_when_asked() -> None:
    big = photo("astronaut").resize((1920, 1920))
    image = load_image(encode(big, "JPEG", quality=90), max_pixels=CAP, max_side=512)
    assert 256 <= max(image.pixels.shape[:2]) <= 512
    assert (image.width, image.height) == (1920, 1920)


def _grey16(width: int, height: int) -> bytes:
    """A 16-bit greyscale PNG: a vertical ramp, which compresses to almost nothing at any size."""
    ramp = np.linspace(0, 65535, height).astype(np.uint16)
    return encode(Image.fromarray(np.ascontiguousarray(np.broadcast_to(ramp[:, None], (height, width)))), "PNG")


def _exif(*entries: tuple[int, int, bytes]) -> bytes:
    """A big-endian EXIF block with one IFD of (tag, TIFF type, 4-byte value) entries, count 1 each."""
    ifd = struct.pack(">H", len(entries)) + b"".join(struct.pack(">HHI", t, kind, 1) + v for t, kind, v in entries)
    return b"Exif\0\0MM\0*" + struct.pack(">I", 8) + ifd + struct.pack(">I", 0)


def _scan_bomb(scans: int) -> bytes:
    """A progressive JPEG whose last scan is repeated: every copy is another full decoding pass."""
    data = encode(photo("rocket"), "JPEG", quality=90, progressive=True)
    last = data.rindex(b"\xff\xda")
    extra = scans - count_jpeg_scans(data)
    return data[:-2] + data[last:-2] * extra + b"\xff\xd9"


@pytest.mark.parametrize("exif", [None, b"MM\0*\0\0\0\x08\0\0\0\0\0\0"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_png_is_corrupt(exif: bytes | None, keep: float) -> None:
    """Reading a PNG's EXIF decodes it (to find a trailing eXIf chunk), so it must run under the decode guard."""
    data = encode(photo("rocket"), "PNG", **({"exif": exif} if exif else {}))
    with pytest.raises(CorruptMediaError, match="truncated or corrupt"):
        load_image(data[: int(len(data) * keep)], max_pixels=CAP)


@pytest.mark.parametrize(
    "entries",
    [
        [(0x0112, 3, struct.pack(">HH", 6, 0)), (0x0128, 4, struct.pack(">I", 70_000))],  # SHORT tag stored as LONG
        [(0x0112, 8, struct.pack(">hh", 6, 0)), (0x0128, 9, struct.pack(">i", -5))],  # signed types
    ],
)
def test_exif_tags_of_the_wrong_type_still_orient(entries: list[tuple[int, int, bytes]]) -> None:
    """Pillow's exif_transpose re-serialises the whole block and raised struct.error on such tags."""
    original = photo("rocket")
    data = encode(original.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=_exif(*entries))
    image = load_image(data, max_pixels=CAP)
    assert (image.width, image.height) == original.size


@pytest.mark.parametrize(
    "orientation",
    [(0x0112, 2, b"6\0\0\0"), (0x0112, 3, struct.pack(">HH", 99, 0)), (0x0112, 12, struct.pack(">I", 8))],
)
def test_unusable_orientation_means_upright(orientation: tuple[int, int, bytes]) -> None:
    original = photo("rocket")
    image = load_image(encode(original, "JPEG", quality=95, exif=_exif(orientation)), max_pixels=CAP)
    assert (image.width, image.height) == original.size


def test_decoded_bytes_count_channels_and_sample_width() -> None:
    """A 16-bit sample costs two bytes: the cap is on bytes, not pixels."""
    wide = _grey16(100, 100)  # 20,000 bytes decoded
    narrow = encode(Image.new("L", (100, 100), 128), "PNG")  # 10,000 bytes
    assert load_image(narrow, max_pixels=CAP, max_decoded_bytes=15_000).width == 100
    with pytest.raises(MediaTooLargeError, match=r"20,000 bytes.*limit is 15,000") as caught:
        load_image(wide, max_pixels=CAP, max_decoded_bytes=15_000)
    assert caught.value.limit == "max_decoded_bytes"
    rgb = encode(photo("rocket"), "PNG")
    with pytest.raises(MediaTooLargeError, match="3 channel"):
        load_image(rgb, max_pixels=CAP, max_decoded_bytes=photo("rocket").width * photo("rocket").height * 2)


def test_bits_per_sample_over_the_limit_are_refused() -> None:
    with pytest.raises(UnsupportedMediaError, match="16 bits per sample; the limit is 8") as caught:
        load_image(_grey16(64, 64), max_pixels=CAP, max_bits_per_sample=8)
    assert caught.value.limit == "max_bits_per_sample"


def test_jpeg_scans_are_counted_without_decoding() -> None:
    assert count_jpeg_scans(photo_bytes("rocket")) == 1
    progressive = encode(photo("rocket"), "JPEG", quality=90, progressive=True)
    assert 2 <= count_jpeg_scans(progressive) <= 20
    # a thumbnail is a JPEG inside a metadata segment: its scan markers are not the image's
    thumbnail = encode(photo("rocket").resize((64, 48)), "JPEG", progressive=True)
    segment = b"\xff\xe1" + struct.pack(">H", len(thumbnail) + 2) + thumbnail
    with_thumbnail = progressive[:2] + segment + progressive[2:]
    assert with_thumbnail.count(b"\xff\xda") > count_jpeg_scans(progressive)
    assert count_jpeg_scans(with_thumbnail) == count_jpeg_scans(progressive)
    assert load_image(with_thumbnail, max_pixels=CAP).width == photo("rocket").width
    assert count_jpeg_scans(_scan_bomb(500)) == 500
    assert count_jpeg_scans(_scan_bomb(500), stop_after=10) == 11


def test_scan_bomb_is_refused_before_decoding() -> None:
    bomb = _scan_bomb(MAX_JPEG_SCANS + 1)
    with pytest.raises(MediaTooLargeError, match=f"more than {MAX_JPEG_SCANS} scans") as caught:
        load_image(bomb, max_pixels=CAP)
    assert caught.value.limit == "max_jpeg_scans"
    assert load_image(_scan_bomb(MAX_JPEG_SCANS), max_pixels=CAP).width == photo("rocket").width


_PEAK_RSS = """
import resource, sys
from fingerprint.media import WORKING_SIDE, load_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
load_image(data, max_pixels=50_000_000, max_side=WORKING_SIDE)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
def test_sixteen_bit_image_is_reduced_to_eight_bits_in_little_memory(tmp_path: Path) -> None:
    """A 7000x7000 16-bit PNG of ~100 KB used to cost about 1.2 GB (float64 copies of the whole image)."""
    path = tmp_path / "grey16.png"
    path.write_bytes(_grey16(7000, 7000))
    result = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(path)], capture_output=True, text=True, check=True)
    added_mib = int(result.stdout)
    # decoded 16-bit buffer 98 MB + 8-bit copy 49 MB, plus the RGB working copy
    assert added_mib < 400, f"decoding added {added_mib} MiB"
