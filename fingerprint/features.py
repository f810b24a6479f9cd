"""Local features (ORB keypoints), which let crops, rotations and framings match and align.

A global hash sees the whole picture, so a crop, a rotation or a screenshot frame moves it far away. ORB keypoints
describe small patches, and enough of them survive those changes to find and align the original. Each original keeps
about 500 keypoints in a compact blob; a query computes its own, once upright and once mirrored (ORB is rotation-
but not mirror-invariant), and once more for each inset of a page-like query (`fingerprint.insets`): a photo shown
small inside a screenshot is described at the same scale as its original.

Keypoint coordinates are stored in the *full-size* frame of the oriented image (the frame of `CanonicalImage.width`
and `.height`, with pixel i covering [i, i+1)), whatever resolution the features were computed at, so a homography
between two images maps full-size pixels to full-size pixels and reported regions need no further scaling.

>>> import numpy as np
>>> from fingerprint.geometry import Rect
>>> from fingerprint.media import CanonicalImage
>>> rng = np.random.default_rng(0)
>>> pixels = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
>>> image = CanonicalImage("image/png", 320, 240, Rect(0, 0, 320, 240), pixels)
>>> features = extract_features(image)
>>> LocalFeatures.from_bytes(features.to_bytes()).count == features.count
True
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fingerprint.blobs import BlobHeader
from fingerprint.geometry import Rect
from fingerprint.insets import find_insets
from fingerprint.media import CanonicalImage

# ORB runs on a copy resized to this side (small images are enlarged, so every image is described at one scale);
# its 8-level pyramid (1.2x steps) spans a 3.6x scale change.
FEATURE_SIDE = 640
# Keypoints kept per original (the stored blob) and computed per query orientation.
REFERENCE_FEATURES = 500
QUERY_FEATURES = 1000
# Candidates for the final selection are detected at this multiple of the cap, then thinned on a grid so that the
# kept keypoints cover the whole picture: a 25% crop must still contain a fair share of them.
_OVERSAMPLE = 6
_GRID = 8
_ORB_SCALE, _ORB_LEVELS, _ORB_PATCH = 1.2, 8, 31
# A low FAST threshold finds keypoints in soft, low-contrast photos; the Harris ranking then keeps the best.
_FAST_THRESHOLD = 10
# ORB finds nothing within its edge threshold of a border, and its pyramid asserts on levels that round to zero
# pixels: a thinner picture (a 1-pixel line) has no keypoints.
_MIN_FEATURE_SIDE = 2 * _ORB_PATCH + 1

_HEADER = BlobHeader("local-features", b"PRLF", 1, "<4sBBxxIIfI")  # magic, version, flags, width, height, scale, count
_FLAG_MIRRORED = 1
DESCRIPTOR_BYTES = 32


@dataclass(frozen=True, slots=True, eq=False)
class LocalFeatures:
    """ORB keypoints of one image: positions in its full-size frame and 256-bit descriptors.

    `scale` is full-size pixels per feature pixel: it converts the few-pixel tolerances of matching into this frame.
    `mirrored` features were computed on the horizontally mirrored image, with positions mapped back, so a
    homography fitted to them contains the flip. Keypoints are in selection order (round-robin over an 8x8 grid,
    strongest first), so any prefix is a strong, spread-out subset.
    """

    width: int
    height: int
    scale: float
    points: np.ndarray  # (n, 2) float32, x and y in full-size pixels
    descriptors: np.ndarray  # (n, 32) uint8
    mirrored: bool = False

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"feature scale must be positive, got {self.scale}")
        points = np.ascontiguousarray(self.points, dtype=np.float32).reshape(-1, 2)
        descriptors = np.ascontiguousarray(self.descriptors, dtype=np.uint8)
        if descriptors.size == 0:
            descriptors = descriptors.reshape(0, DESCRIPTOR_BYTES)
        if descriptors.ndim != 2 or descriptors.shape[1] != DESCRIPTOR_BYTES:
            raise ValueError(f"descriptors must be (n, {DESCRIPTOR_BYTES}) uint8, got shape {descriptors.shape}")
        if len(points) != len(descriptors):
            raise ValueError(f"{len(points)} points but {len(descriptors)} descriptors")
        points.setflags(write=False)
        descriptors.setflags(write=False)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "descriptors", descriptors)

    @property
    def count(self) -> int:
        return len(self.points)

    def to_bytes(self) -> bytes:
        """A versioned little-endian blob: 24-byte header, float32 points, then descriptors (40 bytes a keypoint)."""
        flags = _FLAG_MIRRORED if self.mirrored else 0
        header = _HEADER.pack(flags, self.width, self.height, self.scale, self.count)
        return header + self.points.astype("<f4").tobytes() + self.descriptors.tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> LocalFeatures:
        """Parse `to_bytes` output; raises ValueError on anything else."""
        flags, width, height, scale, count = _HEADER.unpack(blob)
        expected = _HEADER.size + count * (8 + DESCRIPTOR_BYTES)
        if len(blob) != expected:
            raise ValueError(f"local-features blob has {len(blob)} bytes, expected {expected} for {count} keypoints")
        body = memoryview(blob)[_HEADER.size :]
        points = np.frombuffer(body[: count * 8], dtype="<f4").reshape(count, 2).astype(np.float32)
        descriptors = np.frombuffer(body[count * 8 :], dtype=np.uint8).reshape(count, DESCRIPTOR_BYTES)
        return cls(width, height, scale, points, descriptors, mirrored=bool(flags & _FLAG_MIRRORED))


def pixel_to_full(image: CanonicalImage) -> np.ndarray:
    """The 3x3 affine map from `image.pixels` indices (pixel centres) to full-size coordinates."""
    h, w = image.pixels.shape[:2]
    box = image.trim_box
    sx, sy = box.w / w, box.h / h
    return np.array([[sx, 0.0, box.x + 0.5 * sx], [0.0, sy, box.y + 0.5 * sy], [0.0, 0.0, 1.0]])


def extract_features(
    image: CanonicalImage,
    *,
    max_features: int = REFERENCE_FEATURES,
    mirrored: bool = False,
    region: Rect | None = None,
) -> LocalFeatures:
    """ORB keypoints spread over the picture; `mirrored=True` describes the mirror image (for flipped queries).

    `region` (in `image.pixels` indices) describes only that part, resized to FEATURE_SIDE like a whole picture;
    the positions are still in the whole image's full-size frame. Runs on one thread only if the caller set
    `cv2.setNumThreads(1)`; this module changes no global state.
    """
    if max_features <= 0:
        raise ValueError("max_features must be positive")
    pixels = image.pixels
    if region is not None:
        pixels = np.ascontiguousarray(pixels[region.y : region.y + region.h, region.x : region.x + region.w])
    gray, factor = _feature_gray(pixels)
    if min(gray.shape) < _MIN_FEATURE_SIDE:
        return _no_features(image)
    if mirrored:
        gray = np.ascontiguousarray(gray[:, ::-1])
    orb = cv2.ORB.create(
        nfeatures=max_features * _OVERSAMPLE,
        scaleFactor=_ORB_SCALE,
        nlevels=_ORB_LEVELS,
        edgeThreshold=_ORB_PATCH,
        patchSize=_ORB_PATCH,
        fastThreshold=_FAST_THRESHOLD,
    )
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        return _no_features(image)
    points = np.array([kp.pt for kp in keypoints], dtype=np.float64)
    responses = np.array([kp.response for kp in keypoints])
    keep = _spread(points, responses, gray.shape, max_features)
    points = points[keep]
    if mirrored:
        points[:, 0] = gray.shape[1] - 1 - points[:, 0]
    # feature pixels -> working pixels -> full size
    to_full = pixel_to_full(image)
    working = (points + 0.5) * factor - 0.5
    if region is not None:
        working += (region.x, region.y)
    full = working @ to_full[:2, :2].T + to_full[:2, 2]
    scale = float(max(to_full[0, 0], to_full[1, 1]) * factor)
    return LocalFeatures(image.width, image.height, scale, full.astype(np.float32), descriptors[keep], mirrored)


def _no_features(image: CanonicalImage) -> LocalFeatures:
    return LocalFeatures(
        image.width, image.height, 1.0, np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    )


def extract_query_features(image: CanonicalImage) -> tuple[LocalFeatures, ...]:
    """The query's features upright and mirrored (together they find originals under any flip or rotation), then
    upright once per inset: a photo shown small inside a page (`fingerprint.insets`). Each set is searched and
    verified on its own; all of them are in the whole query's frame."""
    return (
        extract_features(image, max_features=QUERY_FEATURES),
        extract_features(image, max_features=QUERY_FEATURES, mirrored=True),
        *(extract_features(image, max_features=QUERY_FEATURES, region=rect) for rect in find_insets(image.pixels)),
    )


