"""Where does the original's content sit in the query, and what surrounds it: framing, or another photograph?

The alignment says where the original's frame would fall in the query; it does not say that the query shows the
original everywhere there. A composite pastes part of a registered photo into another photograph: the projected
frame then covers the whole query, and most of it shows the other photograph. So the original, warped into the
query's frame, is compared with the query block by block (normalised cross-correlation on a small grey copy: blind
to colour grading, resampling and re-encoding); the blocks that disagree and reach the footprint's outside are
taken off it. What is left around the footprint is then judged by measured statistics (docs/derivatives.md,
*Composites*):

- *framing*: padding, letterbox, a page, app chrome, the corners a rotation adds (a few flat colours make up most
  of a band around the footprint), or the platforms' presentation over an enlarged, blurred copy of the photo
  itself (the surroundings are predicted by that copy);
- *photographic*: anything else, that is other photographic content: the query is a composite.

>>> import numpy as np
>>> _band_uniformity(np.full((40, 40, 3), 200, np.uint8), np.ones((40, 40), bool))
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from fingerprint.compare.localisation import disk, shrunk
from fingerprint.compare.transform import visible
from fingerprint.compare.types import Alignment
from fingerprint.features import pixel_to_full
from fingerprint.geometry import Rect, homography_jacobian, project
from fingerprint.media import CanonicalImage

__all__ = ["Surroundings", "find_surroundings"]

# Measurements behind each threshold are in docs/derivatives.md (bench/photo_claims.py).

# The block comparison runs on the query shrunk to this side, with windows this wide (pixels of that copy).
_GRID_SIDE = 192
_WINDOW = 9
# A window is informative when the query or the original varies in it by this grey-level standard deviation; an
# informative window whose correlation is below this shows other content. Blocks that disagree are merged by a
# closing this wide, and kept when they cover this share of the query.
_TEXTURE_STD = 4.0
_DISAGREE = 0.25
_CLOSE = 7
_MIN_FOREIGN = 0.01
# Surroundings below this share of the query are not worth a claim; a composite needs this much other content.
_MIN_SURROUNDINGS = 0.03
_MIN_ADDED = 0.10
# Footprint shrinkage below this share of the query is grid noise: the geometric content box stands.
_MIN_SHRINK = 0.02
# The band around the footprint that is judged: this share of the footprint's shorter side, on a copy this size.
_BAND_SHARE = 0.08
_BAND_SIDE = 512
# Framing: the four commonest colours (4-level bins) cover at least this share of the band. Measured: padding,
# letterbox, pages, windows 0.77-1.00; other photographs around a pasted part 0.01-0.54.
_UNIFORM = 0.65
# ... or the surroundings are the photo itself, enlarged to cover the query and blurred (optionally darkened): RMS
# error at most this many grey levels on a copy this size. Measured: 0.4-5.6 for that presentation, 20-139 for
# other photographs.
_SELF_ERROR = 10.0
_SELF_SIDE = 64
_SELF_SIGMAS = (0.5, 1.0, 2.0, 3.0, 4.0)

Kind = Literal["none", "framing", "photographic"]


@dataclass(frozen=True, slots=True, eq=False)
class Surroundings:
    """The original's footprint in the query and what lies around it."""

    kind: Kind  # none: the original fills the query
    share: float  # of the query's full frame outside the footprint
    content: Rect | None  # the footprint's box in query full-size pixels; None: the alignment's projection stands
    added: tuple[Rect, ...]  # photographic surroundings only: the query outside `content`, as up to four bands
    uniformity: float  # the band statistic (share of the four commonest colours)
    self_error: float  # RMS error against the enlarged, blurred photo itself (inf when not measured)
    footprint: np.ndarray  # (h, w) bool on a small grid of the query's trimmed pixels
    grid_to_full: np.ndarray  # that grid's pixel -> query full-size map

    @property
    def composite(self) -> bool:
        """Other photographic content around the original's footprint, outside its box: blocks that disagree inside
        the box (a colour grade that the grey correlation does not forgive everywhere, a local edit) are the
        localisation's to judge, not content added around the original."""
        return bool(self.kind == "photographic" and self.share >= _MIN_ADDED and self.added)

    @property
    def framed(self) -> bool:
        return self.kind == "framing"


