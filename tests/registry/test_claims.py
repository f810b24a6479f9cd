"""What-was-done is true, through the whole registry: a plain re-save claims nothing but re-encoding, a composite is
never a copy, a whole photo on a page or screenshot stays a framed copy, and an altered match never scores as one.

Media: the committed photos; the pages, screenshots and composites are drawn here."""

from __future__ import annotations

import pytest
from conftest import encode, photo
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from api.web import words
from registry import matching, render, views
from registry.runtime import Registry


@pytest.fixture
def catalogue(registry: Registry, register) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {name: register(encode(photo(name), "JPEG", quality=92)) for name in ("astronaut", "coffee", "chelsea")}


def _check(registry: Registry, content: bytes) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content)


def _match(result: views.CheckView, registration_id: str) -> views.MatchView:
    return next(m for m in result.matches if m.registration_id == registration_id)


def _iou(rect: views.RectView, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    w = max(0, min(rect.x + rect.w, x1) - max(rect.x, x0))
    h = max(0, min(rect.y + rect.h, y1) - max(rect.y, y0))
    return w * h / (rect.w * rect.h + (x1 - x0) * (y1 - y0) - w * h)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_a_plain_resave_claims_only_re_encoding(registry: Registry, catalogue: dict[str, str], name: str) -> None:
    # on main, the PNG of astronaut's or chelsea's pixels came out "cropped" (and "framed"), as did coffee at q95
    pixels = photo(name)
    for fmt, params in (("PNG", {}), ("JPEG", {"quality": 40}), ("JPEG", {"quality": 60}), ("JPEG", {"quality": 95})):
        result = _check(registry, encode(pixels, fmt, **params))
        match = _match(result, catalogue[name])
        assert result.verdict == "copy" and match.verdict == "copy" and match.score == 1.0
        t = match.transform
        assert t is not None
        claimed = [flag for flag in ("cropped", "framed", "composite", "flipped", "perspective") if getattr(t, flag)]
        claimed += [flag for flag in ("photometric_change", "grayscale") if getattr(t, flag)]
        assert claimed == [], (fmt, params, t)
        assert (t.scale, t.aspect_change, t.rotation) == (1.0, 1.0, 0.0), (fmt, params, t)
        whole = views.RectView(x=0, y=0, w=pixels.width, h=pixels.height)
        assert t.crop == whole and t.content == whole and t.added == []
        assert words.transform_words(match, None, f"image/{fmt.lower()}") == ["re-encoded"]


def _composite(original: Image.Image, donor: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The issue's doctored composite: the original's centre, scaled 1.3x, pasted into another photograph."""
    w, h = original.size
    centre = original.crop((w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    centre = centre.resize((round(centre.width * 1.3), round(centre.height * 1.3)), Image.Resampling.BICUBIC)
    query = donor.copy()
    query.paste(centre, (40, 30))
    return query, (40, 30, 40 + centre.width, 30 + centre.height)


@pytest.mark.slow
def test_a_composite_is_altered_with_the_originals_footprint(registry: Registry, catalogue: dict[str, str]) -> None:
    # on main: `copy`, no regions, similarity 100%
    query, pasted = _composite(photo("coffee"), photo("rocket"))
    result = _check(registry, encode(query, "JPEG", quality=90))
    assert result.verdict == "altered"
    assert all(m.verdict != "copy" for m in result.matches)
    match = _match(result, catalogue["coffee"])
    assert match.verdict == "altered" and match.transform is not None
    assert match.transform.composite and not match.transform.framed and match.transform.cropped
    assert abs(match.transform.scale - 1.3) < 0.05
    assert _iou(match.transform.content, pasted) > 0.6  # the original's footprint in the query
    assert match.transform.added  # the rest: another picture's content, as bands around the footprint
    covered = match.transform.content.w * match.transform.content.h + sum(r.w * r.h for r in match.transform.added)
    assert covered >= 0.95 * query.width * query.height
    assert 0 < match.score < 1  # the original's share of the picture, not "100% similar"
    assert words.verdict_sentence(result, {}).startswith("A composite")
    assert any("put into another picture" in said for said in words.transform_words(match, None, "image/jpeg"))


def test_a_whole_photo_pasted_small_into_another_is_a_composite(registry: Registry, catalogue: dict[str, str]) -> None:
    donor, original = photo("rocket"), photo("chelsea")
    small = original.resize((donor.width // 2, round(original.height * donor.width / 2 / original.width)))
    donor.paste(small, (200, 80))
    result = _check(registry, encode(donor, "JPEG", quality=90))
    match = _match(result, catalogue["chelsea"])
    assert result.verdict == "altered" and match.verdict == "altered"
    assert match.transform is not None and match.transform.composite and not match.transform.cropped
    assert _iou(match.transform.content, (200, 80, 200 + small.width, 80 + small.height)) > 0.8
    assert match.score < 0.5  # the photo is a quarter of the picture


def _screenshot(original: Image.Image) -> tuple[Image.Image, tuple[int, int]]:
    """A dark app screen: status bar, title, the photo, a like bar and text lines under it."""
    screen = Image.new("RGB", (720, 1280), (24, 24, 28))
    draw = ImageDraw.Draw(screen)
    draw.rectangle((0, 0, 720, 60), fill=(40, 40, 48))
    draw.text((24, 14), "Channel  ·  2 h", font=ImageFont.load_default(size=28), fill=(230, 230, 230))
    photo_height = round(original.height * 720 / original.width)
    screen.paste(original.resize((720, photo_height)), (0, 180))
    y = 180 + photo_height + 30
    draw.rounded_rectangle((24, y, 300, y + 50), 12, fill=(60, 90, 200))
    for line in range(8):
        draw.text((24, y + 90 + 44 * line), "words under the photo " * 2, font=ImageFont.load_default(size=26))
    return screen, (0, 180)


@pytest.mark.slow
def test_a_whole_photo_on_a_page_or_screenshot_stays_a_framed_copy(
    registry: Registry, catalogue: dict[str, str]
) -> None:
    original = photo("astronaut")
    flat = Image.new("RGB", (original.width + 200, original.height + 120), (250, 248, 240))
    flat.paste(original, (100, 60))
    screen, _ = _screenshot(photo("coffee"))
    # the platforms' presentation: the photo over an enlarged, blurred, dimmed copy of itself
    chelsea = photo("chelsea")
    backdrop = chelsea.resize((chelsea.width * 3, chelsea.height * 3)).filter(ImageFilter.GaussianBlur(18))
    backdrop = backdrop.crop((chelsea.width, 0, chelsea.width * 2, chelsea.height * 3)).point(lambda v: int(v * 0.7))
    backdrop = backdrop.resize((chelsea.width, chelsea.height * 2))
    backdrop.paste(chelsea, (0, chelsea.height // 2))
    for name, query in (("astronaut", flat), ("coffee", screen), ("chelsea", backdrop)):
        result = _check(registry, encode(query, "JPEG", quality=88))
        match = _match(result, catalogue[name])
        assert result.verdict == "copy" and match.verdict == "copy", name
        assert match.transform is not None and match.transform.framed and not match.transform.composite, name
        assert match.transform.added == [] and match.score == 1.0, name


@pytest.mark.slow
def test_an_altered_match_never_scores_as_a_copy(registry: Registry, catalogue: dict[str, str]) -> None:
    doctored = photo("astronaut")
    doctored.paste(photo("coffee").resize((120, 100)), (300, 60))
    match = _match(_check(registry, encode(doctored, "JPEG", quality=90)), catalogue["astronaut"])
    assert match.verdict == "altered"
    assert 0.8 < match.score <= 0.99
    assert match.score == pytest.approx(1 - match.altered_fraction, abs=0.01)
    assert not words.score_words(match).startswith("100%")


def test_score_means_the_unchanged_share_of_the_query_whatever_the_verdict() -> None:
    assert render.match_score("copy", 1.0) == 1.0
    assert render.match_score("altered", 1.0) == 0.99  # an altered region too small to count still is one
    assert render.match_score("altered", 0.4) == 0.4  # a composite: the original is 40% of the picture
    assert render.match_score("related", 0.97) == 0.0  # a different photograph: nothing in it is the original's
    related = views.MatchView(
        registration_id="reg_1", publisher="P", publisher_id="pub_1", verified=True, distance=84, score=0.0,
        variant="identity", exact=False, verdict="related",
    )  # fmt: skip
    assert words.score_words(related).startswith("none: a different photograph")
    assert words.transform_words(related, None, "image/jpeg") == [
        "nothing: a different photograph of the same scene, not made from this original"
    ]