def _feature_gray(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Grayscale copy with FEATURE_SIDE pixels on its longer side, and working pixels per feature pixel."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB array, got {pixels.shape} {pixels.dtype}")
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    longest = max(gray.shape)
    if longest == FEATURE_SIDE:
        return gray, 1.0
    factor = longest / FEATURE_SIDE
    size = (max(1, round(gray.shape[1] / factor)), max(1, round(gray.shape[0] / factor)))
    interpolation = cv2.INTER_AREA if factor > 1 else cv2.INTER_LINEAR
    return cv2.resize(gray, size, interpolation=interpolation), gray.shape[1] / size[0]


def _spread(points: np.ndarray, responses: np.ndarray, shape: tuple[int, ...], limit: int) -> np.ndarray:
    """Indices of at most `limit` keypoints, taken round-robin from grid cells strongest first, in that order.

    The order matters: any prefix is itself spread out and strong, so an index can keep only the first few.
    """
    h, w = shape[:2]
    cell = np.minimum(points[:, 1] * _GRID // h, _GRID - 1) * _GRID + np.minimum(points[:, 0] * _GRID // w, _GRID - 1)
    order = np.lexsort((-responses, cell))  # by cell, strongest first within a cell
    sorted_cells = cell[order]
    first = np.searchsorted(sorted_cells, sorted_cells, side="left")
    rank = np.arange(len(order)) - first  # position within its cell
    return order[np.lexsort((-responses[order], rank))][:limit]
