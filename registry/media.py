"""Decoding an upload, with the fingerprint layer's media errors turned into registry errors."""

from __future__ import annotations

from fingerprint.media import (
    WORKING_SIDE,
    CanonicalImage,
    CorruptMediaError,
    MediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
    load_image,
)
from registry.errors import CorruptMedia, InvalidRequest, MediaTooLarge, RegistryError, UnsupportedMedia
from registry.settings import Settings

_MEDIA_ERRORS: dict[type[MediaError], type[RegistryError]] = {
    UnsupportedMediaError: UnsupportedMedia,
    MediaTooLargeError: MediaTooLarge,
    CorruptMediaError: CorruptMedia,
}


def decode(content: bytes, settings: Settings) -> CanonicalImage:
    """The one decode of a request, at the working resolution every later stage shares."""
    if not content:
        raise InvalidRequest("the upload is empty")
    try:
        return load_image(content, max_pixels=settings.max_pixels, max_side=WORKING_SIDE)
    except MediaError as exc:
        raise _MEDIA_ERRORS[type(exc)](str(exc)) from None
