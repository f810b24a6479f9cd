"""pHash (imagehash): 64-bit DCT hash, kept for lookups by the values other tools publish."""

from __future__ import annotations

import imagehash
import numpy as np

from fingerprint.algorithms._imagehash import imagehash_value
from fingerprint.algorithms.base import HashAlgorithm
from fingerprint.hashes import HashValue


class PHash(HashAlgorithm):
    name = "phash"
    bits = 64

    def compute(self, pixels: np.ndarray) -> HashValue:
        return imagehash_value(imagehash.phash, pixels)


ALGORITHM = PHash()
