"""The comparison picture: a readable PNG of sensible size, with the altered region outlined where it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import encode, photo, photo_bytes
from PIL import Image

from fingerprint.candidates import MatchCandidate
from fingerprint.compare import DerivativeMatch, analyse_image
from fingerprint.features import LocalFeatures, extract_features, extract_query_features
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image
from fingerprint.visualize import MAX_PANEL, render_comparison

CAP = 50_000_000


class OneOriginal:
    def __init__(self, data: bytes) -> None:
        self.image = load_image(data, max_pixels=CAP, max_side=WORKING_SIDE)

    def features(self, registration_id: str) -> LocalFeatures | None:
        return extract_features(self.image)

    def original(self, registration_id: str) -> CanonicalImage:
        return self.image


def analysed(query: Image.Image) -> DerivativeMatch:
    image = load_image(encode(query, "JPEG", quality=90), max_pixels=CAP, max_side=WORKING_SIDE)
    candidates = [MatchCandidate("reg_rocket", votes=40)]
    references = OneOriginal(photo_bytes("rocket"))
    matches = analyse_image(image, extract_query_features(image), candidates, references, strong_distance=31)
    assert len(matches) == 1
    return matches[0]


def decode_png(data: bytes) -> np.ndarray:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_altered_match_is_drawn_with_its_region_outlined() -> None:
    edited = photo("rocket")
    edited.paste(photo("chelsea").crop((100, 60, 220, 160)), (300, 120))
    match = analysed(edited)
    assert match.verdict == "altered"
    picture = decode_png(render_comparison(match, label="reg_rocket"))
    height, width = picture.shape[:2]
    assert width <= 3 * MAX_PANEL + 40 and height <= MAX_PANEL + 120
    panel = match.localisation.original.shape[1]  # type: ignore[union-attr]
    third = picture[64:-28, 8 + 2 * (panel + 8) : 8 + 3 * panel + 16]
    outline = (third[..., 0] > 200) & (third[..., 1] < 80) & (third[..., 2] < 80)
    ys, xs = np.nonzero(outline)
    assert len(xs) > 100
    # the outline surrounds the pasted patch (rocket.jpg is 480x320, shown at full size)
    assert xs.min() >= 280 and xs.max() <= 440 and ys.min() >= 100 and ys.max() <= 240


def test_copy_is_drawn_without_outline_and_small_panels_are_honoured() -> None:
    match = analysed(photo("rocket").rotate(8, Image.Resampling.BICUBIC, expand=True))
    picture = decode_png(render_comparison(match, label="reg_rocket", max_panel=200))
    assert picture.shape[1] <= 3 * 200 + 40
    outline = (picture[..., 0] > 200) & (picture[..., 1] < 80) & (picture[..., 2] < 80)
    assert not outline[64:].any()


def test_title_names_the_label_it_is_given() -> None:
    """The registry labels pictures with registration ids; only the title line changes with the label."""
    match = analysed(photo("rocket"))
    short = decode_png(render_comparison(match, label="reg_a"))
    long = decode_png(render_comparison(match, label="reg_0123456789abcdefghij"))
    assert short.shape == long.shape
    assert (short[:32] != long[:32]).any()  # the verdict line
    assert (short[32:] == long[32:]).all()  # the transform line and the panels


def test_match_without_localisation_is_refused() -> None:
    match = analysed(photo("rocket"))
    bare = DerivativeMatch(
        match.registration_id, match.verdict, match.transform, (), 0.0, match.alignment, match.candidate, None
    )
    with pytest.raises(ValueError, match="localisation"):
        render_comparison(bare, label="reg_rocket")
    with pytest.raises(ValueError, match="max_panel"):
        render_comparison(match, label="reg_rocket", max_panel=10)
