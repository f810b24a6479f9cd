"""ORB features in the full-size frame, their blob format, the mirrored query, and the extra reference PDQ hashes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import encode, photo, photo_bytes
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageOps

from fingerprint.compare import verify
from fingerprint.features import (
    QUERY_FEATURES,
    REFERENCE_FEATURES,
    LocalFeatures,
    extract_features,
    extract_query_features,
)
from fingerprint.geometry import Rect
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image

CAP = 50_000_000


def decode(data: bytes, max_side: int = WORKING_SIDE) -> CanonicalImage:
    return load_image(data, max_pixels=CAP, max_side=max_side)


def test_reference_features_are_capped_and_inside_the_image() -> None:
    image = decode(photo_bytes("chelsea"))
    features = extract_features(image)
    assert features.count == REFERENCE_FEATURES
    assert features.descriptors.shape == (REFERENCE_FEATURES, 32) and features.descriptors.dtype == np.uint8
    assert (features.width, features.height) == (image.width, image.height)
    assert features.points.min() >= 0
    assert (features.points.max(axis=0) <= [image.width, image.height]).all()
    assert not features.mirrored
    with pytest.raises(ValueError):
        features.points[0, 0] = 1.0  # frozen all the way down


def test_any_prefix_is_a_deterministic_spread_out_retrieval_subset() -> None:
    """The vote index keeps only a prefix (`PROVREG_RETRIEVAL_FEATURES`): it must cover the picture, not one corner."""
    image = decode(photo_bytes("coffee"))
    features = extract_features(image)
    again = extract_features(image)
    assert np.array_equal(features.descriptors, again.descriptors)
    for size in (32, 64):
        prefix = features.points[:size]
        cells = {(int(x * 4 // image.width), int(y * 4 // image.height)) for x, y in prefix}
        assert len(cells) >= 12  # of a 4x4 grid


def test_points_are_in_the_full_size_frame_whatever_the_decode_size() -> None:
    """Decoded at half size, the same keypoints land on the same full-size coordinates."""
    full = extract_features(decode(photo_bytes("coffee")))
    half = extract_features(decode(photo_bytes("coffee"), max_side=240))
    assert half.scale == full.scale == pytest.approx(480 / 640)  # ORB always runs at FEATURE_SIDE
    alignment = verify(half, full)
    assert alignment is not None
    corners = np.array([[0, 0, 1], [480, 0, 1], [480, 320, 1], [0, 320, 1]], float)
    moved = corners @ alignment.homography.T
    assert np.abs(moved[:, :2] / moved[:, 2:] - corners[:, :2]).max() < 2.0  # pixels, at the image corners


def test_points_include_the_trimmed_border_offset() -> None:
    padded = ImageOps.expand(photo("coffee"), border=(40, 30, 0, 0), fill=(255, 255, 255))
    image = decode(encode(padded, "PNG"))
    assert (image.trim_box.x, image.trim_box.y) == (40, 30)
    features = extract_features(image)
    assert features.points[:, 0].min() >= 40 and features.points[:, 1].min() >= 30
    plain = extract_features(decode(photo_bytes("coffee")))
    alignment = verify(features, plain)
    assert alignment is not None
    assert alignment.homography[:2, 2] == pytest.approx([-40, -30], abs=1.5)


def test_mirrored_query_features_align_a_flipped_copy_with_the_flip_in_the_homography() -> None:
    original = extract_features(decode(photo_bytes("rocket")))
    flipped = decode(encode(ImageOps.mirror(photo("rocket")), "JPEG", quality=92))
    upright, mirrored = extract_query_features(flipped)
    assert upright.count == mirrored.count == QUERY_FEATURES and mirrored.mirrored
    assert verify(upright, original) is None
    alignment = verify(mirrored, original)
    assert alignment is not None and alignment.flipped
    width = flipped.width
    assert alignment.homography[:2, :2] == pytest.approx(np.diag([-1.0, 1.0]), abs=0.02)
    assert alignment.homography[0, 2] == pytest.approx(width, abs=2)


def test_flat_image_has_no_keypoints() -> None:
    flat = np.full((200, 300, 3), 128, np.uint8)
    features = extract_features(CanonicalImage("image/png", 300, 200, Rect(0, 0, 300, 200), flat))
    assert features.count == 0 and features.descriptors.shape == (0, 32)
    assert LocalFeatures.from_bytes(features.to_bytes()).count == 0


def test_blob_round_trip_is_exact_and_compact() -> None:
    features = extract_features(decode(photo_bytes("astronaut")))
    blob = features.to_bytes()
    assert len(blob) == 24 + 40 * features.count
    again = LocalFeatures.from_bytes(blob)
    assert np.array_equal(again.points, features.points)
    assert np.array_equal(again.descriptors, features.descriptors)
    assert (again.width, again.height, again.scale, again.mirrored) == (
        features.width,
        features.height,
        pytest.approx(features.scale),
        False,
    )


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(0, 40),
    width=st.integers(1, 70_000),
    height=st.integers(1, 70_000),
    mirrored=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_blob_round_trip_property(count: int, width: int, height: int, mirrored: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = (rng.random((count, 2)) * [width, height]).astype(np.float32)
    features = LocalFeatures(width, height, 2.5, points, rng.integers(0, 256, (count, 32), np.uint8), mirrored)
    again = LocalFeatures.from_bytes(features.to_bytes())
    assert np.array_equal(again.points, features.points) and np.array_equal(again.descriptors, features.descriptors)
    assert (again.width, again.height, again.mirrored) == (width, height, mirrored)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda blob: blob[:10], "too short"),
        (lambda blob: b"XXXX" + blob[4:], "not a local-features blob"),
        (lambda blob: blob[:4] + b"\x09" + blob[5:], "version 9"),
        (lambda blob: blob[:-1], "expected"),
    ],
)
def test_bad_blobs_are_refused(mangle: object, message: str) -> None:
    blob = extract_features(decode(photo_bytes("chelsea"))).to_bytes()
    with pytest.raises(ValueError, match=message):
        LocalFeatures.from_bytes(mangle(blob))  # type: ignore[operator]


def test_invalid_values_are_refused() -> None:
    with pytest.raises(ValueError, match="descriptors"):
        LocalFeatures(10, 10, 1.0, np.zeros((2, 2)), np.zeros((2, 16), np.uint8))
    with pytest.raises(ValueError, match="points"):
        LocalFeatures(10, 10, 1.0, np.zeros((3, 2)), np.zeros((2, 32), np.uint8))
    with pytest.raises(ValueError, match="size"):
        LocalFeatures(0, 10, 1.0, np.zeros((0, 2)), np.zeros((0, 32), np.uint8))
    with pytest.raises(ValueError, match="scale"):
        LocalFeatures(10, 10, 0.0, np.zeros((0, 2)), np.zeros((0, 32), np.uint8))
    image = decode(photo_bytes("chelsea"))
    with pytest.raises(ValueError, match="max_features"):
        extract_features(image, max_features=0)
