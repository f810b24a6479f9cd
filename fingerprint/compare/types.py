"""The values derivative analysis produces, shared by its stages and by the views that show them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from fingerprint.geometry import Rect

__all__ = ["Alignment", "AlteredRegion", "CheckVerdict", "Localisation", "Transform", "Verdict"]

# What one verified match is: the original's content with only global changes, or with a region replaced or added;
# or `related`, a different photograph of the same scene (parallax explains the differences): not made from it.
Verdict = Literal["copy", "altered", "related"]
# What a whole check says: the verdict of the best match that is a derivative, or that no registered original was
# used to make the query (nothing matches, or only `related` photographs of the same scene do).
CheckVerdict = Literal["copy", "altered", "unregistered"]


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
    flip is a mirror plus 180 degrees). `scale` is query pixels per original pixel (full-size frames). Values within
    the measurement noise of a plain re-save are reported as exactly 1 or 0 (`fingerprint.compare.transform`).
    """

    crop: Rect  # the part of the original the query shows, in original pixels
    cropped: bool
    content: Rect  # where the original's content sits in the query (its footprint), in query pixels
    framed: bool  # the query adds flat or UI-like surroundings: padding, a page, app chrome, a blurred copy of itself
    scale: float
    aspect_change: float  # horizontal over vertical stretch, 1.0 when the aspect ratio was kept
    rotation: float
    flipped: bool
    perspective: bool
    photometric_change: bool
    grayscale: bool
    # the rest of the query is other photographic content: the original, or part of it, pasted into another picture
    composite: bool = False
    added: tuple[Rect, ...] = ()  # composites: the query outside `content` (bands above, below, left, right)


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
    def verdict(self) -> Literal["copy", "altered"]:
        return "altered" if self.regions else "copy"
