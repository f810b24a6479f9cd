"""Derivative analysis: is a query a registered original, how was it transformed, and where was it altered?

The flow for one query, all on arrays (decoding is the caller's job, at `WORKING_SIDE`):

1. `verify` aligns the query's ORB keypoints (upright and mirrored) with an original's: ratio test, RANSAC homography,
   sanity checks that reject the degenerate models random matches produce, and at least `MIN_INLIERS` inliers.
   A strong PDQ hit whose keypoints do not align (a flat or tiny image) is aligned from its dihedral variant instead.
2. `localise` warps the query into the original's frame, cancels global colour and sharpness changes, takes a
   difference that tolerates two pixels of misalignment, averages it, thresholds it robustly and turns it into
   regions.
3. `describe_transform` reads crop, scale, rotation and flip from the homography.
4. `analyse` runs all of it over the candidates a registry found (PDQ hits and descriptor votes).

A match is a `copy` when the query shows the original's content with only global changes, and `altered` when some
region of the original was replaced or added to.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import cv2
import numpy as np

from fingerprint.algorithms.pdq import PDQ_VARIANTS
from fingerprint.features import LocalFeatures, pixel_to_full
from fingerprint.media import WORKING_SIDE, CanonicalImage

log = logging.getLogger(__name__)

__all__ = [
    "LOCALISE_SIDE",
    "MIN_INLIERS",
    "STRONG_PDQ_DISTANCE",
    "WEAK_PDQ_DISTANCE",
    "WORKING_SIDE",
    "Alignment",
    "AlteredRegion",
    "Candidate",
    "DerivativeMatch",
    "Localisation",
    "Rect",
    "ReferenceSource",
    "Transform",
    "analyse",
    "describe_transform",
    "localise",
    "pdq_alignment",
    "verify",
]

# --- thresholds (measurements behind each one are in docs/derivatives.md) ----------------------------------------

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
# RANSAC is re-run without the inliers of a degenerate model, this many times in all; iterations per run.
_RANSAC_ROUNDS = 3
_RANSAC_ITERATIONS = 2000
# Candidates found only by descriptor votes are verified if they have at least this share of the best votes.
_RELATIVE_VOTES = 0.2
# PDQ candidates: distance <= 31 is a match on its own; 32-63 is only a hint that keypoints must confirm.
STRONG_PDQ_DISTANCE = 31
WEAK_PDQ_DISTANCE = 63

# Localisation runs on the original downscaled to this side; kernel sizes below are in these pixels.
LOCALISE_SIDE = 768
# Pixels of misalignment the difference forgives (min/max envelope radius) and the denoising blur.
_TOLERANCE_RADIUS = 2
_DENOISE_SIGMA = 1.0
# ECC refinement: iterations, the smallest side worth halving for, and the largest correction it may make (pixels):
# a bigger one means ECC wandered off (edits and flat areas can mislead it), not that RANSAC was that wrong.
_ECC_ITERATIONS = 40
_ECC_SIDE_MIN = 200
_ECC_MAX_SHIFT = 8.0
# Blur levels tried on the original to match a softer query (resized down, blurred, re-encoded).
_SHARPNESS_SIGMAS = tuple(round(0.4 * i, 1) for i in range(11))
# The tone curve: bands of original values and the samples a band needs; the same for a colour-cube cell.
_TONE_BANDS = 32
_TONE_MIN_SAMPLES = 8
_CUBE_MIN_SAMPLES = 12
# Pixels sampled (evenly) from the overlap for the colour fits.
_COLOUR_SAMPLES = 120_000
# The colour cube that corrects what the per-channel tone curves leave (hue shifts): cells per channel.
_CUBE_LEVELS = 8
# The difference is averaged with this Gaussian (pixels) before thresholding.
_SMOOTH_SIGMA = 4.0
# Robust threshold on the averaged difference: median + K * MAD over the overlap, never below the floor (8-bit
# levels). Measured on 391 benign and 170 edited queries (docs/derivatives.md).
_THRESHOLD_K = 14.0
_THRESHOLD_FLOOR = 15.0
# Regions grow from above-threshold seeds into pixels above this share of the threshold (feathered edges).
_HYSTERESIS = 0.5
# A region must cover this share of the overlap (0.2%, the smallest edit worth reporting).
MIN_REGION_SHARE = 0.002
# Glyphs of a caption are merged into word boxes by a closing this wide (share of the image's longer side).
_WORD_GAP_SHARE = 0.025
# A global photometric change is reported when the colour fit moves pixels by this much on average (8-bit levels).
_PHOTOMETRIC_TOLERANCE = 4.0
# Too little overlap to say anything about alterations.
_MIN_OVERLAP_SHARE = 0.05

# A query showing less than this share of the original is cropped; one whose area is less than this share the
# original's content is framed (padding, screenshot chrome, the corners a rotation adds).
_FULL_SHARE = 0.97

Verdict = Literal["copy", "altered"]


# --- values -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in full-size pixels: top-left corner, width and height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    @classmethod
    def bounding(cls, points: np.ndarray, width: int, height: int) -> Rect:
        """The bounding rectangle of (n, 2) points, clipped to a width x height image."""
        x0, y0 = np.clip(np.floor(points.min(axis=0)), 0, [width, height]).astype(int)
        x1, y1 = np.clip(np.ceil(points.max(axis=0)), 0, [width, height]).astype(int)
        return cls(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


@dataclass(frozen=True, slots=True, eq=False)
class Alignment:
    """A verified geometric relation: `homography` maps query full-size pixels to original full-size pixels."""

    homography: np.ndarray  # (3, 3) float64
    inliers: int  # keypoint matches consistent with it; 0 when aligned from a PDQ variant
    matches: int  # matches that passed the ratio test
    method: Literal["orb", "pdq"]

    @property
    def flipped(self) -> bool:
        return bool(np.linalg.det(self.homography[:2, :2]) < 0)


@dataclass(frozen=True, slots=True)
class Transform:
    """What was done to the original to make the query, as far as geometry and global colour tell.

    `rotation` is counter-clockwise in degrees; a flip is reported as a horizontal mirror applied first (a vertical
    flip is a mirror plus 180 degrees). `scale` is query pixels per original pixel (full-size frames).
    """

    crop: Rect  # the part of the original the query shows, in original pixels
    cropped: bool
    content: Rect  # where the original's content sits in the query, in query pixels
    framed: bool  # the query adds padding, a screenshot frame or other surroundings
    scale: float
    aspect_change: float  # horizontal over vertical stretch, 1.0 when the aspect ratio was kept
    rotation: float
    flipped: bool
    perspective: bool
    photometric_change: bool
    grayscale: bool


@dataclass(frozen=True, slots=True)
class AlteredRegion:
    """One place where the query's content differs from the original's, in both frames."""

    query: Rect
    original: Rect
    share: float  # of the overlapping area


@dataclass(frozen=True, slots=True, eq=False)
class Localisation:
    """The difference between a query and its original, in the original's frame at `LOCALISE_SIDE`."""

    regions: tuple[AlteredRegion, ...]
    altered_fraction: float  # altered pixels over the pixels both images show
    mask: np.ndarray  # (h, w) bool, original's frame at localisation resolution
    heat: np.ndarray  # (h, w) float32, the thresholded-difference score (1.0 = at threshold)
    overlap: np.ndarray  # (h, w) bool, where the warped query covers the original
    warped: np.ndarray  # (h, w, 3) uint8, the query warped into the original's frame, colour-corrected
    original: np.ndarray  # (h, w, 3) uint8, the original at localisation resolution
    grayscale: bool
    photometric_change: bool

    @property
    def verdict(self) -> Verdict:
        return "altered" if self.regions else "copy"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reference worth verifying, as found by the global PDQ search or by descriptor votes."""

    reference_id: str
    pdq_distance: int | None = None
    pdq_variant: int = 0  # index into PDQ_VARIANTS of the query hash that hit
    pdq_crop: float = 1.0  # share of each side of the original the hit hash covers (features.EXTRA_PDQ_CROPS)
    votes: int = 0

    def strong(self, strong_distance: int = STRONG_PDQ_DISTANCE) -> bool:
        """A global hit close enough to accept without keypoints (aligned from its PDQ variant if need be)."""
        return self.pdq_distance is not None and self.pdq_distance <= strong_distance


@dataclass(frozen=True, slots=True, eq=False)
class DerivativeMatch:
    """A query verified against one original, with what was done to it and where it differs."""

    reference_id: str
    verdict: Verdict
    transform: Transform
    regions: tuple[AlteredRegion, ...]
    altered_fraction: float
    alignment: Alignment
    candidate: Candidate
    localisation: Localisation | None = field(default=None, repr=False)


class ReferenceSource(Protocol):
    """What `analyse` needs from the registry about a candidate original."""

    def features(self, reference_id: int) -> LocalFeatures | None:
        """The original's stored keypoints, or None when it has none."""
        ...

    def original(self, reference_id: int) -> CanonicalImage:
        """The original decoded with `load_image(..., max_side=WORKING_SIDE)`."""
        ...


