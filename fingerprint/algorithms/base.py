"""The small interface every perceptual hash algorithm implements, and the record of one computed hash."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from fingerprint.hashes import HashValue

CANONICAL = "canonical"


@dataclass(frozen=True, slots=True)
class HashRecord:
    """One hash of one medium: which algorithm, which variant of the picture, and how much the hash can be trusted.

    A reference's variants are versions of the original that queries may resemble (`canonical`, centred crops);
    a query's are versions of the query worth searching with (PDQ's eight flips and quarter turns).
    """

    alg: str
    variant: str
    value: HashValue
    quality: int | None = None  # the algorithm's own confidence, 0-100, where it has one (PDQ)


class HashAlgorithm:
    """A perceptual hash: a fixed bit length, Hamming distance, computed on (h, w, 3) uint8 RGB pixels.

    Subclasses set `name` and `bits` and implement `compute`; `reference` and `query` default to the single
    canonical hash. A module in `fingerprint.algorithms` that defines `ALGORITHM = MyHash()` is all a new
    algorithm takes: discovery, storage, indexing, lookup and `provreg reindex` need nothing else.
    """

    name: ClassVar[str]
    bits: ClassVar[int]
    media_kinds: ClassVar[tuple[str, ...]] = ("image",)
    # Whether `check` searches this algorithm's index (PDQ); the others serve lookups by published values.
    searched: ClassVar[bool] = False

    def compute(self, pixels: np.ndarray) -> HashValue:
        """Hash an (h, w, 3) uint8 RGB array."""
        raise NotImplementedError

    def reference(self, pixels: np.ndarray) -> list[HashRecord]:
        """The hashes stored for an original."""
        return [HashRecord(self.name, CANONICAL, self.compute(pixels))]

    def query(self, pixels: np.ndarray) -> list[HashRecord]:
        """The hashes a query searches with; the first is the query's own canonical hash."""
        return self.reference(pixels)
