"""What was done to the original: crop, framing, scale, rotation and flip, read from a verified alignment.

Where the surroundings analysis (`footprint`) found that the original fills only part of the query, the crop and the
content box come from that footprint rather than from the alignment's projection of the whole frame. Scale, aspect
and rotation within the spread a plain re-save shows (measured in docs/derivatives.md) are reported as exactly 1, 1
and 0: a number that differs from them is a claim that the picture was resized, stretched or turned.
"""

from __future__ import annotations

import math

import numpy as np

from fingerprint.compare.types import Alignment, Transform
from fingerprint.compare.verification import REPROJECTION_PX
from fingerprint.features import FEATURE_SIDE
from fingerprint.geometry import Rect, homography_jacobian, project

__all__ = ["describe_transform", "visible"]

# A query showing less than this share of the original is cropped; one whose area is less than this share the
# original's content is framed (padding, screenshot chrome, the corners a rotation adds).
_FULL_SHARE = 0.97
# Scale, aspect and rotation within these bands are reported as no change: the spread of plain re-saves (PNG, JPEG
# q40-95, WebP) of real photos is within 0.1% and 0.1 degree, and a keypoint alignment is only as precise as its
# reprojection tolerance over the footprint's size (a rotation that moves the footprint's corners by less than that
# is not evidence of one: a photo at a fifth of its size on a page came out turned by 0.6-0.9 degrees).
_SCALE_TOLERANCE = 0.01
_ROTATION_TOLERANCE = 0.3


def describe_transform(
    alignment: Alignment,
    query_size: tuple[int, int],
    original_size: tuple[int, int],
    *,
    photometric_change: bool = False,
    grayscale: bool = False,
    footprint: Rect | None = None,
    framed: bool | None = None,
    composite: bool = False,
    added: tuple[Rect, ...] = (),
) -> Transform:
    """Crop, framing, scale, rotation and flip read from the alignment; sizes are full-size (width, height).

    `footprint` is where the original's content was found in the query when that is less than the alignment's
    projection of its frame (query pixels); `framed`, when given, is the surroundings analysis' judgement, which
    otherwise falls back to geometry alone (the projected frame leaves part of the query uncovered).
    """
    (qw, qh), (ow, oh) = query_size, original_size
    to_original = alignment.homography
    to_query = np.linalg.inv(to_original)
    centre = project(to_original, np.array([[qw / 2, qh / 2]]))[0]
    jacobian, _ = homography_jacobian(to_query / to_query[2, 2], *centre)
    flipped = bool(np.linalg.det(jacobian) < 0)
    unflipped = jacobian @ np.diag([-1.0, 1.0]) if flipped else jacobian
    rotation = math.degrees(math.atan2(-unflipped[1, 0], unflipped[0, 0]))
    columns = np.linalg.norm(unflipped, axis=0)
    crop, crop_area = visible(project(to_original, _quad(footprint or Rect(0, 0, qw, qh))), ow, oh)
    content, content_area = visible(project(to_query, _quad(Rect(0, 0, ow, oh))), qw, qh)
    content = footprint or content
    # query pixels an alignment may be off by (whole-query keypoints are found at FEATURE_SIDE), over the footprint
    noise = REPROJECTION_PX * max(qw, qh) / FEATURE_SIDE
    short, long = max(1, min(content.w, content.h)), max(1, content.w, content.h)
    # perspective is judged where the original is shown: far outside it a tiny projective term grows large
    denominators = _quad(content) @ to_original[2, :2] + to_original[2, 2]
    return Transform(
        crop=crop,
        cropped=crop_area < _FULL_SHARE * ow * oh,
        content=content,
        framed=content_area < _FULL_SHARE * qw * qh if framed is None else framed,
        scale=_snapped(float(math.sqrt(abs(np.linalg.det(jacobian)))), 1.0, max(_SCALE_TOLERANCE, noise / long), 4),
        aspect_change=_snapped(float(columns[0] / columns[1]), 1.0, max(_SCALE_TOLERANCE, noise / long), 4),
        rotation=_snapped(rotation, 0.0, max(_ROTATION_TOLERANCE, math.degrees(noise / short)), 2),
        flipped=flipped,
        perspective=bool(np.ptp(denominators) > 0.02 * np.abs(denominators).mean()),
        photometric_change=photometric_change,
        grayscale=grayscale,
        composite=composite,
        added=added,
    )


def _quad(rect: Rect) -> np.ndarray:
    x0, y0, x1, y1 = rect.corners()
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _snapped(value: float, neutral: float, tolerance: float, digits: int) -> float:
    """`neutral` when `value` is within `tolerance` of it (no change), else `value` rounded."""
    return neutral if abs(value - neutral) <= tolerance else round(value, digits) + 0.0


def visible(quad: np.ndarray, width: int, height: int) -> tuple[Rect, float]:
    """Bounding rectangle and area of a projected quadrilateral's intersection with a width x height frame.

    Clipped in float64 against the frame's four edges (Sutherland-Hodgman). OpenCV's `intersectConvexConvex` works
    in float32 and returned a sliver (the bottom 12% of the frame) for a quadrilateral within 1e-11 px of the frame
    itself, which is what the alignment of a lossless re-save is: a PNG of the same pixels was reported cropped and
    framed.
    """
    polygon = quad.astype(np.float64)
    edges = ((0, 0.0, False), (0, float(width), True), (1, 0.0, False), (1, float(height), True))
    for axis, limit, keep_below in edges:
        polygon = _clip(polygon, axis, limit, keep_below)
        if len(polygon) < 3:
            return Rect.bounding(quad, width, height), 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return Rect.bounding(polygon, width, height), area


def _clip(polygon: np.ndarray, axis: int, limit: float, keep_below: bool) -> np.ndarray:
    """The part of a polygon on one side of the line `coordinate[axis] == limit` (one Sutherland-Hodgman step)."""
    side = polygon[:, axis] - limit
    inside = side <= 0 if keep_below else side >= 0
    kept = []
    for i in range(len(polygon)):
        j = (i + 1) % len(polygon)
        if inside[i]:
            kept.append(polygon[i])
        if inside[i] != inside[j]:
            t = side[i] / (side[i] - side[j])
            point = polygon[i] + t * (polygon[j] - polygon[i])
            point[axis] = limit
            kept.append(point)
    return np.array(kept, np.float64).reshape(-1, 2)
