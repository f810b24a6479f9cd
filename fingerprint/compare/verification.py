"""Is a candidate the same picture? Keypoint matching, RANSAC with plausibility checks, and PDQ-implied alignment.

`verify` aligns the query's ORB keypoints (upright or mirrored) with an original's: ratio test, RANSAC homography,
sanity checks that reject the degenerate models random matches produce, and at least `MIN_INLIERS` inliers. A strong
PDQ hit whose keypoints do not align (a flat or tiny image) is aligned from its dihedral variant by `pdq_alignment`.
"""

from __future__ import annotations

import cv2
import numpy as np

from fingerprint.algorithms.pdq import PDQ_VARIANTS
from fingerprint.compare.types import Alignment
from fingerprint.features import LocalFeatures
from fingerprint.geometry import homography_jacobian, project
from fingerprint.media import CanonicalImage

__all__ = ["MAX_ANISOTROPY", "MAX_AREA_VARIATION", "MIN_INLIERS", "RATIO", "REPROJECTION_PX", "pdq_alignment", "verify"]

# Measurements behind each threshold are in docs/derivatives.md.

# Lowe's ratio test on Hamming distances: the best match must be clearly better than the second best.
RATIO = 0.8
# RANSAC reprojection tolerance in feature pixels (ORB runs at FEATURE_SIDE).
REPROJECTION_PX = 4.0
# Inliers needed to call two images the same picture. With the sanity checks below, 10,931 pairs of unrelated real
# photos (derivatives of one against another original) reached at most 10 inliers; true derivatives had a median of
# 272 and a 5th percentile of 45 (only the nearly textureless microscopy photo `cell` fell below 18).
MIN_INLIERS = 18
# A homography whose local stretch is more anisotropic than this, or whose local area scale varies more than this
# across the matched region, is a degenerate fit to random matches (true derivatives stayed below 1.7).
MAX_ANISOTROPY = 3.0
MAX_AREA_VARIATION = 3.0
# A similarity or affine map replaces the homography when it keeps this share of its inliers (docs/derivatives.md).
_SIMPLER_KEEPS = 0.95
# RANSAC is re-run without the inliers of a degenerate model, this many times in all; iterations per run.
_RANSAC_ROUNDS = 3
_RANSAC_ITERATIONS = 2000


def verify(query: LocalFeatures, reference: LocalFeatures) -> Alignment | None:
    """Align query keypoints to an original's, or None when they do not describe the same picture."""
    if query.count < 4 or reference.count < 4:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [best for best, second in (p for p in pairs if len(p) == 2) if best.distance < RATIO * second.distance]
    if len(good) < MIN_INLIERS:
        return None
    src = query.points[[m.queryIdx for m in good]].astype(np.float64)
    dst = reference.points[[m.trainIdx for m in good]].astype(np.float64)
    threshold = REPROJECTION_PX * reference.scale
    found = _homography(src, dst, threshold, query.mirrored)
    if found is None:
        found = _homography_from_similarity(src, dst, threshold, query.mirrored)
    if found is None:
        return None
    homography, inliers = _simplest(src, dst, *found, threshold, query.mirrored)
    return Alignment(homography / homography[2, 2], inliers, len(good), "orb")


def _simplest(
    src: np.ndarray, dst: np.ndarray, homography: np.ndarray, inliers: int, threshold: float, mirrored: bool
) -> tuple[np.ndarray, int]:
    """The simplest model that explains the matches as well as the homography: a similarity, an affine map, or the
    homography itself.

    Eight free parameters fitted to keypoints that lie along a few lines (cables against a sky, a horizon) bend to
    fit them: a plain crop of such a photo came out stretched by 2%, turned by 1.2 degrees and in perspective, and
    those invented changes were reported and left false altered regions. A digital copy is almost always a
    similarity (crop, resize, rotation) or an affine map (a stretch), so a simpler model wins when it keeps
    `_SIMPLER_KEEPS` of the homography's inliers.
    """
    flip = np.diag([-1.0, 1.0, 1.0]) if mirrored else np.eye(3)  # neither simpler model can mirror: undo it first
    unflipped = project(flip, src)
    within = np.linalg.norm(project(homography, src) - dst, axis=1) <= threshold
    # the similarity gets its own consensus (the homography may have bent to a wrong one); the affine map refits the
    # homography's inliers
    similarity, _ = cv2.estimateAffinePartial2D(
        unflipped, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=_RANSAC_ITERATIONS
    )
    affine, _ = cv2.estimateAffine2D(unflipped[within], dst[within], method=cv2.LMEDS)
    for model in (similarity, affine):
        if model is None:
            continue
        simpler = np.vstack([model, [0.0, 0.0, 1.0]]) @ flip
        close = np.linalg.norm(project(simpler, src) - dst, axis=1) <= threshold
        enough = close.sum() >= max(MIN_INLIERS, _SIMPLER_KEEPS * inliers)
        if enough and _plausible(simpler, src[close], mirrored=mirrored):
            return simpler, int(close.sum())
    return homography, inliers


