"""Insets: rectangles of a query that may hold a photo shown small inside a larger page or another picture.

A screenshot of a feed, an article page or a collage shows a registered photo at a fraction of its size, among text,
icons and flat panels; a composite pastes it into another photograph. ORB on the whole query spends most of its
keypoints on the rest and sees the photo at a scale beyond its pyramid, so the photo's own rectangles are described
again, each at the full feature size (`fingerprint.features.extract_query_features`). Two ways to find them:

- on a page (mostly one light, flat background) a photo is a solid block set off from that background and textured
  inside: text strokes are thinner than the opening below and drop out, flat panels and bars are not textured. A
  dark letterbox around the photo joins it, which only costs scale;
- anywhere else (a dark page, app chrome, another photograph) a pasted or embedded photo is bounded by four straight
  seams: long horizontal and vertical step edges that close a rectangle (`_pasted_rectangles`).

>>> import numpy as np
>>> page = np.full((600, 800, 3), 245, np.uint8)
>>> page[150:400, 200:500] = np.random.default_rng(0).integers(0, 256, (250, 300, 3))
>>> find_insets(page)
[Rect(x=200, y=150, w=300, h=250)]
"""

from __future__ import annotations

import cv2
import numpy as np

from fingerprint.geometry import Rect

__all__ = ["MAX_INSETS", "find_insets"]

# Insets described per query, largest first: each costs one ORB extraction and one descriptor search. On AugLy's
# feed screenshot the photo is the largest block and an advert the second.
MAX_INSETS = 2
# Blocks are found on a copy with this many pixels on its longer side.
_SIDE = 384
# A page has a light background (its most common grey level at least this) that covers at least this share of it
# (within a few grey levels): no ordinary photo among the benchmark's 23 qualifies, so they pay nothing.
_MIN_BACKGROUND_LEVEL, _MIN_BACKGROUND_SHARE, _FLAT_LEVELS = 160, 0.3, 6
# Content differs from the background by more than this. Opening removes text strokes and thin rules, closing fills
# small holes (pixels of the reduced copy).
_CONTENT_DIFFERENCE = 24
_OPEN, _CLOSE = 5, 5
# A block is an inset when its bounding box covers this share of the query (smaller is too few pixels to match;
# larger and the whole-query features already see it at a workable scale), its shorter side has this many reduced
# pixels, the block fills this share of its box, and this share of the box's interior is textured (a flat panel or
# a header bar is no photo; a dim photo in a dark letterbox, AugLy's `cell` and `moon`, has 0.12): the grey-level
# standard deviation of a 5x5 neighbourhood above _TEXTURE_STD, _MARGIN reduced pixels in from the box's edges.
_MIN_SHARE, _MAX_SHARE = 0.02, 0.6
_MIN_SIDE = 16
_MIN_FILL = 0.3
_MIN_TEXTURED, _TEXTURE_STD, _MARGIN = 0.08, 8.0, 2
# Seams (reduced pixels): a colour gradient (3x3 Sobel, strongest channel) above this, this many times the one along
# the line; sides at least this share of the shorter side long, gaps up to this share bridged; a box's four sides
# covered by seam pixels for this share of their length. Corners are not seams (neither gradient dominates there),
# so a side may start this many pixels inside the box. At most this many sides per orientation are paired. Measured
# on 35 wallpaper photographs, the whole of each pasted into another (bench/photo_claims.py): 34 found; 5 of the 35
# photographs alone have a box (furniture, planks), which costs one ORB description.
_SEAM_GRADIENT, _SEAM_DOMINANCE = 40.0, 1.5
_SEAM_LENGTH, _SEAM_GAP = 0.2, 0.02
_MIN_PASTED_SHARE = 0.06
_SEAM_COVER, _SEAM_SLACK = 0.7, 4
_MAX_SIDES = 120


