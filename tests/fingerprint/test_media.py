from __future__ import annotations

import numpy as np
import pytest
from conftest import encode, photo, photo_bytes, png_claiming
from PIL import Image

from fingerprint.geometry import Rect
from fingerprint.media import (
    CorruptMediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
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
