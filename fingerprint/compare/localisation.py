"""Where was a verified copy altered? Differences beyond global colour, sharpness and geometry, as regions.

`localise` warps the query into the original's frame, refines the alignment, cancels global colour and sharpness
changes (`photometry`), takes a difference that tolerates two pixels of misalignment, averages it, thresholds it
robustly and turns it into regions in both frames.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fingerprint.compare.photometry import blur, colour_changed, match_colour, query_blur
from fingerprint.compare.types import Alignment, AlteredRegion, Localisation
from fingerprint.compare.verification import REPROJECTION_PX
from fingerprint.features import FEATURE_SIDE, pixel_to_full
from fingerprint.geometry import Rect, homography_jacobian, project
from fingerprint.media import CanonicalImage

__all__ = ["LOCALISE_SIDE", "MIN_REGION_SHARE", "disk", "localise", "shrunk"]

# Measurements behind each threshold are in docs/derivatives.md.

# Localisation runs on the original downscaled to this side; kernel sizes below are in these pixels.
LOCALISE_SIDE = 768
# Pixels of misalignment the difference forgives (min/max envelope radius) and the denoising blur.
_TOLERANCE_RADIUS = 2
_DENOISE_SIGMA = 1.0
# ECC refinement: iterations, the smallest side worth halving for, and the largest correction it may make (pixels):
# a bigger one means ECC wandered off (edits and flat areas can mislead it), not that RANSAC was that wrong. A query
# that shows the original small (a photo on a page) is magnified into the original's frame, and so is its keypoint
# error: the limit is then the keypoint reprojection tolerance, in the query's feature pixels, so magnified (a photo
# at a fifth of its size on a page needed 10 of the original's pixels, and was otherwise left with false regions).
_ECC_ITERATIONS = 40
_ECC_SIDE_MIN = 200
_ECC_MAX_SHIFT = 8.0
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
# Too little overlap to say anything about alterations.
_MIN_OVERLAP_SHARE = 0.05


def localise(
    query: CanonicalImage,
    original: CanonicalImage,
    alignment: Alignment,
    *,
    within: tuple[np.ndarray, np.ndarray] | None = None,
) -> Localisation:
    """Where the query's content differs from the original's, beyond global colour, sharpness and geometry.

    `within` limits the comparison to where the query shows the original (a composite's or a framed crop's
    footprint): a (h, w) bool mask on a grid of the query and that grid's pixel -> query full-size map.
    """
    for name, image in (("query", query), ("original", original)):
        pixels = image.pixels
        if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8 or min(pixels.shape[:2]) < 8:
            raise ValueError(f"{name} pixels must be an (h, w, 3) uint8 RGB array of at least 8x8")
    reference, reference_to_full = shrunk(original.pixels, pixel_to_full(original), LOCALISE_SIDE)
    height, width = reference.shape[:2]
    to_reference = np.linalg.inv(reference_to_full) @ alignment.homography @ pixel_to_full(query)
    jacobian, _ = homography_jacobian(
        to_reference / to_reference[2, 2], query.pixels.shape[1] / 2, query.pixels.shape[0] / 2
    )
    feature_pixel = max(query.pixels.shape[:2]) / FEATURE_SIDE  # query pixels
    max_shift = max(_ECC_MAX_SHIFT, REPROJECTION_PX * feature_pixel * math.sqrt(abs(np.linalg.det(jacobian))))
    pixels, to_reference = _prescale(query.pixels, to_reference)
    warped, overlap = _warp(pixels, to_reference, (width, height))
    if overlap.sum() < _MIN_OVERLAP_SHARE * height * width:
        return _nothing(overlap, warped, reference)
    refined = _refine(warped, reference, overlap, to_reference, max_shift)
    if refined is not None:
        to_reference = refined
        warped, overlap = _warp(pixels, to_reference, (width, height))
    if within is not None:
        mask, mask_to_full = within
        to_mask = np.linalg.inv(reference_to_full) @ alignment.homography @ mask_to_full
        overlap &= cv2.warpPerspective(mask.astype(np.uint8), to_mask, (width, height), flags=cv2.INTER_NEAREST) > 0
        if overlap.sum() < _MIN_OVERLAP_SHARE * height * width:
            return _nothing(overlap, warped, reference)

    softened = blur(reference.astype(np.float32), query_blur(warped, reference, overlap))
    query_values, reference_values, grayscale, changed = match_colour(warped, softened, overlap)
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
    if regions and not grayscale:
        changed = colour_changed(reference_values, softened, overlap & ~kept)
    heat = (score / threshold).astype(np.float32)
    fraction = round(float(kept.sum() / overlap.sum()), 5)
    return Localisation(regions, fraction, kept, heat, overlap, warped, reference, grayscale, changed)


def _nothing(overlap: np.ndarray, warped: np.ndarray, reference: np.ndarray) -> Localisation:
    """Too little overlap to say anything about alterations."""
    empty, heat = np.zeros(overlap.shape, bool), np.zeros(overlap.shape, np.float32)
    return Localisation((), 0.0, empty, heat, overlap, warped, reference, False, False)


def _warp(pixels: np.ndarray, to_reference: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The query in the reference's frame, and where it shows real query pixels away from any edge."""
    warped = cv2.warpPerspective(pixels, to_reference, size, flags=cv2.INTER_LINEAR)
    coverage = cv2.warpPerspective(np.full(pixels.shape[:2], 255, np.uint8), to_reference, size)
    # Erode from the frame's edges too: interpolation blends a rotated or rescaled query's edge with its fill.
    margin = disk(2 * _TOLERANCE_RADIUS + 3)
    return warped, cv2.erode(coverage, margin, borderType=cv2.BORDER_CONSTANT, borderValue=0) == 255


def _refine(
    warped: np.ndarray, reference: np.ndarray, overlap: np.ndarray, to_reference: np.ndarray, max_shift: float
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
    if np.abs(project(step, corners) - corners).max() > max_shift:
        return None
    return np.linalg.inv(step) @ to_reference


def shrunk(pixels: np.ndarray, to_full: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
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
    jacobian, _ = homography_jacobian(to_reference / to_reference[2, 2], w / 2, h / 2)
    factor = math.sqrt(abs(np.linalg.det(jacobian)))
    if factor >= 0.7:
        return pixels, to_reference
    size = (max(8, round(w * factor)), max(8, round(h * factor)))
    fx, fy = w / size[0], h / size[1]
    small_to_pixels = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1.0]])
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), to_reference @ small_to_pixels


def disk(size: int) -> np.ndarray:
    """An elliptical structuring element `size` pixels across."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _tolerant_difference(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel difference that forgives a shift of up to `_TOLERANCE_RADIUS` pixels, in both directions."""
    query, reference = blur(query, _DENOISE_SIGMA), blur(reference, _DENOISE_SIGMA)
    kernel = disk(2 * _TOLERANCE_RADIUS + 1)
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
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, disk(gap | 1))
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
        in_full = project(reference_to_full, corners)
        region = AlteredRegion(
            query=Rect.bounding(project(to_query, in_full), query.width, query.height),
            original=Rect.bounding(in_full, original.width, original.height),
            share=round(area / overlap_area, 5),
        )
        found.append((region, component))
    return sorted(found, key=lambda pair: -pair[0].share)
