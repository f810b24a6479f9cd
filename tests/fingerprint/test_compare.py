"""Derivative analysis on the committed photos: each verdict path, the transform report, and where edits are found."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import encode, photo, photo_bytes
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from fingerprint.algorithms import CANONICAL, PDQ_VARIANTS
from fingerprint.candidates import HashEvidence, MatchCandidate
from fingerprint.compare import (
    MIN_INLIERS,
    PDQ,
    Alignment,
    DerivativeMatch,
    analyse_image,
    describe_transform,
    localise,
    pdq_alignment,
    verify,
)
from fingerprint.compare.footprint import Surroundings
from fingerprint.features import LocalFeatures, extract_features, extract_query_features
from fingerprint.geometry import Rect
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image

CAP = 50_000_000
ASTRONAUT = "reg_astronaut"
COFFEE = "reg_coffee"
STRONG = 31  # the registry's default match threshold


def pdq_hit(registration_id: str, distance: int, variant: int, *, rank: int = 0) -> MatchCandidate:
    """A candidate the global search found: the query's PDQ variant `variant` within `distance` of the original's."""
    return MatchCandidate(registration_id, (HashEvidence(PDQ, CANONICAL, PDQ_VARIANTS[variant], distance),), rank=rank)


def decode(data: bytes) -> CanonicalImage:
    return load_image(data, max_pixels=CAP, max_side=WORKING_SIDE)


@dataclass
class References:
    """The registry's side of `analyse_image`: stored features and decoded originals by id."""

    images: dict[str, CanonicalImage]
    stored: dict[str, LocalFeatures | None]

    def features(self, registration_id: str) -> LocalFeatures | None:
        return self.stored[registration_id]

    def original(self, registration_id: str) -> CanonicalImage:
        return self.images[registration_id]


@pytest.fixture(scope="module")
def references() -> References:
    images = {ASTRONAUT: decode(photo_bytes("astronaut")), COFFEE: decode(photo_bytes("coffee"))}
    return References(images, {i: extract_features(image) for i, image in images.items()})


def check(query: Image.Image, references: References, quality: int = 90) -> list[DerivativeMatch]:
    """Every reference as a vote candidate, the way a registry with no PDQ hit would call `analyse_image`."""
    image = decode(encode(query, "JPEG", quality=quality))
    candidates = [MatchCandidate(registration_id, votes=50) for registration_id in references.images]
    return analyse_image(image, extract_query_features(image), candidates, references, strong_distance=STRONG)


def only_match(query: Image.Image, references: References, quality: int = 90) -> DerivativeMatch:
    matches = check(query, references, quality)
    assert [m.registration_id for m in matches] == [ASTRONAUT]
    return matches[0]


def iou(a: Rect, b: Rect) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy / (a.area + b.area - ix * iy)


def union(rects: list[Rect]) -> Rect:
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    return Rect(x0, y0, max(r.x + r.w for r in rects) - x0, max(r.y + r.h for r in rects) - y0)


def screenshot(image: Image.Image) -> tuple[Image.Image, Rect]:
    """The photo scaled to 70% inside an app window with a title bar and text; returns it and where the photo is."""
    small = image.resize((round(image.width * 0.7), round(image.height * 0.7)), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (small.width + 180, small.height + 120), (240, 241, 244))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, 40), fill=(30, 34, 40))
    draw.text((12, 10), "photos - shared with you", font=ImageFont.load_default(18), fill=(230, 230, 230))
    for line in range(5):
        draw.text((small.width + 30, 70 + 24 * line), f"comment {line}", font=ImageFont.load_default(14), fill=0)
    canvas.paste(small, (16, 56))
    return canvas, Rect(16, 56, small.width, small.height)


# --- copies -----------------------------------------------------------------------------------------------------


def test_crop_is_a_copy_and_reports_the_crop_box(references: References) -> None:
    match = only_match(photo("astronaut").crop((60, 40, 420, 400)), references)
    assert match.verdict == "copy" and not match.regions
    assert match.transform.cropped and not match.transform.flipped
    assert iou(match.transform.crop, Rect(60, 40, 360, 360)) > 0.95
    assert match.transform.scale == pytest.approx(1.0, abs=0.03)
    assert match.alignment.method == "orb" and match.alignment.inliers >= MIN_INLIERS


