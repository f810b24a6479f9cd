"""PDQ: Meta's 256-bit DCT hash, the primary image fingerprint (robust to re-encoding, resizing, colour)."""

from __future__ import annotations

import numpy as np
import pdqhash

from fingerprint.algorithms.base import CANONICAL, HashAlgorithm, HashRecord
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

# Reference-side variants: centred crops keeping this share of each side. A query cropped by 10-30% of each side
# is within PDQ's threshold of one of them (measured in docs/derivatives.md).
CROP_VARIANTS: dict[str, float] = {"crop90": 0.9, "crop80": 0.8, "crop70": 0.7}


class Pdq(HashAlgorithm):
    name = "pdq"
    bits = 256
    searched = True

    def compute(self, pixels: np.ndarray) -> HashValue:
        return self.compute_with_quality(pixels)[0]

    def compute_with_quality(self, pixels: np.ndarray) -> tuple[HashValue, int]:
        bits, quality = pdqhash.compute(np.ascontiguousarray(pixels))
        return HashValue.from_bits(bits), int(quality)

    def compute_dihedral(self, pixels: np.ndarray) -> tuple[tuple[HashValue, ...], int]:
        """The 8 flip/rotation hashes in `PDQ_VARIANTS` order, for the price of one DCT."""
        all_bits, qualities = pdqhash.compute_dihedral(np.ascontiguousarray(pixels))
        return tuple(HashValue.from_bits(bits) for bits in all_bits), int(qualities)

    def reference(self, pixels: np.ndarray) -> list[HashRecord]:
        """The canonical hash and the hashes of centred crops (`CROP_VARIANTS`), which turn moderate crops into
        ordinary PDQ hits. Crops below PDQ's trust level are left out: a flat crop would match too much."""
        _check_rgb(pixels)
        value, quality = self.compute_with_quality(pixels)
        records = [HashRecord(self.name, CANONICAL, value, quality)]
        h, w = pixels.shape[:2]
        for variant, keep in CROP_VARIANTS.items():
            ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            value, quality = self.compute_with_quality(pixels[y0 : y0 + ch, x0 : x0 + cw])
            if quality >= MIN_TRUSTED_QUALITY:
                records.append(HashRecord(self.name, variant, value, quality))
        return records

    def query(self, pixels: np.ndarray) -> list[HashRecord]:
        """The query under PDQ's eight flips and quarter turns (`PDQ_VARIANTS` order), for the price of one DCT."""
        values, quality = self.compute_dihedral(pixels)
        return [
            HashRecord(self.name, variant, value, quality) for variant, value in zip(PDQ_VARIANTS, values, strict=True)
        ]


def crop_share(variant: str) -> float:
    """The share of each side of the original that a reference variant's hash covers."""
    return CROP_VARIANTS.get(variant, 1.0)


def _check_rgb(pixels: np.ndarray) -> None:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB array, got {pixels.shape} {pixels.dtype}")


ALGORITHM = Pdq()
