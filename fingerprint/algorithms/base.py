"""The small interface every perceptual hash algorithm implements."""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np

from fingerprint.hashes import HashValue


class HashAlgorithm(Protocol):
    """A perceptual hash: fixed bit length, Hamming distance, and a threshold below which two hashes match."""

    name: ClassVar[str]
    bits: ClassVar[int]
    default_threshold: ClassVar[int]

    def compute(self, pixels: np.ndarray) -> HashValue:
        """Hash an (h, w, 3) uint8 RGB array."""
        ...
