"""Perceptual hash algorithms, one module each behind the `HashAlgorithm` interface.

Every module of this package (other than `base` and private ones) that defines `ALGORITHM` is an algorithm: a new
algorithm is one new file here plus its golden values. `discover()` runs again when the package's `__path__` grows.
"""

from __future__ import annotations

import importlib
import pkgutil

from fingerprint.algorithms.base import CANONICAL, HashAlgorithm, HashRecord
from fingerprint.algorithms.pdq import PDQ_VARIANTS, Pdq

ALGORITHMS: dict[str, HashAlgorithm] = {}


def discover() -> dict[str, HashAlgorithm]:
    """(Re)build `ALGORITHMS` from the package's modules, in name order; it is updated in place for importers."""
    found: dict[str, HashAlgorithm] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name.startswith("_") or module_info.name == "base":
            continue
        algorithm = getattr(importlib.import_module(f"{__name__}.{module_info.name}"), "ALGORITHM", None)
        if algorithm is None:
            continue
        if not isinstance(algorithm, HashAlgorithm):
            raise TypeError(f"{module_info.name}.ALGORITHM is not a HashAlgorithm")
        if algorithm.name in found:
            raise ValueError(f"two hash algorithms are named {algorithm.name!r}")
        found[algorithm.name] = algorithm
    ALGORITHMS.clear()
    ALGORITHMS.update(found)
    return ALGORITHMS


def for_kind(kind: str) -> list[HashAlgorithm]:
    """The algorithms that hash media of one kind, in name order."""
    return [algorithm for algorithm in ALGORITHMS.values() if kind in algorithm.media_kinds]


discover()

__all__ = ["ALGORITHMS", "CANONICAL", "PDQ_VARIANTS", "HashAlgorithm", "HashRecord", "Pdq", "discover", "for_kind"]
