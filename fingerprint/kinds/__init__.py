"""Media kinds, one module each behind `MediaKind`; the kind of a file is decided once, by its magic bytes."""

from __future__ import annotations

from typing import Any

from fingerprint.candidates import HashEvidence, MatchCandidate
from fingerprint.kinds.base import DecodeLimits, Fingerprint, MediaKind
from fingerprint.kinds.image import ImageKind
from fingerprint.kinds.sound import SoundKind
from fingerprint.kinds.video import VideoKind
from fingerprint.media import CanonicalImage, UnsupportedMediaError
from fingerprint.sound.decode import SoundMedia
from fingerprint.video.decode import VideoMedia

# Each kind typed by what it decodes and finds; callers that hold any kind see those as Any.
KINDS: dict[str, MediaKind[Any, Any]] = {kind.name: kind for kind in (ImageKind(), VideoKind(), SoundKind())}
# What a timed kind decodes a file into (each has its declared `duration`), and what any kind does: the type of a
# decoded file where the kind is known only at run time (`detect`), so no `MediaKind` type parameter reaches it.
# A new kind adds its decoded type here, beside its line in KINDS.
TimedMedia = VideoMedia | SoundMedia
DecodedMedia = CanonicalImage | TimedMedia


def sniff(data: bytes) -> str | None:
    """The media type of `data` by any kind's magic bytes, or None when no kind decodes it."""
    return next((media_type for kind in KINDS.values() if (media_type := kind.sniff(data)) is not None), None)


def detect(data: bytes) -> tuple[MediaKind[Any, Any], str]:
    """The kind and media type of `data`, from its first bytes; raises UnsupportedMediaError for anything else."""
    for kind in KINDS.values():
        media_type = kind.sniff(data)
        if media_type is not None:
            return kind, media_type
    raise UnsupportedMediaError(
        "not a supported media type (JPEG, PNG, WebP, AVIF or HEIC images; MP4, MOV, WebM or Matroska videos; "
        "MP3, AAC/M4A, Ogg (Opus, Vorbis, FLAC), WAV or FLAC sound)"
    )


__all__ = [
    "KINDS",
    "DecodeLimits",
    "DecodedMedia",
    "Fingerprint",
    "HashEvidence",
    "MatchCandidate",
    "MediaKind",
    "TimedMedia",
    "detect",
    "sniff",
]