def test_rotation_is_a_copy_with_its_angle(references: References) -> None:
    rotated = photo("astronaut").rotate(12, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    match = only_match(rotated, references)
    assert match.verdict == "copy"
    assert match.transform.rotation == pytest.approx(12, abs=0.7)
    assert match.transform.framed  # the black corners the rotation added
    assert not match.transform.cropped


def test_mirror_is_a_copy_and_says_flipped(references: References) -> None:
    match = only_match(ImageOps.mirror(photo("astronaut")), references)
    assert match.verdict == "copy"
    assert match.transform.flipped
    assert match.alignment.flipped
    assert abs(match.transform.rotation) < 1


def test_vertical_flip_is_a_mirror_and_half_turn(references: References) -> None:
    match = only_match(ImageOps.flip(photo("astronaut")), references)
    assert match.verdict == "copy" and match.transform.flipped
    assert abs(match.transform.rotation) == pytest.approx(180, abs=1)


def test_padding_is_framing_not_an_alteration(references: References) -> None:
    padded = ImageOps.expand(photo("astronaut"), border=48, fill=(255, 255, 255))
    match = only_match(padded, references)
    assert match.verdict == "copy"
    assert match.transform.framed and not match.transform.cropped
    assert iou(match.transform.content, Rect(48, 48, 480, 480)) > 0.95


def test_screenshot_framing_reports_scale_and_content_box(references: References) -> None:
    framed, where = screenshot(photo("astronaut"))
    match = only_match(framed, references)
    assert match.verdict == "copy"
    assert match.transform.scale == pytest.approx(0.7, abs=0.03)
    assert match.transform.framed
    assert iou(match.transform.content, where) > 0.9


def test_resized_recompressed_copy(references: References) -> None:
    small = photo("astronaut").resize((240, 240), Image.Resampling.BILINEAR)
    match = only_match(small, references, quality=40)
    assert match.verdict == "copy"
    assert match.transform.scale == pytest.approx(0.5, abs=0.03)


def test_colour_changes_are_copies_with_the_photometric_flag(references: References) -> None:
    recoloured = ImageEnhance.Brightness(ImageEnhance.Color(photo("astronaut")).enhance(1.5)).enhance(1.15)
    match = only_match(recoloured, references)
    assert match.verdict == "copy"
    assert match.transform.photometric_change and not match.transform.grayscale
    grey = only_match(ImageOps.grayscale(photo("astronaut")).convert("RGB"), references)
    assert grey.verdict == "copy" and grey.transform.grayscale


def test_untouched_copy_has_no_photometric_change(references: References) -> None:
    match = only_match(photo("astronaut"), references, quality=95)
    assert match.verdict == "copy" and not match.transform.photometric_change
    assert match.altered_fraction == 0


# --- alterations ------------------------------------------------------------------------------------------------


def test_pasted_patch_is_altered_and_found_in_both_frames(references: References) -> None:
    edited = photo("astronaut")
    edited.paste(photo("coffee").crop((150, 80, 270, 180)), (300, 60))
    cropped = edited.crop((40, 20, 460, 460))  # after the edit, so the query frame is shifted by (40, 20)
    match = only_match(cropped, references)
    assert match.verdict == "altered"
    assert iou(union([r.original for r in match.regions]), Rect(300, 60, 120, 100)) > 0.6
    assert iou(union([r.query for r in match.regions]), Rect(260, 40, 120, 100)) > 0.6
    assert 0.02 < match.altered_fraction < 0.12


def test_caption_is_altered_and_boxed(references: References) -> None:
    edited = photo("astronaut")
    draw = ImageDraw.Draw(edited)
    type_face = ImageFont.load_default(44)
    box = draw.textbbox((60, 392), "FAKE NEWS", font=type_face, stroke_width=3)
    draw.text((60, 392), "FAKE NEWS", font=type_face, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0))
    match = only_match(edited, references)
    assert match.verdict == "altered"
    truth = Rect(box[0], box[1], box[2] - box[0], box[3] - box[1])
    assert iou(union([r.original for r in match.regions]), truth) > 0.5


def test_small_local_edit_is_found(references: References) -> None:
    """A feathered ellipse of about 1.5% of the picture, blurred and darkened in place."""
    edited = photo("astronaut")
    region = (200, 150, 270, 210)
    changed = ImageEnhance.Brightness(edited.crop(region).filter(ImageFilter.GaussianBlur(4))).enhance(0.6)
    mask = Image.new("L", changed.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, changed.width - 1, changed.height - 1), fill=255)
    edited.paste(changed, region[:2], mask.filter(ImageFilter.GaussianBlur(3)))
    match = only_match(edited, references)
    assert match.verdict == "altered"
    assert iou(union([r.original for r in match.regions]), Rect(200, 150, 70, 60)) > 0.4


