"""Still images: decode once at the working resolution, hash, describe with ORB keypoints, analyse candidates."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import cv2
import numpy as np

from fingerprint.algorithms import HashRecord, for_kind
from fingerprint.candidates import MatchCandidate
from fingerprint.compare import DerivativeMatch, ReferenceSource, analyse_image
from fingerprint.features import LocalFeatures, extract_features, extract_query_features
from fingerprint.kinds.base import DecodeLimits, Fingerprint
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image, sniff_media_type
from fingerprint.visualize import render_comparison

# Hashes are computed on a copy no larger than this: PDQ reduces to 64x64 anyway, pHash to 32x32.
HASH_SIDE = 512


def hash_pixels(image: CanonicalImage) -> np.ndarray:
    """The pixels every hash sees: the working image, area-averaged down to at most HASH_SIDE."""
    pixels = image.pixels
    factor = max(pixels.shape[:2]) / HASH_SIDE
    if factor <= 1:
        return pixels
    size = (max(1, round(pixels.shape[1] / factor)), max(1, round(pixels.shape[0] / factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


class ImageKind:
    name = "image"

    def sniff(self, data: bytes) -> str | None:
        return sniff_media_type(data)

    def decode(self, data: bytes, limits: DecodeLimits) -> CanonicalImage:
        return load_image(
            data,
            max_pixels=limits.max_pixels,
            max_side=WORKING_SIDE,
            max_decoded_bytes=limits.max_decoded_bytes,
            max_bits_per_sample=limits.max_bits_per_sample,
            max_jpeg_scans=limits.max_jpeg_scans,
        )

    def reference(self, media: CanonicalImage, *, sha256: str, size: int, local: bool = True) -> Fingerprint:
        """`local=False` leaves out the keypoints: the hashes a file is known by, cheaply (CLI `hash`)."""
        pixels = hash_pixels(media)
        hashes = tuple(record for algorithm in for_kind(self.name) for record in algorithm.reference(pixels))
        return self._fingerprint(media, sha256, size, hashes, (extract_features(media),) if local else ())

    def query(self, media: CanonicalImage, *, sha256: str, size: int, local: bool) -> Fingerprint:
        pixels = hash_pixels(media)
        hashes = tuple(record for algorithm in for_kind(self.name) for record in algorithm.query(pixels))
        return self._fingerprint(media, sha256, size, hashes, extract_query_features(media) if local else ())

    def analyse(
        self,
        media: CanonicalImage,
        query: Fingerprint,
        candidates: Sequence[MatchCandidate],
        references: ReferenceSource[CanonicalImage],
        *,
        strong: int,
        limit: int,
        exhaustive: bool = True,
    ) -> list[DerivativeMatch]:
        return analyse_image(
            media,
            query.features,
            candidates,
            references,
            strong_distance=strong,
            max_strong=limit,
            exhaustive=exhaustive,
        )

    def render(self, match: DerivativeMatch, *, label: str) -> bytes:
        return render_comparison(match, label=label)

    def _fingerprint(
        self,
        media: CanonicalImage,
        sha256: str,
        size: int,
        hashes: tuple[HashRecord, ...],
        features: tuple[LocalFeatures, ...],
    ) -> Fingerprint:
        return Fingerprint(
            kind=self.name,
            sha256=sha256,
            media_type=media.media_type,
            size=size,
            hashes=hashes,
            features=features,
            facts={"width": media.width, "height": media.height, "trim_box": media.trim_box.corners()},
        )


def fingerprint_image(data: bytes, *, max_pixels: int, query: bool = False) -> Fingerprint:
    """Decode and hash `data` without local features: the hashes a file is known by, or searches with (`query`)."""
    kind = ImageKind()
    image = kind.decode(data, DecodeLimits(max_pixels=max_pixels))
    sha256 = hashlib.sha256(data).hexdigest()
    if query:
        return kind.query(image, sha256=sha256, size=len(data), local=False)
    return kind.reference(image, sha256=sha256, size=len(data), local=False)
