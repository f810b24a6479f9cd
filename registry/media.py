"""Decoding an upload: its kind decided once from the magic bytes, fingerprint-layer errors as registry errors."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fingerprint.kinds import DecodeLimits, MediaKind, detect
from fingerprint.media import CorruptMediaError, MediaError, MediaTooLargeError, UnsupportedMediaError
from fingerprint.video.decode import VideoLimits
from registry.errors import CorruptMedia, InvalidRequest, MediaTooLarge, RegistryError, UnsupportedMedia
from registry.settings import Settings

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
_MMAP_THRESHOLD = 1024 * 1024

_MEDIA_ERRORS: dict[type[MediaError], type[RegistryError]] = {
    UnsupportedMediaError: UnsupportedMedia,
    MediaTooLargeError: MediaTooLarge,
    CorruptMediaError: CorruptMedia,
}


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: MediaKind
    media: Any  # the kind's decoded form (an image: `fingerprint.media.CanonicalImage`)


def decode_with(content: bytes, limits: DecodeLimits) -> Decoded:
    """The one decode of a request, by the kind its magic bytes name."""
    if not content:
        raise InvalidRequest("the upload is empty")
    with media_errors():
        kind, _ = detect(content)
        return Decoded(kind, kind.decode(content, limits))


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


def return_large_buffers() -> None:
    """Make glibc give every large buffer (an upload, a decoded image) back to the system when it is freed.

    By default glibc raises its mmap threshold after each large free, up to 32 MiB, so later uploads come from the
    heap and a burst of them leaves the process hundreds of MB larger for good. A fixed threshold stops that.
    Elsewhere than glibc this does nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def give_back_free_heap() -> None:
    """Return the heap's free pages to the system now (glibc `malloc_trim`, every arena, blocking for milliseconds).

    Buffers below the mmap threshold (an upload's chunks, a parser's objects) come from per-thread arenas, which
    glibc trims only at their top: after a burst of uploads handled by many threads, the process kept hundreds of MB
    it no longer used. Elsewhere than glibc this does nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None