def find_insets(pixels: np.ndarray, *, limit: int = MAX_INSETS) -> list[Rect]:
    """Up to `limit` rectangles (in `pixels` indices, largest first) that may hold a photo inside a page or picture.

    On a page (mostly one light, flat background) its textured blocks; elsewhere rectangles closed by four seams.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB array, got {pixels.shape} {pixels.dtype}")
    factor = max(max(pixels.shape[:2]) / _SIDE, 1.0)
    size = (max(1, round(pixels.shape[1] / factor)), max(1, round(pixels.shape[0] / factor)))
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    if factor > 1:
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    background = int(np.argmax(np.bincount(gray.ravel(), minlength=256)))
    difference = np.abs(gray.astype(np.int16) - background)
    rows, cols = pixels.shape[:2]
    if background < _MIN_BACKGROUND_LEVEL or (difference <= _FLAT_LEVELS).mean() < _MIN_BACKGROUND_SHARE:
        small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA) if factor > 1 else pixels
        return [_scaled(box, factor, cols, rows) for box in _pasted_rectangles(small)[:limit]]
    content: np.ndarray = (difference > _CONTENT_DIFFERENCE).astype(np.uint8)
    content = cv2.morphologyEx(content, cv2.MORPH_OPEN, np.ones((_OPEN, _OPEN), np.uint8))
    content = cv2.morphologyEx(content, cv2.MORPH_CLOSE, np.ones((_CLOSE, _CLOSE), np.uint8))
    textured = _textured(gray)
    count, _, stats, _ = cv2.connectedComponentsWithStats(content)
    height, width = gray.shape
    found = []
    for x, y, w, h, area in stats[1:count]:
        share = w * h / (width * height)
        if not (_MIN_SHARE <= share <= _MAX_SHARE and min(w, h) >= _MIN_SIDE and area >= _MIN_FILL * w * h):
            continue
        if textured[y + _MARGIN : y + h - _MARGIN, x + _MARGIN : x + w - _MARGIN].mean() >= _MIN_TEXTURED:
            found.append((int(area), (x, y, w, h)))
    found.sort(key=lambda item: -item[0])
    return [_scaled(box, factor, cols, rows) for _, box in found[:limit]]


def _pasted_rectangles(pixels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) boxes closed on all four sides by straight seams, largest first, overlapping ones dropped.

    Seams are pixels whose colour gradient across the line is strong and dominates the one along it; candidate sides
    are long runs of them (`_runs`); a pair of vertical sides and a pair of rows between them where the horizontal
    seam covers `_SEAM_COVER` of the width make a box when the vertical seams cover that share of its height too.
    Sides on the picture's own edge do not count: a photo's frame with one straight line across it is no inset.
    """
    across_rows, across_cols = _strongest_gradient(pixels, 0, 1), _strongest_gradient(pixels, 1, 0)
    horizontal = (across_rows > _SEAM_GRADIENT) & (across_rows > _SEAM_DOMINANCE * across_cols)
    vertical = (across_cols > _SEAM_GRADIENT) & (across_cols > _SEAM_DOMINANCE * across_rows)
    height, width = horizontal.shape
    side = max(3, round(_SEAM_LENGTH * min(height, width)))
    sides = _runs(vertical.T, side, max(3, round(_SEAM_GAP * min(height, width))))
    # coverage of any stretch of a row (column) by seam pixels, a pixel of wobble allowed, from cumulative sums
    rows_cum = np.pad(
        np.cumsum(cv2.dilate(horizontal.astype(np.uint8), np.ones((3, 1), np.uint8)), axis=1), ((0, 0), (1, 0))
    )
    cols_cum = np.pad(
        np.cumsum(cv2.dilate(vertical.astype(np.uint8), np.ones((1, 3), np.uint8)), axis=0), ((1, 0), (0, 0))
    )
    top = np.maximum(sides[:, None, 1], sides[None, :, 1])
    bottom = np.minimum(sides[:, None, 2], sides[None, :, 2])
    apart = sides[None, :, 0] - sides[:, None, 0]
    found = []
    for a, b in np.argwhere((apart >= side) & (bottom - top >= side)):
        left, right = int(sides[a, 0]), int(sides[b, 0])
        if left == 0 or right >= width - 1:
            continue
        candidates = np.arange(
            max(1, int(top[a, b]) - _SEAM_SLACK), min(height - 1, int(bottom[a, b]) + _SEAM_SLACK + 1)
        )
        cover = (rows_cum[candidates, right + 1] - rows_cum[candidates, left]) / (right + 1 - left)
        tops = _peaks(candidates[cover >= _SEAM_COVER], cover[cover >= _SEAM_COVER])
        for y0 in tops:
            for y1 in tops:
                if (
                    y1 - y0 < side
                    or not _MIN_PASTED_SHARE <= (right - left) * (y1 - y0) / (width * height) <= _MAX_SHARE
                ):
                    continue
                sides_cover = (cols_cum[y1 + 1, [left, right]] - cols_cum[y0, [left, right]]) / (y1 + 1 - y0)
                if sides_cover.min() >= _SEAM_COVER:
                    found.append((left, y0, right - left, y1 - y0))
    return _largest_apart(found)