def _homography(src: np.ndarray, dst: np.ndarray, threshold: float, mirrored: bool) -> tuple[np.ndarray, int] | None:
    """Robust homography (OpenCV's USAC MAGSAC++: at 2,000 originals, fewer false matches and benign queries called
    altered than plain RANSAC, and a quarter faster); a degenerate model's inliers are set aside and it runs again
    on the rest."""
    remaining = np.ones(len(src), bool)
    for _ in range(_RANSAC_ROUNDS):
        if remaining.sum() < MIN_INLIERS:
            return None
        homography, inlier_mask = cv2.findHomography(
            src[remaining], dst[remaining], cv2.USAC_MAGSAC, threshold, maxIters=_RANSAC_ITERATIONS
        )
        if homography is None:
            return None
        inliers = np.zeros(len(src), bool)
        inliers[np.flatnonzero(remaining)[inlier_mask.ravel().astype(bool)]] = True
        if inliers.sum() < MIN_INLIERS:
            return None
        if _plausible(homography, src[inliers], mirrored=mirrored):
            return homography, int(inliers.sum())
        remaining &= ~inliers
    return None


def _homography_from_similarity(
    src: np.ndarray, dst: np.ndarray, threshold: float, mirrored: bool
) -> tuple[np.ndarray, int] | None:
    """For repetitive textures (bricks, grass, text) where 90% of matches are wrong and 4-point samples rarely come
    out clean: find the consensus with 2-point similarity samples first, then fit the homography to it."""
    flip = np.array([-1.0, 1.0]) if mirrored else np.ones(2)  # a similarity cannot mirror: undo it for the search
    _, inlier_mask = cv2.estimateAffinePartial2D(
        src * flip, dst, method=cv2.RANSAC, ransacReprojThreshold=2 * threshold, maxIters=_RANSAC_ITERATIONS
    )
    if inlier_mask is None or inlier_mask.sum() < MIN_INLIERS:
        return None
    seed = inlier_mask.ravel().astype(bool)
    homography, _ = cv2.findHomography(src[seed], dst[seed], cv2.RANSAC, threshold)
    if homography is None:
        return None
    inliers = np.linalg.norm(project(homography, src) - dst, axis=1) <= threshold
    if inliers.sum() < MIN_INLIERS or not _plausible(homography, src[inliers], mirrored=mirrored):
        return None
    return homography, int(inliers.sum())


def _plausible(homography: np.ndarray, points: np.ndarray, *, mirrored: bool) -> bool:
    """Reject the collapsed, folded or wildly stretched homographies that random matches produce."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    dets = []
    for x, y in corners:
        jacobian, w = homography_jacobian(homography, x, y)
        if w <= 0:
            return False
        s = np.linalg.svd(jacobian, compute_uv=False)
        if s[1] <= 0 or s[0] / s[1] > MAX_ANISOTROPY:
            return False
        dets.append(np.linalg.det(jacobian))
    dets_arr = np.array(dets)
    if np.any((dets_arr < 0) != mirrored):
        return False
    return bool(np.abs(dets_arr).max() / np.abs(dets_arr).min() <= MAX_AREA_VARIATION)


# PDQ variant i means query = op_i(original); these are op_i on centred, normalised coordinates (y down).
_DIHEDRAL = {
    "identity": ((1, 0), (0, 1)),
    "rotate_90_cw": ((0, -1), (1, 0)),
    "rotate_180": ((-1, 0), (0, -1)),
    "rotate_90_ccw": ((0, 1), (-1, 0)),
    "flip_vertical": ((1, 0), (0, -1)),
    "flip_horizontal": ((-1, 0), (0, 1)),
    "transpose": ((0, 1), (1, 0)),
    "transverse": ((0, -1), (-1, 0)),
}


def pdq_alignment(query: CanonicalImage, original: CanonicalImage, variant: int, crop: float = 1.0) -> Alignment:
    """The alignment a global PDQ hit implies: trimmed query content onto the (centred `crop` of the) trimmed
    original under one dihedral operation."""
    if not 0 <= variant < len(PDQ_VARIANTS):
        raise ValueError(f"PDQ variant must be 0-{len(PDQ_VARIANTS) - 1}, got {variant}")
    if not 0 < crop <= 1:
        raise ValueError(f"PDQ crop share must be in (0, 1], got {crop}")
    op = np.eye(3)
    op[:2, :2] = _DIHEDRAL[PDQ_VARIANTS[variant]]
    homography = _unit_from_box(original, crop) @ np.linalg.inv(op) @ np.linalg.inv(_unit_from_box(query, 1.0))
    return Alignment(homography, 0, 0, "pdq")


def _unit_from_box(image: CanonicalImage, crop: float) -> np.ndarray:
    """Centred unit coordinates of (the centred `crop` of) the trimmed content -> full-size pixels."""
    box = image.trim_box
    w, h = box.w * crop, box.h * crop
    return np.array([[w, 0, box.x + box.w / 2], [0, h, box.y + box.h / 2], [0, 0, 1.0]])