def find_surroundings(query: CanonicalImage, original: CanonicalImage, alignment: Alignment) -> Surroundings:
    """The footprint of the original in the query and the kind of content around it."""
    small, grid_to_full = shrunk(query.pixels, pixel_to_full(query), _GRID_SIDE)
    cover, disagree = _compare(small, grid_to_full, original, alignment)
    foreign = cv2.morphologyEx(disagree.astype(np.uint8), cv2.MORPH_CLOSE, disk(_CLOSE))
    foreign = _filled(foreign) & cover
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreign.astype(np.uint8), connectivity=8)
    big = np.r_[False, stats[1:, cv2.CC_STAT_AREA] >= _MIN_FOREIGN * foreign.size]
    inside = cover & ~big[labels]
    count, labels, stats, _ = cv2.connectedComponentsWithStats(inside.astype(np.uint8), connectivity=4)
    footprint = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA])) if count > 1 else inside
    outer = ~_filled(footprint)
    full_area = float(query.width * query.height)
    cell_area = query.trim_box.area / outer.size
    taken_off = footprint.any() and (outer & cover).sum() * cell_area / full_area >= _MIN_SHRINK
    content = _box(footprint, grid_to_full, query) if taken_off else None
    if taken_off:
        share = (full_area - query.trim_box.area + outer.sum() * cell_area) / full_area
    else:  # the projected frame is exact where nothing was taken off it
        w, h = original.width, original.height
        projected = project(np.linalg.inv(alignment.homography), np.array([[0, 0], [w, 0], [w, h], [0, h]]))
        share = 1.0 - visible(projected, query.width, query.height)[1] / full_area
    none = Surroundings("none", share, content, (), 0.0, np.inf, footprint, grid_to_full)
    if share < _MIN_SURROUNDINGS or not footprint.any():
        return none
    uniformity = _surroundings_uniformity(query, footprint, grid_to_full)
    if uniformity >= _UNIFORM:
        return Surroundings("framing", share, content, (), uniformity, np.inf, footprint, grid_to_full)
    self_error = _self_error(query, original, outer)
    if self_error <= _SELF_ERROR:
        return Surroundings("framing", share, content, (), uniformity, self_error, footprint, grid_to_full)
    box = content or _box(footprint, grid_to_full, query)
    return Surroundings("photographic", share, box, _bands(box, query), uniformity, self_error, footprint, grid_to_full)


