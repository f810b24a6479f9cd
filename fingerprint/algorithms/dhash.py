"""dHash (imagehash): 64-bit gradient hash, kept for lookups by the values other tools publish."""

from __future__ import annotations

from typing import ClassVar

import imagehash
import numpy as np

from fingerprint.algorithms._imagehash import imagehash_value
from fingerprint.hashes import HashValue


class DHash:
    name: ClassVar[str] = "dhash"
    bits: ClassVar[int] = 64
    default_threshold: ClassVar[int] = 10

    def compute(self, pixels: np.ndarray) -> HashValue:
        return imagehash_value(imagehash.dhash, pixels)
