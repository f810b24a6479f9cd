"""Decoding an upload: its kind decided once from the magic bytes, fingerprint-layer errors as registry errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fingerprint.kinds import DecodedMedia, DecodeLimits, MediaKind, detect
from fingerprint.media import CorruptMediaError, MediaError, MediaTooLargeError, UnsupportedMediaError
from fingerprint.video.decode import VideoLimits
from registry.errors import CorruptMedia, InvalidRequest, MediaTooLarge, RegistryError, UnsupportedMedia
from registry.heap import return_large_buffers
from registry.settings import Settings

Media = TypeVar("Media")

_MEDIA_ERRORS: dict[type[MediaError], type[RegistryError]] = {
    UnsupportedMediaError: UnsupportedMedia,
    MediaTooLargeError: MediaTooLarge,
    CorruptMediaError: CorruptMedia,
}


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: MediaKind[Any, Any]  # picked by the magic bytes at run time (`fingerprint.kinds.detect`)
    media: DecodedMedia  # what `kind` decodes a file into (an image: `fingerprint.media.CanonicalImage`)


def decode_with(content: bytes, limits: DecodeLimits) -> Decoded:
    """The one decode of a request, by the kind its magic bytes name."""
    if not content:
        raise InvalidRequest("the upload is empty")
    with media_errors():
        kind, _ = detect(content)
        return Decoded(kind, kind.decode(content, limits))


def decode_as(content: bytes, limits: DecodeLimits, decoded: type[Media]) -> Media:
    """The decode of a file whose kind the caller already knows (a stored original of a kind, a query its kind's
    match came from), typed as that kind decodes it; bytes of another kind are not what was stored (422)."""
    media = decode_with(content, limits).media
    if not isinstance(media, decoded):
        raise CorruptMedia(f"the file is not of the kind it was stored as ({type(media).__name__})")
    return media


@contextmanager
def media_errors() -> Iterator[None]:
    """Fingerprint-layer media errors as the registry's (a documented 4xx), wherever they are raised: a video is
    decoded while its frames stream, long after the probe, and only then may its timestamps or data give out."""
    try:
        yield
    except MediaError as exc:
        # The limit arguments are named like the settings that feed them, so the sender learns which one.
        message = f"{exc} (setting PROVREG_{exc.limit.upper()})" if exc.limit else str(exc)
        raise _MEDIA_ERRORS[type(exc)](message) from None


def limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(
        max_pixels=settings.max_pixels,
        max_decoded_bytes=settings.max_decoded_bytes,
        max_bits_per_sample=settings.max_bits_per_sample,
        max_jpeg_scans=settings.max_jpeg_scans,
        video=VideoLimits(
            max_video_seconds=settings.max_video_seconds,
            max_video_frames=settings.max_video_frames,
            max_video_pixels=settings.max_video_pixels,
            max_video_bytes=settings.max_video_bytes,
            query_fps=settings.video_query_fps,
            reference_fps=settings.video_reference_fps,
        ),
    )


def prepare_worker() -> None:
    """The media pool's initializer: this module's import has loaded the media libraries before the first task.

    One thread per library, because a worker's CPU and memory limits count every thread it starts, and the pool
    already gives each request its own process.
    """
    import cv2

    cv2.setNumThreads(1)
    return_large_buffers()