def _compare(
    small: np.ndarray, grid_to_full: np.ndarray, original: CanonicalImage, alignment: Alignment
) -> tuple[np.ndarray, np.ndarray]:
    """Where the original's frame falls on the grid, and the informative windows whose content is not the original's."""
    height, width = small.shape[:2]
    to_grid = np.linalg.inv(grid_to_full) @ np.linalg.inv(alignment.homography)  # original full size -> grid
    jacobian, _ = homography_jacobian(to_grid / to_grid[2, 2], original.width / 2, original.height / 2)
    side_on_grid = float(np.sqrt(abs(np.linalg.det(jacobian)))) * max(original.width, original.height)
    reference, reference_to_full = shrunk(original.pixels, pixel_to_full(original), max(16, round(1.5 * side_on_grid)))
    to_small = to_grid @ reference_to_full
    warped = cv2.warpPerspective(reference, to_small, (width, height), flags=cv2.INTER_LINEAR)
    # the original's whole frame, its trimmed borders included: the query shows them too
    frame = np.array([[0, 0], [original.width, 0], [original.width, original.height], [0, original.height]])
    cover: np.ndarray = np.zeros((height, width), np.uint8)
    corners = np.clip(project(to_grid, frame), -1e5, 1e5)  # far outside the grid is as good as infinitely far
    cv2.fillPoly(cover, [np.round(corners * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    cover = cover > 0
    # windows straddling the edge of the original's content compare it with something else: no evidence either way;
    # nor is its trimmed border, uniform only within the trim's tolerance (a faint sky, not the edge colour)
    shown = cv2.warpPerspective(np.full(reference.shape[:2], 255, np.uint8), to_small, (width, height)) == 255
    core = cv2.erode(shown.astype(np.uint8), disk(_WINDOW), borderType=cv2.BORDER_CONSTANT, borderValue=1) > 0
    q, o = (
        cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
        for image in (small, warped)
    )
    window = (_WINDOW, _WINDOW)
    mean_q, mean_o = cv2.blur(q, window), cv2.blur(o, window)
    var_q = np.maximum(cv2.blur(q * q, window) - mean_q * mean_q, 0)
    var_o = np.maximum(cv2.blur(o * o, window) - mean_o * mean_o, 0)
    correlation = (cv2.blur(q * o, window) - mean_q * mean_o) / np.sqrt(var_q * var_o + 1e-3)
    informative = ((var_q > _TEXTURE_STD**2) | (var_o > _TEXTURE_STD**2)) & core
    return cover, informative & (correlation < _DISAGREE)


def _surroundings_uniformity(query: CanonicalImage, footprint: np.ndarray, grid_to_full: np.ndarray) -> float:
    """The band statistic around the footprint, in the query's full frame: trimmed borders count as uniform (they are
    uniform by construction)."""
    scale = _BAND_SIDE / max(query.width, query.height)
    size = (max(8, round(query.width * scale)), max(8, round(query.height * scale)))
    to_canvas = np.diag([scale, scale, 1.0]) @ grid_to_full
    inside = cv2.warpAffine(footprint.astype(np.uint8), to_canvas[:2], size, flags=cv2.INTER_NEAREST) > 0
    x0, y0, x1, y1 = query.trim_box.scaled(scale, scale).corners()
    x1, y1 = min(max(x1, x0 + 1), size[0]), min(max(y1, y0 + 1), size[1])
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    shown = np.zeros((size[1], size[0]), bool)
    canvas[y0:y1, x0:x1] = cv2.resize(query.pixels, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    shown[y0:y1, x0:x1] = True
    *_, w, h = cv2.boundingRect(inside.astype(np.uint8))
    reach = max(2, round(_BAND_SHARE * min(w, h)))
    band = (cv2.dilate(inside.astype(np.uint8), disk(2 * reach + 1)) > 0) & ~inside
    if not band.any():
        return 1.0
    in_pixels = band & shown
    uniform = _band_uniformity(canvas, in_pixels) * in_pixels.sum() + (band & ~shown).sum()
    return float(uniform / band.sum())


def _band_uniformity(pixels: np.ndarray, band: np.ndarray) -> float:
    """Share of the band's pixels whose colour falls in its four commonest 4-level bins."""
    if not band.any():
        return 1.0
    levels = pixels[band].astype(np.int32) // 4
    keys = (levels[:, 0] * 64 + levels[:, 1]) * 64 + levels[:, 2]
    counts = np.sort(np.bincount(keys, minlength=64**3))[::-1]
    return float(counts[:4].sum() / len(keys))


def _self_error(query: CanonicalImage, original: CanonicalImage, outer: np.ndarray) -> float:
    """RMS error of the surroundings against the photo enlarged to cover the query, blurred and dimmed to fit best.

    Only the whole query frame is considered (platforms fill their canvas this way); a single gain for all channels,
    so that a flat surrounding only fits when its colour is the photo's own.
    """
    height, width = query.pixels.shape[:2]
    scale = _SELF_SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    shown = cv2.resize(query.pixels, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    enlarged = _covering(original, query, size).astype(np.float32)
    mask: np.ndarray = cv2.resize(outer.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0  # pixels mixed with the footprint's edge do not count
    if mask.sum() < 20:
        return float("inf")
    target = shown[mask].ravel()
    best = float("inf")
    for sigma in _SELF_SIGMAS:
        predicted = cv2.GaussianBlur(enlarged, (0, 0), sigma)[mask].ravel()
        gain = float(np.clip(predicted @ target / (predicted @ predicted + 1e-6), 0.3, 1.2))
        best = min(best, float(np.sqrt(np.mean((gain * predicted - target) ** 2))))
    return best


def _covering(original: CanonicalImage, query: CanonicalImage, size: tuple[int, int]) -> np.ndarray:
    """The original's whole frame scaled to cover the query's full frame, centred (`object-fit: cover`), cut to the
    query's trimmed box, at `size`. The original's trimmed borders are uniform: its edge colours fill them."""
    scale = 2 * _SELF_SIDE / max(query.width, query.height)
    frame = (max(8, round(query.width * scale)), max(8, round(query.height * scale)))
    fit = max(frame[0] / original.width, frame[1] / original.height)
    enlarged_size = (max(frame[0], round(original.width * fit)), max(frame[1], round(original.height * fit)))
    pixels, to_full = shrunk(original.pixels, pixel_to_full(original), max(enlarged_size))
    to_enlarged = np.diag([fit, fit, 1.0]) @ to_full
    to_enlarged[:2, 2] -= 0.5  # to pixel centres
    enlarged = cv2.warpAffine(
        pixels, to_enlarged[:2], enlarged_size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    top, left = (enlarged.shape[0] - frame[1]) // 2, (enlarged.shape[1] - frame[0]) // 2
    x0, y0, x1, y1 = query.trim_box.scaled(scale, scale).corners()
    cut = enlarged[top + y0 : top + max(y1, y0 + 1), left + x0 : left + max(x1, x0 + 1)]
    return cv2.resize(cut, size, interpolation=cv2.INTER_AREA)


def _box(footprint: np.ndarray, grid_to_full: np.ndarray, query: CanonicalImage) -> Rect:
    x, y, w, h = cv2.boundingRect(footprint.astype(np.uint8))
    corners = np.array([[x - 0.5, y - 0.5], [x + w - 0.5, y + h - 0.5]])
    return Rect.bounding(project(grid_to_full, corners), query.width, query.height)


def _bands(content: Rect, query: CanonicalImage) -> tuple[Rect, ...]:
    """The query outside `content` as up to four bands: above, below (full width), left, right (between them)."""
    x0, y0, x1, y1 = content.corners()
    width, height = query.width, query.height
    bands = (
        Rect.from_corners(0, 0, width, y0),
        Rect.from_corners(0, y1, width, height),
        Rect.from_corners(0, y0, x0, y1),
        Rect.from_corners(x1, y0, width, y1),
    )
    return tuple(band for band in bands if band.area >= 0.01 * width * height)


def _filled(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes filled: everything inside its outer contours."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled > 0
