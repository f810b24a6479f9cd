"""The fingerprint of one still image: every hash the registry stores or searches, from one decode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from fingerprint.algorithms import DHash, Pdq, PHash
from fingerprint.algorithms.pdq import MIN_TRUSTED_QUALITY
from fingerprint.geometry import Rect
from fingerprint.hashes import HashValue
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image

# Hashes are computed on a copy no larger than this: PDQ reduces to 64x64 anyway, pHash to 32x32.
HASH_SIDE = 512

_PDQ, _PHASH, _DHASH = Pdq(), PHash(), DHash()


@dataclass(frozen=True, slots=True)
class ImageFingerprint:
    sha256: str
    media_type: str
    size: int
    width: int
    height: int
    trim_box: Rect
    pdq: HashValue
    pdq_quality: int
    phash: HashValue
    dhash: HashValue
    pdq_dihedral: tuple[HashValue, ...] = ()  # only for queries, in PDQ_VARIANTS order

    @property
    def trusted(self) -> bool:
        """False for (near-)flat images whose PDQ hash would match too much."""
        return self.pdq_quality >= MIN_TRUSTED_QUALITY


def fingerprint_image(data: bytes, *, max_pixels: int, dihedral: bool = False) -> ImageFingerprint:
    """Decode and hash `data`; `dihedral=True` adds the 8 flip/rotation PDQ hashes a query searches with."""
    image = load_image(data, max_pixels=max_pixels, max_side=WORKING_SIDE)
    return fingerprint_canonical(image, sha256=hashlib.sha256(data).hexdigest(), size=len(data), dihedral=dihedral)


def hash_pixels(image: CanonicalImage) -> np.ndarray:
    """The pixels every hash sees: the working image, area-averaged down to at most HASH_SIDE."""
    pixels = image.pixels
    factor = max(pixels.shape[:2]) / HASH_SIDE
    if factor <= 1:
        return pixels
    size = (max(1, round(pixels.shape[1] / factor)), max(1, round(pixels.shape[0] / factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def fingerprint_canonical(image: CanonicalImage, *, sha256: str, size: int, dihedral: bool = False) -> ImageFingerprint:
    """Hash an image decoded at WORKING_SIDE: registration and check share this one pipeline."""
    pixels = hash_pixels(image)
    if dihedral:
        variants, quality = _PDQ.compute_dihedral(pixels)
        pdq = variants[0]
    else:
        (pdq, quality), variants = _PDQ.compute_with_quality(pixels), ()
    return ImageFingerprint(
        sha256=sha256,
        media_type=image.media_type,
        size=size,
        width=image.width,
        height=image.height,
        trim_box=image.trim_box,
        pdq=pdq,
        pdq_quality=quality,
        phash=_PHASH.compute(pixels),
        dhash=_DHASH.compute(pixels),
        pdq_dihedral=variants,
    )