def test_unrelated_photo_matches_nothing(references: References) -> None:
    assert check(photo("rocket"), references) == []
    rocket = extract_query_features(decode(photo_bytes("rocket")))
    assert all(verify(f, references.stored[ASTRONAUT]) is None for f in rocket)


# --- the PDQ path, the pure geometry, bad input -----------------------------------------------------------------


def test_strong_pdq_hit_without_keypoints_is_aligned_by_its_variant(references: References) -> None:
    """An original with no stored features is still analysed when PDQ matched (variant 1: rotated 90 cw)."""
    query = decode(encode(photo("coffee").transpose(Image.Transpose.ROTATE_270), "JPEG", quality=90))
    no_features = References(references.images, {COFFEE: None, ASTRONAUT: None})
    features = extract_query_features(query)
    matches = analyse_image(query, features, [pdq_hit(COFFEE, 6, 1)], no_features, strong_distance=STRONG)
    assert [m.registration_id for m in matches] == [COFFEE]
    assert matches[0].alignment.method == "pdq" and matches[0].verdict == "copy"
    assert matches[0].transform.rotation == pytest.approx(-90)
    weak = [pdq_hit(COFFEE, 40, 1)]
    assert analyse_image(query, features, weak, no_features, strong_distance=STRONG) == []
    # the caller's policy decides what is strong: a looser one accepts the same hit
    looser = analyse_image(query, features, weak, no_features, strong_distance=40)
    assert [m.registration_id for m in looser] == [COFFEE]


