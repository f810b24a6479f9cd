"""The fingerprint of one still image: every hash the registry stores or searches, from one decode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fingerprint.algorithms import DHash, Pdq, PHash
from fingerprint.algorithms.pdq import MIN_TRUSTED_QUALITY
from fingerprint.hashes import HashValue
from fingerprint.media import Box, CanonicalImage, load_image

# Hashes are computed on a copy no larger than this: PDQ reduces to 64x64 anyway, and decoding a JPEG at
# reduced DCT scale is several times cheaper than full resolution.
HASH_SIDE = 512

_PDQ, _PHASH, _DHASH = Pdq(), PHash(), DHash()


@dataclass(frozen=True, slots=True)
class ImageFingerprint:
    sha256: str
    media_type: str
    size: int
    width: int
    height: int
    trim_box: Box
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
    image = load_image(data, max_pixels=max_pixels, max_side=HASH_SIDE)
    return fingerprint_canonical(image, sha256=hashlib.sha256(data).hexdigest(), size=len(data), dihedral=dihedral)


def fingerprint_canonical(image: CanonicalImage, *, sha256: str, size: int, dihedral: bool = False) -> ImageFingerprint:
    if dihedral:
        variants, quality = _PDQ.compute_dihedral(image.pixels)
        pdq = variants[0]
    else:
        (pdq, quality), variants = _PDQ.compute_with_quality(image.pixels), ()
    return ImageFingerprint(
        sha256=sha256,
        media_type=image.media_type,
        size=size,
        width=image.width,
        height=image.height,
        trim_box=image.trim_box,
        pdq=pdq,
        pdq_quality=quality,
        phash=_PHASH.compute(image.pixels),
        dhash=_DHASH.compute(image.pixels),
        pdq_dihedral=variants,
    )
