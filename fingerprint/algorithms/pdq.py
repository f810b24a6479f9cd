"""PDQ: Meta's 256-bit DCT hash, the primary image fingerprint (robust to re-encoding, resizing, colour)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pdqhash

from fingerprint.hashes import HashValue

# pdqhash.compute_dihedral hashes the query under 8 operations; a hit on operation i means the query is the
# original transformed by the *inverse* of i. These names say what was done to the original.
PDQ_VARIANTS: tuple[str, ...] = (
    "identity",
    "rotate_90_cw",
    "rotate_180",
    "rotate_90_ccw",
    "flip_vertical",
    "flip_horizontal",
    "transpose",
    "transverse",
)

# Below this quality PDQ's own authors say the hash of a (near-)flat image carries little information.
MIN_TRUSTED_QUALITY = 50


class Pdq:
    name: ClassVar[str] = "pdq"
    bits: ClassVar[int] = 256
    default_threshold: ClassVar[int] = 31

    def compute(self, pixels: np.ndarray) -> HashValue:
        return self.compute_with_quality(pixels)[0]

    def compute_with_quality(self, pixels: np.ndarray) -> tuple[HashValue, int]:
        bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
        return HashValue.from_bits(bits), int(quality)

    def compute_dihedral(self, pixels: np.ndarray) -> tuple[tuple[HashValue, ...], int]:
        """The 8 flip/rotation hashes in `PDQ_VARIANTS` order, for the price of one DCT."""
        all_bits, qualities = pdqhash.compute_dihedral(np.ascontiguousarray(pixels))
        return tuple(HashValue.from_bits(bits) for bits in all_bits), int(qualities)