def test_describe_transform_reads_a_known_similarity() -> None:
    """Original -> query: scale 0.5, 30 degrees counter-clockwise (y down), mirrored first, then shifted."""
    angle = math.radians(30)
    rotate = np.array([[math.cos(angle), math.sin(angle), 0], [-math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    to_query = np.diag([0.5, 0.5, 1]) @ rotate @ np.diag([-1.0, 1.0, 1.0])
    to_query[:2, 2] = [400, 100]
    alignment = Alignment(np.linalg.inv(to_query), 100, 120, "orb")
    transform = describe_transform(alignment, (800, 600), (1000, 800))
    assert transform.flipped
    assert transform.rotation == pytest.approx(30, abs=1e-6)
    assert transform.scale == pytest.approx(0.5, abs=1e-4)
    assert transform.aspect_change == pytest.approx(1.0, abs=1e-4)
    assert not transform.perspective


def test_pdq_alignment_rejects_bad_variants(references: References) -> None:
    with pytest.raises(ValueError, match="variant"):
        pdq_alignment(references.images[COFFEE], references.images[COFFEE], 8)
    with pytest.raises(ValueError, match="crop"):
        pdq_alignment(references.images[COFFEE], references.images[COFFEE], 0, crop=0)


def test_localise_rejects_bad_pixels(references: References) -> None:
    image = references.images[COFFEE]
    bad = CanonicalImage(image.media_type, image.width, image.height, image.trim_box, image.pixels[..., 0])
    alignment = Alignment(np.eye(3), 0, 0, "pdq")
    with pytest.raises(ValueError, match="uint8 RGB"):
        localise(bad, image, alignment)


def test_identity_localisation_is_clean(references: References) -> None:
    image = references.images[COFFEE]
    localisation = localise(image, image, Alignment(np.eye(3), 0, 0, "pdq"))
    assert localisation.verdict == "copy" and localisation.altered_fraction == 0
    assert localisation.overlap.mean() > 0.9
    assert localisation.mask.shape == localisation.heat.shape == localisation.original.shape[:2]


@pytest.mark.slow
def test_strong_hits_examined_are_capped_nearest_first(references: References) -> None:
    """Dozens of registered near-duplicates must not cost dozens of analyses when few matches are reported."""
    image = decode(encode(photo("astronaut"), "JPEG", quality=85))
    duplicates = {f"reg_dup{i:02d}": references.images[ASTRONAUT] for i in range(12)}
    source = References(duplicates, dict.fromkeys(duplicates))  # no stored features: aligned from PDQ alone
    candidates = [pdq_hit(registration_id, 10 + i, 0) for i, registration_id in enumerate(duplicates)]
    features = extract_query_features(image)
    capped = analyse_image(image, features, candidates, source, strong_distance=STRONG, max_strong=3)
    assert sorted(m.registration_id for m in capped) == ["reg_dup00", "reg_dup01", "reg_dup02"]
    every = analyse_image(image, features, candidates, source, strong_distance=STRONG)
    assert len(every) == 12


def test_the_callers_rank_comes_before_distance_and_votes(references: References) -> None:
    """A caller that ranks repeats behind (the registry: later registrations of one content) gets its first choice
    examined, however many nearer repeats there are and whatever the budget."""
    image = decode(encode(photo("astronaut"), "JPEG", quality=85))
    copies = {f"reg_{i:02d}": references.images[ASTRONAUT] for i in range(8)}
    source = References(copies, {i: references.stored[ASTRONAUT] for i in copies})
    features = extract_query_features(image)
    strong = [pdq_hit(r, 2 + i, 0, rank=0 if r == "reg_07" else 1) for i, r in enumerate(copies)]
    capped = analyse_image(image, features, strong, source, strong_distance=STRONG, max_strong=2)
    assert sorted(m.registration_id for m in capped) == ["reg_00", "reg_07"]
    voted = [MatchCandidate(r, votes=50 - i, rank=0 if r == "reg_07" else 1) for i, r in enumerate(copies)]
    budgeted = analyse_image(image, features, voted, source, strong_distance=STRONG, max_verified=1)
    assert [m.registration_id for m in budgeted] == ["reg_07"]


def test_a_settled_match_ends_a_non_exhaustive_analysis(references: References) -> None:
    """A check that draws no pictures stops at weak candidates once one match leaves no doubt; strong hits still
    count, and an exhaustive analysis (pictures) still finds every match."""
    image = decode(encode(photo("astronaut"), "JPEG", quality=85))
    copies = {f"reg_copy{i}": references.images[ASTRONAUT] for i in range(3)}
    source = References(copies, {i: references.stored[ASTRONAUT] for i in copies})
    votes = [MatchCandidate(registration_id, votes=50 - i) for i, registration_id in enumerate(copies)]
    features = extract_query_features(image)
    settled = analyse_image(image, features, votes, source, strong_distance=STRONG, exhaustive=False)
    assert [m.registration_id for m in settled] == ["reg_copy0"] and settled[0].alignment.inliers >= 100
    assert len(analyse_image(image, features, votes, source, strong_distance=STRONG)) == 3
    strong = [pdq_hit(registration_id, 10 + i, 0) for i, registration_id in enumerate(copies)]
    assert len(analyse_image(image, features, strong, source, strong_distance=STRONG, exhaustive=False)) == 3


def test_a_frame_within_rounding_of_the_query_is_neither_cropped_nor_framed() -> None:
    # the alignment of a lossless re-save: the identity up to 1e-11 px, which OpenCV's float32 polygon
    # intersection turned into "cropped to the bottom 12%, framed"
    nearly = np.array(
        [
            [1.0, -9.75113379e-15, 7.74976382e-12],
            [-1.50300815e-14, 1.0, 2.45608061e-11],
            [-2.16351685e-17, -4.49374615e-17, 1.0],
        ]
    )
    transform = describe_transform(Alignment(nearly, 500, 500, "orb"), (1600, 900), (1600, 900))
    assert not transform.cropped and not transform.framed
    assert transform.crop == Rect(0, 0, 1600, 900) and transform.content == Rect(0, 0, 1600, 900)
    assert (transform.scale, transform.aspect_change, transform.rotation) == (1.0, 1.0, 0.0)


def test_a_plain_crop_is_aligned_by_a_similarity(references: References) -> None:
    # no stretch, turn or perspective is invented when a similarity explains the keypoints as well as a homography
    original = photo("coffee")
    w, h = original.size
    query = decode(encode(original.crop((int(w * 0.2), int(h * 0.1), int(w * 0.9), int(h * 0.85))), "JPEG"))
    match = analyse_image(
        query, extract_query_features(query), [MatchCandidate(COFFEE, votes=50)], references, strong_distance=31
    )
    transform = match[0].transform
    assert transform.cropped and not transform.framed and not transform.perspective
    assert (transform.scale, transform.aspect_change, transform.rotation) == (1.0, 1.0, 0.0)


def test_disagreement_inside_the_original_s_box_is_no_composite() -> None:
    """A strong colour grade (a flower's hue turned 17 degrees) left blocks at the frame's edge that the grey
    correlation did not forgive: 'photographic' surroundings of 12% around a footprint whose box is the whole query,
    with no band outside it, were called a composite. What lies inside the original's frame is the localisation's to
    judge; a composite adds content around it."""
    grid = np.ones((12, 20), bool)
    inside = Surroundings("photographic", 0.12, Rect(0, 0, 640, 400), (), 0.3, 40.0, grid, np.eye(3))
    pasted = dataclasses.replace(inside, content=Rect(0, 0, 400, 400), added=(Rect(400, 0, 240, 400),))
    assert not inside.composite and pasted.composite
