"""What was done to the original: crop, framing, scale, rotation and flip, read from a verified alignment."""

from __future__ import annotations

import math

import cv2
import numpy as np

from fingerprint.compare.types import Alignment, Transform
from fingerprint.geometry import Rect, homography_jacobian, project

__all__ = ["describe_transform"]

# A query showing less than this share of the original is cropped; one whose area is less than this share the
# original's content is framed (padding, screenshot chrome, the corners a rotation adds).
_FULL_SHARE = 0.97


def describe_transform(
    alignment: Alignment,
    query_size: tuple[int, int],
    original_size: tuple[int, int],
    *,
    photometric_change: bool = False,
    grayscale: bool = False,
) -> Transform:
    """Crop, framing, scale, rotation and flip read from the alignment; sizes are full-size (width, height)."""
    (qw, qh), (ow, oh) = query_size, original_size
    to_original = alignment.homography
    to_query = np.linalg.inv(to_original)
    centre = project(to_original, np.array([[qw / 2, qh / 2]]))[0]
    jacobian, _ = homography_jacobian(to_query / to_query[2, 2], *centre)
    flipped = bool(np.linalg.det(jacobian) < 0)
    unflipped = jacobian @ np.diag([-1.0, 1.0]) if flipped else jacobian
    rotation = math.degrees(math.atan2(-unflipped[1, 0], unflipped[0, 0]))
    columns = np.linalg.norm(unflipped, axis=0)
    query_quad = np.array([[0, 0], [qw, 0], [qw, qh], [0, qh]], np.float64)
    original_quad = np.array([[0, 0], [ow, 0], [ow, oh], [0, oh]], np.float64)
    crop, crop_area = _visible(project(to_original, query_quad), original_quad, ow, oh)
    content, content_area = _visible(project(to_query, original_quad), query_quad, qw, qh)
    denominators = query_quad @ to_original[2, :2] + to_original[2, 2]
    return Transform(
        crop=crop,
        cropped=crop_area < _FULL_SHARE * ow * oh,
        content=content,
        framed=content_area < _FULL_SHARE * qw * qh,
        scale=round(float(math.sqrt(abs(np.linalg.det(jacobian)))), 4),
        aspect_change=round(float(columns[0] / columns[1]), 4),
        rotation=round(rotation, 2) + 0.0,
        flipped=flipped,
        perspective=bool(np.ptp(denominators) > 0.02 * np.abs(denominators).mean()),
        photometric_change=photometric_change,
        grayscale=grayscale,
    )


def _visible(quad: np.ndarray, frame: np.ndarray, width: int, height: int) -> tuple[Rect, float]:
    """Bounding rectangle and area of a projected quadrilateral's intersection with an image frame."""
    area, polygon = cv2.intersectConvexConvex(quad.astype(np.float32), frame.astype(np.float32))
    if area <= 0 or polygon is None:
        return Rect.bounding(quad, width, height), 0.0
    return Rect.bounding(polygon.reshape(-1, 2).astype(np.float64), width, height), float(area)