# --- verification -----------------------------------------------------------------------------------------------


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
    homography, inliers = found
    return Alignment(homography / homography[2, 2], inliers, len(good), "orb")


def _homography(src: np.ndarray, dst: np.ndarray, threshold: float, mirrored: bool) -> tuple[np.ndarray, int] | None:
    """RANSAC homography; a degenerate model's inliers are set aside and RANSAC runs again on the rest."""
    remaining = np.ones(len(src), bool)
    for _ in range(_RANSAC_ROUNDS):
        if remaining.sum() < MIN_INLIERS:
            return None
        homography, inlier_mask = cv2.findHomography(
            src[remaining], dst[remaining], cv2.RANSAC, threshold, maxIters=_RANSAC_ITERATIONS
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
    inliers = np.linalg.norm(_project(homography, src) - dst, axis=1) <= threshold
    if inliers.sum() < MIN_INLIERS or not _plausible(homography, src[inliers], mirrored=mirrored):
        return None
    return homography, int(inliers.sum())


def _plausible(homography: np.ndarray, points: np.ndarray, *, mirrored: bool) -> bool:
    """Reject the collapsed, folded or wildly stretched homographies that random matches produce."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    dets = []
    for x, y in corners:
        jacobian, w = _jacobian(homography, x, y)
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


def _jacobian(homography: np.ndarray, x: float, y: float) -> tuple[np.ndarray, float]:
    """The local linear part of a homography at (x, y), and its projective denominator there."""
    h = homography
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = h[0, 0] * x + h[0, 1] * y + h[0, 2]
    v = h[1, 0] * x + h[1, 1] * y + h[1, 2]
    jacobian = np.array(
        [
            [h[0, 0] * w - u * h[2, 0], h[0, 1] * w - u * h[2, 1]],
            [h[1, 0] * w - v * h[2, 0], h[1, 1] * w - v * h[2, 1]],
        ]
    ) / (w * w)
    return jacobian, float(w)


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
    w, h = box.width * crop, box.height * crop
    return np.array([[w, 0, box.x0 + box.width / 2], [0, h, box.y0 + box.height / 2], [0, 0, 1.0]])


# --- the transform report ---------------------------------------------------------------------------------------


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
    centre = _project(to_original, np.array([[qw / 2, qh / 2]]))[0]
    jacobian, _ = _jacobian(to_query / to_query[2, 2], *centre)
    flipped = bool(np.linalg.det(jacobian) < 0)
    unflipped = jacobian @ np.diag([-1.0, 1.0]) if flipped else jacobian
    rotation = math.degrees(math.atan2(-unflipped[1, 0], unflipped[0, 0]))
    columns = np.linalg.norm(unflipped, axis=0)
    query_quad = np.array([[0, 0], [qw, 0], [qw, qh], [0, qh]], np.float64)
    original_quad = np.array([[0, 0], [ow, 0], [ow, oh], [0, oh]], np.float64)
    crop, crop_area = _visible(_project(to_original, query_quad), original_quad, ow, oh)
    content, content_area = _visible(_project(to_query, original_quad), query_quad, qw, qh)
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


def _project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    projected = np.c_[points, np.ones(len(points))] @ homography.T
    return projected[:, :2] / projected[:, 2:3]


def _visible(quad: np.ndarray, frame: np.ndarray, width: int, height: int) -> tuple[Rect, float]:
    """Bounding rectangle and area of a projected quadrilateral's intersection with an image frame."""
    area, polygon = cv2.intersectConvexConvex(quad.astype(np.float32), frame.astype(np.float32))
    if area <= 0 or polygon is None:
        return Rect.bounding(quad, width, height), 0.0
    return Rect.bounding(polygon.reshape(-1, 2).astype(np.float64), width, height), float(area)


# --- localisation -----------------------------------------------------------------------------------------------


def localise(query: CanonicalImage, original: CanonicalImage, alignment: Alignment) -> Localisation:
    """Where the query's content differs from the original's, beyond global colour, sharpness and geometry."""
    for name, image in (("query", query), ("original", original)):
        pixels = image.pixels
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8 or min(pixels.shape[:2]) < 8:
            raise ValueError(f"{name} pixels must be an (h, w, 3) uint8 RGB array of at least 8x8")
    reference, reference_to_full = _shrunk(original.pixels, pixel_to_full(original), LOCALISE_SIDE)
    height, width = reference.shape[:2]
    to_reference = np.linalg.inv(reference_to_full) @ alignment.homography @ pixel_to_full(query)
    pixels, to_reference = _prescale(query.pixels, to_reference)
    warped, overlap = _warp(pixels, to_reference, (width, height))
    if overlap.sum() < _MIN_OVERLAP_SHARE * height * width:
        empty, heat = np.zeros((height, width), bool), np.zeros((height, width), np.float32)
        return Localisation((), 0.0, empty, heat, overlap, warped, reference, False, False)
    refined = _refine(warped, reference, overlap, to_reference)
    if refined is not None:
        to_reference = refined
        warped, overlap = _warp(pixels, to_reference, (width, height))

    softened = _blur(reference.astype(np.float32), _query_blur(warped, reference, overlap))
    query_values, reference_values, grayscale, changed = _match_colour(warped, softened, overlap)
    difference = _tolerant_difference(query_values, reference_values)
    difference[~overlap] = 0
    # Averaging over a few pixels separates an edit (a coherent patch of difference) from resampling and
    # compression residue (scattered pixels) far better than any per-pixel threshold.
    score = cv2.GaussianBlur(difference, (0, 0), _SMOOTH_SIGMA)
    score[~overlap] = 0
    threshold = _threshold(score[overlap])
    mask = _regions_mask(score, threshold, overlap)
    found = _regions(mask, overlap, reference_to_full, alignment.homography, query, original)
    kept = np.zeros_like(mask)
    for _, component in found:
        kept |= component
    regions = tuple(region for region, _ in found)
    heat = (score / threshold).astype(np.float32)
    fraction = round(float(kept.sum() / overlap.sum()), 5)
    return Localisation(regions, fraction, kept, heat, overlap, warped, reference, grayscale, changed)


def _warp(pixels: np.ndarray, to_reference: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The query in the reference's frame, and where it shows real query pixels away from any edge."""
    warped = cv2.warpPerspective(pixels, to_reference, size, flags=cv2.INTER_LINEAR)
    coverage = cv2.warpPerspective(np.full(pixels.shape[:2], 255, np.uint8), to_reference, size)
    # Erode from the frame's edges too: interpolation blends a rotated or rescaled query's edge with its fill.
    margin = _disk(2 * _TOLERANCE_RADIUS + 3)
    return warped, cv2.erode(coverage, margin, borderType=cv2.BORDER_CONSTANT, borderValue=0) == 255


def _refine(
    warped: np.ndarray, reference: np.ndarray, overlap: np.ndarray, to_reference: np.ndarray
) -> np.ndarray | None:
    """Keypoint homographies are off by a pixel or two; an affine ECC correction on intensities (at half size)
    brings that to a fraction.

    Returns the refined query -> reference map, or None when ECC does not converge or moves things implausibly.
    """
    factor = 2.0 if max(reference.shape[:2]) > 2 * _ECC_SIDE_MIN else 1.0
    size = (round(reference.shape[1] / factor), round(reference.shape[0] / factor))
    template = cv2.resize(cv2.cvtColor(reference, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    moving = cv2.resize(cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(overlap.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, _ECC_ITERATIONS, 1e-4)
    try:
        _, step = cv2.findTransformECC(
            template.astype(np.float32),
            moving.astype(np.float32),
            np.eye(2, 3, dtype=np.float32),
            cv2.MOTION_AFFINE,
            criteria,
            mask,
            5,
        )
    except cv2.error:
        return None
    scale = np.array([[factor, 0, 0.5 * factor - 0.5], [0, factor, 0.5 * factor - 0.5], [0, 0, 1.0]])
    step = scale @ np.vstack([step, [0, 0, 1]]).astype(np.float64) @ np.linalg.inv(scale)
    corners = np.array(
        [[0, 0], [reference.shape[1], 0], [reference.shape[1], reference.shape[0]], [0, reference.shape[0]]]
    )
    if np.abs(_project(step, corners) - corners).max() > _ECC_MAX_SHIFT:
        return None
    return np.linalg.inv(step) @ to_reference


def _shrunk(pixels: np.ndarray, to_full: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """`pixels` at most `side` on the longer side, with its pixel -> full-size map."""
    factor = max(pixels.shape[:2]) / side
    if factor <= 1:
        return pixels, to_full
    size = (max(1, round(pixels.shape[1] / factor)), max(1, round(pixels.shape[0] / factor)))
    fx, fy = pixels.shape[1] / size[0], pixels.shape[0] / size[1]
    small_to_pixels = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), to_full @ small_to_pixels


def _prescale(pixels: np.ndarray, to_reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink a query much larger than its footprint first: warpPerspective would alias it."""
    h, w = pixels.shape[:2]
    jacobian, _ = _jacobian(to_reference / to_reference[2, 2], w / 2, h / 2)
    factor = math.sqrt(abs(np.linalg.det(jacobian)))
    if factor >= 0.7:
        return pixels, to_reference
    size = (max(8, round(w * factor)), max(8, round(h * factor)))
    fx, fy = w / size[0], h / size[1]
    small_to_pixels = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), to_reference @ small_to_pixels


def _disk(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _match_colour(
    warped: np.ndarray, reference: np.ndarray, overlap: np.ndarray
) -> tuple[np.ndarray, np.ndarray, bool, bool]:  # reference: float32, already as soft as the query
    """The query and the original as float32 channels, the original recoloured to predict the query.

    The fit goes from original to query (a robust affine colour map, then clipped to 0-255) so that contrast
    boosts that saturate the query are predicted, not flagged. A query stripped of colour is compared on
    luminance only: no fit can restore chroma it no longer has.
    """
    query_f, reference_f = warped.astype(np.float32), reference
    index = np.flatnonzero(overlap.ravel())
    index = index[:: max(1, len(index) // _COLOUR_SAMPLES)]
    query_sample, reference_sample = query_f.reshape(-1, 3)[index], reference_f.reshape(-1, 3)[index]
    query_chroma = float(np.mean(np.ptp(query_sample[::8], axis=1)))
    reference_chroma = float(np.mean(np.ptp(reference_sample[::8], axis=1)))
    grayscale = query_chroma < 4.0 and reference_chroma >= 10.0
    if grayscale or reference_chroma < 4.0:
        weights = np.array([0.299, 0.587, 0.114], np.float32)
        query_f, reference_f = (query_f @ weights)[..., None], (reference_f @ weights)[..., None]
        query_sample, reference_sample = query_sample @ weights[:, None], reference_sample @ weights[:, None]
    channels = query_f.shape[2]
    predicted = reference_f.reshape(-1, channels).copy()
    predicted_sample = reference_sample.copy()
    for channel in range(channels):  # tone: brightness, contrast, gamma, curves and clipping, channel by channel
        curve_x, curve_y = _tone_curve(reference_sample[:, channel], query_sample[:, channel])
        predicted[:, channel] = np.interp(predicted[:, channel], curve_x, curve_y)
        predicted_sample[:, channel] = np.interp(predicted_sample[:, channel], curve_x, curve_y)
    if channels == 3:
        predicted, predicted_sample = _colour_cube(
            reference_f.reshape(-1, 3), reference_sample, predicted, predicted_sample, query_sample
        )
    changed = grayscale or bool(np.abs(predicted_sample - reference_sample).mean() > _PHOTOMETRIC_TOLERANCE)
    predicted = predicted.reshape(reference_f.shape).astype(np.float32)
    # outside the overlap the query shows nothing of the original: fill it so that blurs do not smear its frame in
    query_f[~overlap] = predicted[~overlap]
    return query_f, predicted, grayscale, changed


def _colour_cube(
    reference: np.ndarray,
    reference_sample: np.ndarray,
    predicted: np.ndarray,
    predicted_sample: np.ndarray,
    query_sample: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """What the tone curves leave (hue rotations, selective colour) as a median correction per original colour cell.

    Cells are indexed by the *original's* colour, so an edit only shifts a cell's median if it covers most of the
    pixels of that colour.
    """
    cells_sample = _colour_cell(reference_sample)
    correction = np.zeros((_CUBE_LEVELS**3, 3), np.float32)
    cells, medians = _group_medians(cells_sample, query_sample - predicted_sample, _CUBE_MIN_SAMPLES)
    correction[cells] = medians
    corrected = np.clip(predicted + correction[_colour_cell(reference)], 0, 255)
    return corrected, np.clip(predicted_sample + correction[cells_sample], 0, 255)


def _colour_cell(values: np.ndarray) -> np.ndarray:
    levels = np.minimum((values * (_CUBE_LEVELS / 256)).astype(np.int32), _CUBE_LEVELS - 1)
    return (levels[:, 0] * _CUBE_LEVELS + levels[:, 1]) * _CUBE_LEVELS + levels[:, 2]


def _tone_curve(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A monotone curve: the median `target` value for each band of `source` values.

    Conditioning on the original's value keeps an edit from bending the curve (its pixels are a minority in every
    band they fall in), which matching quantiles does not: a white caption shifts the brightest quantiles of the
    whole query. Beyond the populated bands the curve keeps the offset instead of flattening rare highlights.
    """
    bands = np.minimum((source * (_TONE_BANDS / 256)).astype(np.int32), _TONE_BANDS - 1)
    _, medians = _group_medians(bands, np.c_[source, target], _TONE_MIN_SAMPLES)
    xs, ys = medians[:, 0], medians[:, 1]
    if len(xs) < 2:
        offset = float(np.median(target - source))
        return np.array([0.0, 255.0]), np.clip([offset, 255 + offset], 0, 255)
    ys = np.maximum.accumulate(ys)
    return np.r_[xs[0] - 255, xs, xs[-1] + 255], np.clip(np.r_[ys[0] - 255, ys, ys[-1] + 255], 0, 255)


def _group_medians(groups: np.ndarray, values: np.ndarray, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """The groups with at least `minimum` members, ascending, and the column medians of `values` (n, k) in each."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    ends = np.r_[starts[1:], len(order)]
    keep = (ends - starts) >= minimum
    sorted_values = values[order]
    medians = [np.median(sorted_values[a:b], axis=0) for a, b in zip(starts[keep], ends[keep], strict=True)]
    return sorted_groups[starts[keep]], np.array(medians, np.float32).reshape(-1, values.shape[1])


def _query_blur(warped: np.ndarray, reference: np.ndarray, overlap: np.ndarray) -> float:
    """The Gaussian blur that makes the original as soft as the query (resized-down, blurred, re-encoded queries).

    Chosen on half-size grey copies, each standardised so that colour changes do not matter, by mean error: edges
    dominate a mean, while a median would only see the flat areas, where blur changes nothing.
    """
    size = (max(8, reference.shape[1] // 2), max(8, reference.shape[0] // 2))
    inside = cv2.resize(overlap.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    query_small, reference_small = (
        cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA).astype(np.float32)
        for image in (warped, reference)
    )
    query_small = _standardised(query_small, inside)
    errors = [
        float(np.abs(query_small - _standardised(_blur(reference_small, sigma / 2), inside))[inside].mean())
        for sigma in _SHARPNESS_SIGMAS
    ]
    return _SHARPNESS_SIGMAS[int(np.argmin(errors))]


def _standardised(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    selected = values[inside]
    return (values - selected.mean()) / (selected.std() + 1e-3)


def _blur(values: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return values
    blurred = cv2.GaussianBlur(values, (0, 0), sigma)
    return blurred.reshape(values.shape)


def _tolerant_difference(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel difference that forgives a shift of up to `_TOLERANCE_RADIUS` pixels, in both directions."""
    query, reference = _blur(query, _DENOISE_SIGMA), _blur(reference, _DENOISE_SIGMA)
    kernel = _disk(2 * _TOLERANCE_RADIUS + 1)
    result = np.zeros(query.shape[:2], np.float32)
    for a, b in ((query, reference), (reference, query)):
        high = cv2.dilate(b, kernel).reshape(b.shape)
        low = cv2.erode(b, kernel).reshape(b.shape)
        excess = np.maximum(a - high, low - a)
        for channel in range(excess.shape[2]):  # a per-channel loop: numpy's max over the last axis is 20x slower
            result = np.maximum(result, excess[..., channel])
    return np.maximum(result, 0)


def _threshold(values: np.ndarray) -> float:
    values = values[:: max(1, len(values) // 50_000)]
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    return max(_THRESHOLD_FLOOR, median + _THRESHOLD_K * mad)


def _regions_mask(score: np.ndarray, threshold: float, overlap: np.ndarray) -> np.ndarray:
    """Candidate altered pixels: hysteresis, then glyphs and fragments merged into solid word or object shapes.

    There is no morphological opening: it would erase the thin strokes of inserted text.
    """
    strong = (score > threshold).astype(np.uint8)
    weak = (score > threshold * _HYSTERESIS).astype(np.uint8)
    count, labels = cv2.connectedComponents(weak, connectivity=8)
    seeded = np.zeros(count, bool)
    seeded[np.unique(labels[strong > 0])] = True
    seeded[0] = False
    mask = seeded[labels].astype(np.uint8)
    gap = max(3, round(_WORD_GAP_SHARE * max(score.shape)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disk(gap | 1))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return (filled > 0) & overlap


def _regions(
    mask: np.ndarray,
    overlap: np.ndarray,
    reference_to_full: np.ndarray,
    homography: np.ndarray,
    query: CanonicalImage,
    original: CanonicalImage,
) -> list[tuple[AlteredRegion, np.ndarray]]:
    """The mask's components large enough to report, as regions in both frames, largest first."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    overlap_area = float(overlap.sum())
    to_query = np.linalg.inv(homography)
    found = []
    for label in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < MIN_REGION_SHARE * overlap_area:
            continue
        component = labels == label
        corners = np.array(
            [[x - 0.5, y - 0.5], [x + w - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5], [x - 0.5, y + h - 0.5]]
        )
        in_full = _project(reference_to_full, corners)
        region = AlteredRegion(
            query=Rect.bounding(_project(to_query, in_full), query.width, query.height),
            original=Rect.bounding(in_full, original.width, original.height),
            share=round(area / overlap_area, 5),
        )
        found.append((region, component))
    return sorted(found, key=lambda pair: -pair[0].share)


# --- orchestration ----------------------------------------------------------------------------------------------


def analyse(
    query: CanonicalImage,
    features: Sequence[LocalFeatures],
    candidates: Sequence[Candidate],
    references: ReferenceSource,
    *,
    max_verified: int = 6,
    strong_distance: int = STRONG_PDQ_DISTANCE,
    weak_distance: int = WEAK_PDQ_DISTANCE,
) -> list[DerivativeMatch]:
    """Verify candidates (strong PDQ hits first, then weak hits, then by votes) and analyse each one that aligns.

    `features` are the query's (`extract_query_features`: upright and mirrored); `query` was decoded at
    `WORKING_SIDE`. Every strong PDQ hit (within `strong_distance`) is examined; other candidates only up to
    `max_verified` in all.
    """
    if max_verified < 0:
        raise ValueError("max_verified must not be negative")
    matches = []
    for rank, candidate in enumerate(_ranked(candidates, strong_distance, weak_distance)):
        strong = candidate.strong(strong_distance)
        if rank >= max_verified and not strong:
            break
        match = _analyse_one(query, features, candidate, references, strong)
        if match is not None:
            matches.append(match)
    return sorted(matches, key=lambda m: (-m.alignment.inliers, m.candidate.pdq_distance or 0, m.reference_id))


def _ranked(candidates: Sequence[Candidate], strong_distance: int, weak_distance: int) -> list[Candidate]:
    """One candidate per reference (best PDQ distance, most votes), in the order worth verifying."""
    merged: dict[int, Candidate] = {}
    for candidate in candidates:
        known = merged.get(candidate.reference_id)
        if known is None:
            merged[candidate.reference_id] = candidate
            continue
        pdq = min((c for c in (known, candidate) if c.pdq_distance is not None), key=_pdq_key, default=known)
        merged[candidate.reference_id] = Candidate(
            candidate.reference_id, pdq.pdq_distance, pdq.pdq_variant, pdq.pdq_crop, max(known.votes, candidate.votes)
        )

    def priority(candidate: Candidate) -> tuple[int, int, int]:
        distance = candidate.pdq_distance
        if distance is not None and distance <= strong_distance:
            return (0, distance, -candidate.votes)
        if distance is not None and distance <= weak_distance:
            return (1, distance, -candidate.votes)
        return (2, -candidate.votes, 0)

    # Vote-only candidates far behind the best vote count are random resemblances: not worth a verification.
    floor = _RELATIVE_VOTES * max((c.votes for c in merged.values()), default=0)
    kept = [c for c in merged.values() if c.pdq_distance is not None or c.votes >= floor]
    return sorted(kept, key=lambda c: (*priority(c), c.reference_id))


def _pdq_key(candidate: Candidate) -> int:
    return candidate.pdq_distance if candidate.pdq_distance is not None else math.inf  # type: ignore[return-value]


def _analyse_one(
    query: CanonicalImage,
    features: Sequence[LocalFeatures],
    candidate: Candidate,
    references: ReferenceSource,
    strong: bool,
) -> DerivativeMatch | None:
    reference_features = references.features(candidate.reference_id)
    alignment = None
    for orientation in features if reference_features is not None else ():
        # the first orientation that aligns wins: an upright match is never also a mirrored one
        alignment = verify(orientation, reference_features)
        if alignment is not None:
            break
    if alignment is None and not strong:
        return None
    original = references.original(candidate.reference_id)
    if alignment is None:
        alignment = pdq_alignment(query, original, candidate.pdq_variant, candidate.pdq_crop)
    localisation = localise(query, original, alignment)
    transform = describe_transform(
        alignment,
        (query.width, query.height),
        (original.width, original.height),
        photometric_change=localisation.photometric_change,
        grayscale=localisation.grayscale,
    )
    log.debug("reference %s: %s, %d inliers", candidate.reference_id, localisation.verdict, alignment.inliers)
    return DerivativeMatch(
        reference_id=candidate.reference_id,
        verdict=localisation.verdict,
        transform=transform,
        regions=localisation.regions,
        altered_fraction=localisation.altered_fraction,
        alignment=alignment,
        candidate=candidate,
        localisation=localisation,
    )
