"""Derivatives through the whole registry: crops, rotations, framing and mirrors are copies; pasted patches and
captions are alterations, found where they were made. Generated edits of known position on the committed photos."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import article_page, encode, photo, photo_bytes
from PIL import Image, ImageDraw, ImageFont, ImageOps

from registry import matching, views
from registry.runtime import Registry


@pytest.fixture
def catalogue(registry: Registry, register) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {name: register(photo_bytes(name)) for name in ("astronaut", "coffee", "chelsea")}


def _check(registry: Registry, content: bytes, mode: matching.CheckMode = "full") -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, mode=mode)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def _union(regions: list[views.RegionView]) -> tuple[int, int, int, int]:
    x0, y0 = min(r.x for r in regions), min(r.y for r in regions)
    x1, y1 = max(r.x + r.w for r in regions), max(r.y + r.h for r in regions)
    return x0, y0, x1 - x0, y1 - y0


def test_crop_and_rotation_beyond_pdq_is_a_copy_with_its_transform(
    registry: Registry, catalogue: dict[str, str]
) -> None:
    original = photo("coffee")
    w = original.width
    rotated = original.rotate(8, resample=Image.Resampling.BICUBIC, expand=True)
    rw, rh = rotated.size
    # straightened and cropped, as photo editors do: no fill left in the corners
    query_image = rotated.crop((int(rw * 0.25), int(rh * 0.15), int(rw * 0.9), int(rh * 0.85)))
    result = _check(registry, encode(query_image, "JPEG", quality=80))
    assert result.verdict == "copy"
    match = result.matches[0]
    assert match.registration_id == catalogue["coffee"]
    assert match.distance > 31 and match.inliers >= 18  # PDQ alone would have missed it
    assert match.transform is not None and match.transform.cropped
    assert abs(abs(match.transform.rotation) - 8) < 1.5
    crop = match.transform.crop  # the part of the original the query shows
    assert 0.1 * w < crop.x < 0.35 * w and 0.3 * w < crop.w < 0.8 * w
    assert match.regions == [] and match.altered_fraction < 0.01


@pytest.mark.slow
def test_framed_and_mirrored_copies(registry: Registry, catalogue: dict[str, str]) -> None:
    original = photo("chelsea")
    canvas = Image.new("RGB", (original.width + 160, original.height + 220), (242, 242, 246))
    ImageDraw.Draw(canvas).rectangle((0, 0, canvas.width, 70), fill=(40, 90, 160))
    canvas.paste(original, (80, 110))
    framed = _check(registry, encode(canvas, "PNG")).matches[0]
    assert framed.registration_id == catalogue["chelsea"] and framed.verdict == "copy"
    assert framed.transform is not None and framed.transform.framed
    content = framed.transform.content
    assert abs(content.x - 80) <= 6 and abs(content.y - 110) <= 6

    w, h = original.size
    mirrored = ImageOps.mirror(original).crop((0, 0, int(w * 0.8), h))
    match = _check(registry, encode(mirrored, "JPEG", quality=85)).matches[0]
    assert match.registration_id == catalogue["chelsea"] and match.verdict == "copy"
    assert match.transform is not None and match.transform.flipped and match.variant == "flip_horizontal"


def test_a_photo_small_inside_an_article_page_is_found(registry: Registry, catalogue: dict[str, str]) -> None:
    # coffee at 30% of the page's width among text, a sidebar and an unregistered photo (the rocket)
    page, (x, y) = article_page(photo("coffee"))
    result = _check(registry, encode(page, "JPEG", quality=85))
    assert result.verdict in ("copy", "altered")
    assert [match.registration_id for match in result.matches] == [catalogue["coffee"]]
    match = result.matches[0]
    assert match.transform is not None and match.transform.framed
    content = match.transform.content  # where the photo is on the page, in the page's pixels
    assert abs(content.x - x) <= 16 and abs(content.y - y) <= 16 and abs(content.w - 480) <= 24


def test_quarter_turn_found_by_keypoints_is_named_like_pdq_names_it(
    registry: Registry, catalogue: dict[str, str]
) -> None:
    original = photo("astronaut")
    w, h = original.size
    query_image = original.crop((0, 0, int(w * 0.7), int(h * 0.75))).transpose(Image.Transpose.ROTATE_90)
    match = _check(registry, encode(query_image, "PNG")).matches[0]
    assert match.registration_id == catalogue["astronaut"]
    assert match.variant == "rotate_90_ccw"


def test_pasted_patch_is_altered_and_located(registry: Registry, catalogue: dict[str, str]) -> None:
    original = photo("astronaut")
    doctored = original.copy()
    patch = photo("coffee").resize((120, 100))
    doctored.paste(patch, (300, 60))
    result = _check(registry, encode(doctored, "JPEG", quality=90))
    assert result.verdict == "altered"
    match = result.matches[0]
    assert match.registration_id == catalogue["astronaut"] and match.verdict == "altered"
    assert _iou(_union(match.regions), (300, 60, 120, 100)) > 0.6
    region = match.regions[0]
    # the original's frame: the query is the original's full frame here, so both frames agree
    assert (
        _iou(
            (region.original.x, region.original.y, region.original.w, region.original.h),
            (region.x, region.y, region.w, region.h),
        )
        > 0.9
    )
    assert 0.02 < match.altered_fraction < 0.15


def test_caption_is_altered_and_located_even_after_resizing(registry: Registry, catalogue: dict[str, str]) -> None:
    doctored = photo("coffee")
    draw = ImageDraw.Draw(doctored)
    font = ImageFont.load_default(size=34)
    draw.text((40, 250), "I CONFESS EVERYTHING", font=font, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    left, top, right, bottom = draw.textbbox((40, 250), "I CONFESS EVERYTHING", font=font, stroke_width=2)
    scale = 0.75
    query_image = doctored.resize((round(doctored.width * scale), round(doctored.height * scale)))
    result = _check(registry, encode(query_image, "JPEG", quality=85))
    match = result.matches[0]
    assert match.registration_id == catalogue["coffee"] and match.verdict == "altered"
    caption = (round(left * scale), round(top * scale), round((right - left) * scale), round((bottom - top) * scale))
    assert _iou(_union(match.regions), caption) > 0.5
    in_original = _union(
        [
            views.RegionView(**region.original.model_dump(), original=region.original, share=0)
            for region in match.regions
        ]
    )
    assert _iou(in_original, (left, top, right - left, bottom - top)) > 0.5


def test_unrelated_photo_and_fast_mode(registry: Registry, catalogue: dict[str, str]) -> None:
    assert _check(registry, photo_bytes("rocket")).verdict == "unregistered"
    recompressed = encode(photo("coffee"), "JPEG", quality=30)
    fast = _check(registry, recompressed, mode="fast")
    assert fast.verdict == "copy" and fast.matches[0].transform is None
    w, h = photo("coffee").size
    cropped = encode(photo("coffee").crop((int(w * 0.25), 0, w, h)), "JPEG", quality=85)
    assert _check(registry, cropped, mode="fast").verdict == "unregistered"  # global hashes miss a 25% crop
    assert _check(registry, cropped).verdict == "copy"  # the local stage does not


@pytest.mark.slow
def test_comparison_pictures(registry: Registry, catalogue: dict[str, str]) -> None:
    doctored = photo("chelsea")
    doctored.paste((255, 0, 0), (100, 100, 180, 160))
    with registry.session() as session:
        outcome = matching.run_check(
            session=session, registry=registry, content=encode(doctored, "PNG"), pictures="draw"
        )
        assert list(outcome.pictures) == [catalogue["chelsea"]]
        picture = Image.open(io.BytesIO(outcome.pictures[catalogue["chelsea"]]))
        assert picture.format == "PNG" and picture.width > 2 * doctored.width // 2
        assert np.asarray(picture.convert("RGB")).std() > 10
        identical = matching.run_check(
            session=session, registry=registry, content=photo_bytes("coffee"), pictures="draw"
        )
        assert catalogue["coffee"] in identical.pictures  # byte-identical copies are drawn too when asked for
    assert outcome.view.verdict == "altered"


@pytest.mark.slow
def test_a_different_photograph_of_the_same_scene_is_related_not_a_derivative(
    registry: Registry,
    register,
    catalogue: dict[str, str],  # type: ignore[no-untyped-def]
) -> None:
    # the Middlebury stereo pair that ships with scikit-image: one scene, two cameras a few centimetres apart
    import skimage.data

    directory = Path(skimage.data.__file__).parent
    left = register((directory / "motorcycle_left.png").read_bytes())
    result = _check(registry, (directory / "motorcycle_right.png").read_bytes())
    assert result.verdict == "unregistered"  # not made from the registered photo ...
    related = [match for match in result.matches if match.registration_id == left]
    assert related and related[0].verdict == "related"  # ... but shown, so a reviewer can look
    assert related[0].regions  # where parallax moved things
    assert related[0].transform is None  # nothing was done to the original: no crop or scale to claim
