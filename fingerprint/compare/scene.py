"""Is an apparently altered match a different photograph of the same scene? Parallax, not an edit.

A second photograph of a scene (the other frame of a stereo pair, a shot a moment later from a step aside) aligns
with the original on one plane, usually the background, and everything nearer the camera moves differently. The
localisation then reports the nearer things as altered regions. An edit puts new content there; parallax puts the
original's own content there, displaced by a motion of its own. So the keypoint matches that the alignment rejects
are fitted again: when other consistent motions explain matches inside the altered regions, covering most of their
area, the regions are the same scene seen from elsewhere and the match is `related`, not a derivative.
"""

from __future__ import annotations

import cv2
import numpy as np

from fingerprint.compare.types import Alignment, Localisation
from fingerprint.compare.verification import RATIO, REPROJECTION_PX
from fingerprint.features import LocalFeatures, pixel_to_full
from fingerprint.geometry import project
from fingerprint.media import CanonicalImage

__all__ = ["different_viewpoint"]

# Measurements behind each threshold are in docs/derivatives.md (bench/same_scene.py).

# A match the alignment misses by more than this many reprojection tolerances is moved by something else.
_OUTLIER_FACTOR = 3.0
# Further motions fitted to those matches: at most this many, each with at least this many matches.
_MOTIONS = 4
_MIN_MOTION_MATCHES = 8
# The further motions must explain at least this many matches inside altered regions ...
_MIN_EXPLAINED = 12
# ... and reach into regions holding this share of the altered area (a pasted patch gets none).
_MIN_EXPLAINED_AREA = 0.4
# A region counts as reached when this many explained matches lie inside it or this close to it (share of the
# longer side): parallax also uncovers background beside what moved, where no keypoint can match.
_MATCHES_PER_REGION = 2
_REACH_SHARE = 0.04


def different_viewpoint(
    query: LocalFeatures,
    reference: LocalFeatures,
    alignment: Alignment,
    localisation: Localisation,
    original: CanonicalImage,
) -> bool:
    """Whether the altered regions are the original's own content under motions other than the alignment's.

    `query` are the features (upright or mirrored) that produced `alignment`; `localisation` is its result.
    """
    if not localisation.regions:
        return False
    good = _ratio_matches(query, reference)
    if len(good) < _MIN_EXPLAINED:
        return False
    src = query.points[good[:, 0]].astype(np.float64)
    dst = reference.points[good[:, 1]].astype(np.float64)
    threshold = REPROJECTION_PX * reference.scale
    outlying = np.linalg.norm(project(alignment.homography, src) - dst, axis=1) > _OUTLIER_FACTOR * threshold
    explained = _other_motions(src[outlying], dst[outlying], threshold)
    if len(explained) < _MIN_EXPLAINED:
        return False
    labels = _reach(localisation.mask)
    height, width = labels.shape
    to_mask = np.diag([width / original.pixels.shape[1], height / original.pixels.shape[0], 1.0])
    points = np.rint(project(to_mask @ np.linalg.inv(pixel_to_full(original)), explained)).astype(int)
    inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    hit = labels[points[inside, 1], points[inside, 0]]
    hit = hit[hit > 0]
    if len(hit) < _MIN_EXPLAINED:
        return False
    per_region = np.bincount(hit, minlength=labels.max() + 1)
    areas = np.bincount(labels[localisation.mask], minlength=labels.max() + 1)
    reached = per_region >= _MATCHES_PER_REGION
    reached[0] = False
    return bool(areas[reached].sum() >= _MIN_EXPLAINED_AREA * areas[1:].sum())


def _ratio_matches(query: LocalFeatures, reference: LocalFeatures) -> np.ndarray:
    """(n, 2) query and reference keypoint indices that pass the ratio test, as `verify` takes them."""
    if query.count < 2 or reference.count < 2:
        return np.zeros((0, 2), int)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [(b.queryIdx, b.trainIdx) for b, s in (p for p in pairs if len(p) == 2) if b.distance < RATIO * s.distance]
    return np.array(good, int).reshape(-1, 2)


def _other_motions(src: np.ndarray, dst: np.ndarray, threshold: float) -> np.ndarray:
    """Reference points of the matches that further homographies explain, fitted greedily one after another."""
    explained = []
    remaining = np.ones(len(src), bool)
    for _ in range(_MOTIONS):
        if remaining.sum() < _MIN_MOTION_MATCHES:
            break
        homography, mask = cv2.findHomography(src[remaining], dst[remaining], cv2.RANSAC, threshold, maxIters=500)
        if homography is None or mask.sum() < _MIN_MOTION_MATCHES:
            break
        chosen = np.flatnonzero(remaining)[mask.ravel().astype(bool)]
        explained.append(dst[chosen])
        remaining[chosen] = False
    return np.concatenate(explained) if explained else np.zeros((0, 2))


def _reach(mask: np.ndarray) -> np.ndarray:
    """Labels of the altered regions grown by `_REACH_SHARE` (regions that close merge into one)."""
    size = max(3, round(_REACH_SHARE * max(mask.shape))) | 1
    grown = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    _, labels = cv2.connectedComponents(grown, connectivity=8)
    return labels
