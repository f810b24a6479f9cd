"""Decoding an upload: its kind decided once from the magic bytes, fingerprint-layer errors as registry errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fingerprint.kinds import DecodeLimits, MediaKind, detect
from fingerprint.media import CorruptMediaError, MediaError, MediaTooLargeError, UnsupportedMediaError
from registry.errors import CorruptMedia, InvalidRequest, MediaTooLarge, RegistryError, UnsupportedMedia
from registry.settings import Settings

_MEDIA_ERRORS: dict[type[MediaError], type[RegistryError]] = {
    UnsupportedMediaError: UnsupportedMedia,
    MediaTooLargeError: MediaTooLarge,
    CorruptMediaError: CorruptMedia,
}


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: MediaKind
    media: Any  # the kind's decoded form (an image: `fingerprint.media.CanonicalImage`)


def decode(content: bytes, settings: Settings) -> Decoded:
    """The one decode of a request, by the kind its magic bytes name."""
    if not content:
        raise InvalidRequest("the upload is empty")
    try:
        kind, _ = detect(content)
        return Decoded(kind, kind.decode(content, limits(settings)))
    except MediaError as exc:
        raise _MEDIA_ERRORS[type(exc)](str(exc)) from None


def limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(max_pixels=settings.max_pixels)
