"""Plane geometry shared by decoding and derivative analysis: one rectangle type and the homography helpers.

>>> Rect.from_corners(10, 20, 110, 70)
Rect(x=10, y=20, w=100, h=50)
>>> Rect(10, 20, 100, 50).corners()
[10, 20, 110, 70]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Rect", "homography_jacobian", "project"]


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in pixels: top-left corner, width and height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    @classmethod
    def from_corners(cls, x0: int, y0: int, x1: int, y1: int) -> Rect:
        """The rectangle from (x0, y0) inclusive to (x1, y1) exclusive."""
        return cls(x0, y0, x1 - x0, y1 - y0)

    @classmethod
    def bounding(cls, points: np.ndarray, width: int, height: int) -> Rect:
        """The bounding rectangle of (n, 2) points, clipped to a width x height image."""
        x0, y0 = np.clip(np.floor(points.min(axis=0)), 0, [width, height]).astype(int)
        x1, y1 = np.clip(np.ceil(points.max(axis=0)), 0, [width, height]).astype(int)
        return cls.from_corners(int(x0), int(y0), int(x1), int(y1))

    def corners(self) -> list[int]:
        """[x0, y0, x1, y1]: the form stored as a registration's `trim_box` and shown in its views."""
        return [self.x, self.y, self.x + self.w, self.y + self.h]

    def scaled(self, factor_x: float, factor_y: float) -> Rect:
        """The rectangle in a frame scaled by these factors; corners are rounded, so adjacent rectangles stay so."""
        x0, y0, x1, y1 = self.corners()
        return Rect.from_corners(round(x0 * factor_x), round(y0 * factor_y), round(x1 * factor_x), round(y1 * factor_y))


def project(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n, 2) points mapped through a 3x3 homography."""
    projected = np.c_[points, np.ones(len(points))] @ homography.T
    return projected[:, :2] / projected[:, 2:3]


def homography_jacobian(homography: np.ndarray, x: float, y: float) -> tuple[np.ndarray, float]:
    """The local linear part of a homography at (x, y), and its projective denominator there."""
    h = homography
    w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
    u = h[0, 0] * x + h[0, 1] * y + h[0, 2]
    v = h[1, 0] * x + h[1, 1] * y + h[1, 2]
    linear = np.array(
        [
            [h[0, 0] * w - u * h[2, 0], h[0, 1] * w - u * h[2, 1]],
            [h[1, 0] * w - v * h[2, 0], h[1, 1] * w - v * h[2, 1]],
        ]
    ) / (w * w)
    return linear, float(w)
