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
        return load_image(
            content,
            max_pixels=settings.max_pixels,
            max_side=WORKING_SIDE,
            max_decoded_bytes=settings.max_decoded_bytes,
            max_bits_per_sample=settings.max_bits_per_sample,
            max_jpeg_scans=settings.max_jpeg_scans,
        )
    except MediaError as exc:
        # load_image's limit arguments are named like the settings that feed them, so the sender learns which one.
        message = f"{exc} (setting PROVREG_{exc.limit.upper()})" if exc.limit else str(exc)
        raise _MEDIA_ERRORS[type(exc)](message) from None