def _strongest_gradient(pixels: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The largest absolute 3x3 Sobel derivative over the colour channels (channel by channel: numpy's max over the
    last axis is many times slower)."""
    strongest = np.zeros(pixels.shape[:2], np.float32)
    for channel in range(pixels.shape[2]):
        derivative = cv2.Sobel(pixels[..., channel], cv2.CV_32F, dx, dy, ksize=3)
        strongest = np.maximum(strongest, np.abs(derivative))
    return strongest


def _runs(lines: np.ndarray, length: int, gap: int) -> np.ndarray:
    """(position, start, end) of runs of at least `length` along each line (row of `lines`), gaps up to `gap`
    bridged; of runs on neighbouring lines that overlap, only the longest."""
    joined = cv2.morphologyEx(lines.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, gap), np.uint8))
    joined = cv2.morphologyEx(joined, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    steps = np.diff(np.pad(joined, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    line, start = np.nonzero(steps == 1)
    _, end = np.nonzero(steps == -1)
    runs = np.c_[line, start, end][np.argsort(start - end, kind="stable")]
    kept: list[np.ndarray] = []
    for run in runs:
        overlapping = (
            abs(run[0] - k[0]) <= 2 and min(run[2], k[2]) - max(run[1], k[1]) > (run[2] - run[1]) / 2 for k in kept
        )
        if not any(overlapping):
            kept.append(run)
            if len(kept) == _MAX_SIDES:
                break
    return np.array(kept, np.int64).reshape(-1, 3)


def _peaks(positions: np.ndarray, values: np.ndarray) -> list[int]:
    """The best position of each run of consecutive positions."""
    if len(positions) == 0:
        return []
    groups = np.split(np.arange(len(positions)), np.flatnonzero(np.diff(positions) > 1) + 1)
    return [int(positions[group[np.argmax(values[group])]]) for group in groups]


def _largest_apart(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Largest first; a box mostly overlapping a larger one is the same inset found twice."""
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if all(_overlap(box, other) < 0.5 * box[2] * box[3] for other in kept):
            kept.append(box)
    return kept


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, w) * max(0, h)


def _textured(gray: np.ndarray) -> np.ndarray:
    values = gray.astype(np.float32)
    mean = cv2.blur(values, (5, 5))
    variance = cv2.blur(values * values, (5, 5)) - mean * mean
    return variance > _TEXTURE_STD**2


def _scaled(box: tuple[int, int, int, int], factor: float, cols: int, rows: int) -> Rect:
    x, y, w, h = box
    x0, y0 = round(x * factor), round(y * factor)
    x1, y1 = min(cols, round((x + w) * factor)), min(rows, round((y + h) * factor))
    return Rect.from_corners(x0, y0, x1, y1)
