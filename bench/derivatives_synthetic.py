"""Synthetic filler originals for the scale measurements: only about 20 real photos ship in packages.

Procedural pictures (smooth noise, shapes, text) give ORB descriptors of the kind natural images give (corners,
edges, blobs); for larger registries their descriptors are replicated with 12% of the bits flipped, as if each were a
different but similar picture. Neither is a real photo, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from PIL import Image, ImageDraw

from bench.derivatives_corpus import font
from fingerprint.features import LocalFeatures, extract_features
from fingerprint.geometry import Rect
from fingerprint.media import CanonicalImage

_WORDS = ("river", "market", "station", "2024", "north", "festival", "open", "harbour", "museum", "delta")


def procedural_image(seed: int, size: tuple[int, int] = (480, 360)) -> np.ndarray:
    """A deterministic (h, w, 3) uint8 picture: blurred colour noise, random shapes and a few words."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = rng.random((h // 16 + 1, w // 16 + 1, 3)) * 255
    canvas = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
    canvas = np.clip(canvas + rng.normal(0, 6, canvas.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(8, 20))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = int(rng.integers(3))
        if shape == 0:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        elif shape == 1:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(2, 8)))
    for _ in range(int(rng.integers(1, 4))):
        word = " ".join(rng.choice(_WORDS, 2))
        xy = (int(rng.integers(0, w - 100)), int(rng.integers(0, h - 30)))
        draw.text(xy, word, font=font(int(rng.integers(14, 40))), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return np.asarray(image)


def synthetic_features(count: int, seed: int = 1000) -> Iterator[LocalFeatures]:
    """ORB features of `count` procedural originals."""
    for i in range(count):
        pixels = procedural_image(seed + i)
        h, w = pixels.shape[:2]
        yield extract_features(CanonicalImage("image/png", w, h, Rect(0, 0, w, h), pixels))


def mutated(features: LocalFeatures, rng: np.random.Generator, flip: float = 0.12) -> LocalFeatures:
    """The same keypoints with each descriptor bit flipped with probability `flip`."""
    bits = np.unpackbits(features.descriptors, axis=1)
    bits ^= (rng.random(bits.shape) < flip).astype(np.uint8)
    return LocalFeatures(features.width, features.height, features.scale, features.points, np.packbits(bits, axis=1))
