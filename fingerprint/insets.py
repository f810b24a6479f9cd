"""Insets: rectangles of a query that may hold a photo shown small inside a larger page.

A screenshot of a feed, an article page or a collage shows a registered photo at a fraction of its size, among text,
icons and flat panels. ORB on the whole page spends most of its keypoints on the clutter and sees the photo at a
scale beyond its pyramid, so the photo's own rectangles are described again, each at the full feature size
(`fingerprint.features.extract_query_features`). On a page (mostly one light, flat background) a photo is a solid
block set off from that background and textured inside: text strokes are thinner than the opening below and drop
out, flat panels and bars are not textured. A dark letterbox around the photo joins it, which only costs scale.

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


def find_insets(pixels: np.ndarray, *, limit: int = MAX_INSETS) -> list[Rect]:
    """Up to `limit` rectangles (in `pixels` indices, largest block first) that may hold a photo inside a page.

    Empty unless the picture looks like a page: mostly one light, flat background.
    """
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB array, got {pixels.shape} {pixels.dtype}")
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    factor = max(max(gray.shape) / _SIDE, 1.0)
    if factor > 1:
        size = (max(1, round(gray.shape[1] / factor)), max(1, round(gray.shape[0] / factor)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    background = int(np.argmax(np.bincount(gray.ravel(), minlength=256)))
    difference = np.abs(gray.astype(np.int16) - background)
    if background < _MIN_BACKGROUND_LEVEL or (difference <= _FLAT_LEVELS).mean() < _MIN_BACKGROUND_SHARE:
        return []
    content = (difference > _CONTENT_DIFFERENCE).astype(np.uint8)
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
    rows, cols = pixels.shape[:2]
    return [_scaled(box, factor, cols, rows) for _, box in found[:limit]]


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
