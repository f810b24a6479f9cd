"""The one rectangle type: its corner form (stored as `trim_box`), scaling between frames, bounding boxes."""

from __future__ import annotations

import numpy as np

from fingerprint.geometry import Rect, homography_jacobian, project


def test_corners_round_trip() -> None:
    rect = Rect.from_corners(40, 20, 520, 340)
    assert rect == Rect(40, 20, 480, 320)
    assert rect.corners() == [40, 20, 520, 340]
    assert rect.area == 480 * 320


def test_scaling_rounds_corners_so_neighbours_stay_adjacent() -> None:
    left, right = Rect(0, 0, 3, 10), Rect(3, 0, 3, 10)
    scaled_left, scaled_right = left.scaled(2.5, 0.5), right.scaled(2.5, 0.5)
    assert scaled_left.corners() == [0, 0, 8, 5]  # round(7.5) == 8 (banker's rounding keeps even)
    assert scaled_left.x + scaled_left.w == scaled_right.x
    assert scaled_right.corners() == [8, 0, 15, 5]


def test_bounding_clips_to_the_image() -> None:
    points = np.array([[-5.5, 10.2], [30.1, 60.9], [12.0, 99.0]])
    assert Rect.bounding(points, width=25, height=80) == Rect(0, 10, 25, 70)


def test_projection_and_jacobian_of_a_similarity() -> None:
    similarity = np.array([[0.0, -2.0, 10.0], [2.0, 0.0, 5.0], [0.0, 0.0, 1.0]])  # scale 2, quarter turn, shift
    assert np.allclose(project(similarity, np.array([[1.0, 0.0], [0.0, 1.0]])), [[10, 7], [8, 5]])
    linear, denominator = homography_jacobian(similarity, 3.0, 4.0)
    assert denominator == 1.0 and np.allclose(linear, similarity[:2, :2])
