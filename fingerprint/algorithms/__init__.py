"""Perceptual hash algorithms, one module each behind the `HashAlgorithm` interface.

A new algorithm is a new module plus one line in `ALGORITHMS`; nothing else branches on algorithm names.
"""

from fingerprint.algorithms.base import HashAlgorithm
from fingerprint.algorithms.dhash import DHash
from fingerprint.algorithms.pdq import PDQ_VARIANTS, Pdq
from fingerprint.algorithms.phash import PHash

ALGORITHMS: dict[str, HashAlgorithm] = {alg.name: alg for alg in (Pdq(), PHash(), DHash())}

__all__ = ["ALGORITHMS", "PDQ_VARIANTS", "DHash", "HashAlgorithm", "PHash", "Pdq"]
