"""Insets: a photo shown small inside a page is found as a block and described on its own, at its own scale."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import article_page, encode, photo, photo_bytes

from fingerprint.compare import verify
from fingerprint.features import QUERY_FEATURES, extract_features, extract_query_features
from fingerprint.geometry import Rect
from fingerprint.insets import find_insets
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image

CAP = 50_000_000


def decode(data: bytes) -> CanonicalImage:
    return load_image(data, max_pixels=CAP, max_side=WORKING_SIDE)


def test_the_photo_in_an_article_page_is_an_inset_and_matches_only_there() -> None:
    page, (x, y) = article_page(photo("coffee"))
    image = decode(encode(page, "JPEG", quality=85))
    scale = image.pixels.shape[1] / image.trim_box.w  # the page decodes at half size, its header bar trimmed
    insets = find_insets(image.pixels)
    assert insets
    first = insets[0]  # the largest block: the photo, not the smaller rocket
    left, top = (x - image.trim_box.x) * scale, (y - image.trim_box.y) * scale
    assert abs(first.x - left) <= 12 and abs(first.y - top) <= 12
    assert abs(first.w - 480 * scale) <= 24

    original = extract_features(decode(photo_bytes("coffee")))
    upright, mirrored, *described = extract_query_features(image)
    assert len(described) == len(insets)
    # the whole page spends its keypoints on text and sees the photo too small: only the inset aligns
    assert verify(upright, original) is None and verify(mirrored, original) is None
    alignment = verify(described[0], original)
    assert alignment is not None and alignment.inliers >= 50


def test_ordinary_photos_have_no_insets() -> None:
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = decode(photo_bytes(name))
        assert find_insets(image.pixels) == []
        assert len(extract_query_features(image)) == 2  # no extra cost for a photo


def test_region_features_stay_in_the_whole_images_frame() -> None:
    image = decode(photo_bytes("chelsea"))
    h, w = image.pixels.shape[:2]
    region = Rect(w // 4, h // 4, w // 2, h // 2)
    features = extract_features(image, max_features=QUERY_FEATURES, region=region)
    assert (features.width, features.height) == (image.width, image.height)
    to_full = image.width / w
    assert features.points[:, 0].min() >= region.x * to_full - 1
    assert features.points[:, 0].max() <= (region.x + region.w) * to_full + 1
    assert features.points[:, 1].min() >= region.y * to_full - 1
    assert features.points[:, 1].max() <= (region.y + region.h) * to_full + 1
    # the region is described at the full feature size: finer than the whole image
    assert features.scale < extract_features(image).scale


def test_find_insets_rejects_bad_pixels() -> None:
    with pytest.raises(ValueError):
        find_insets(np.zeros((10, 10), np.uint8))
