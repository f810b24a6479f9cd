"""Adapter for the imagehash package's 64-bit hashes (their hex form is already MSB-first, like ours)."""

from __future__ import annotations

from collections.abc import Callable

import imagehash
import numpy as np
from PIL import Image

from fingerprint.hashes import HashValue


def imagehash_value(function: Callable[[Image.Image], imagehash.ImageHash], pixels: np.ndarray) -> HashValue:
    return HashValue.from_hex(str(function(Image.fromarray(pixels))))
