"""Doctored photos made from the committed ones, for the detector's tests: deterministic, nothing downloaded."""

from __future__ import annotations

import io

import cv2
import numpy as np
from conftest import photo
from PIL import Image

# Where `spliced_astronaut` pastes its piece of another photo: x, y, w, h in its 480x480 pixels.
SPLICE = (280, 250, 150, 150)


def pixels(name: str) -> np.ndarray:
    return np.asarray(photo(name))


def jpeg_bytes(rgb: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def spliced_astronaut(quality: int = 85) -> bytes:
    """The astronaut photo with an enlarged piece of the cat photo pasted over her suit, saved as one JPEG.

    The piece is a 50-pixel crop scaled up threefold, as a forger enlarges a detail to cover something: its old
    JPEG blocks now sit off the new grid, and the classical grid signal finds them.
    """
    target = pixels("astronaut").copy()
    x, y, w, h = SPLICE
    piece = pixels("chelsea")[100:150, 150:200]
    target[y : y + h, x : x + w] = cv2.resize(piece, (w, h), interpolation=cv2.INTER_CUBIC)
    return jpeg_bytes(target, quality)
