"""The CPU-bound media work of a request (decode, fingerprint, analyse, draw) as plain functions of bytes and paths.

Everything here is a top-level function of picklable arguments, so the same work runs in this process (the CLI,
tests) or in the server's bounded pool of worker processes (`Registry.run_media`), where a crafted file can cost at
most its CPU, memory and time limits and never blocks the threads that serve everything else. Database reads and
index searches stay in the calling process: a task gets what it needs as data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fingerprint.audio import AudioFingerprint
from fingerprint.compare import DerivativeMatch
from fingerprint.features import LocalFeatures
from fingerprint.kinds import KINDS, DecodedMedia, DecodeLimits, Fingerprint, MatchCandidate, TimedMedia
from fingerprint.video.decode import VideoMedia, within_budget
from registry.media import Decoded, decode_with, media_errors

# Decoded originals kept by each process that analyses (a few MB each at the working size): a registered photo that
# keeps coming back (a viral picture, its re-posts) is decoded once, not on every check. Store paths are
# content-addressed, so a path always decodes to the same pixels.
_DECODED_ORIGINALS = 8


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """What the analysis of one candidate needs: its stored local features, where its original is kept and, for a
    video, its stored sound fingerprint (None: no track, or registered before sound was stored)."""

    registration_id: str
    features: bytes | None
    original: Path
    sound: bytes | None = None


@dataclass(frozen=True, slots=True)
class Analysed:
    matches: list[DerivativeMatch]  # without their localisation images, which stay in the worker
    pictures: dict[str, bytes]  # PNG by registration id, when asked for


def query_fingerprint(
    content: bytes, limits: DecodeLimits, sha256: str, local: bool
) -> tuple[Fingerprint, DecodedMedia]:
    """Decode a query and fingerprint it; the decoded media comes back for the analysis stage."""
    decoded = _affordable(decode_with(content, limits))
    with media_errors():
        fp = decoded.kind.query(decoded.media, sha256=sha256, size=len(content), local=local)
    return fp, decoded.media


def reference_fingerprint(content: bytes, limits: DecodeLimits, sha256: str, local: bool = True) -> Fingerprint:
    """Decode an original and compute everything stored for it (`local=False`: its hashes only)."""
    decoded = _affordable(decode_with(content, limits))
    with media_errors():
        return decoded.kind.reference(decoded.media, sha256=sha256, size=len(content), local=local)


def _affordable(decoded: Decoded) -> Decoded:
    """A video is refused (413) before its first frame when its declared frames cost more decoded pixels than the
    request's budget has left (`fingerprint.video.decode.within_budget`); an image's caps are checked as it decodes."""
    if isinstance(decoded.media, VideoMedia):
        with media_errors():
            within_budget(decoded.media)
    return decoded


def video_seconds(content: bytes, limits: DecodeLimits) -> float:
    """A video's declared duration, from its container: nothing is decoded, the caps are checked."""
    media = decode_with(content, limits).media
    if not isinstance(media, TimedMedia):  # only a timed kind's adapter asks (`KindAdapter.timed`)
        raise TypeError(f"{type(media).__name__} has no duration")
    return media.duration


def analyse_and_draw(
    kind: str,
    media: DecodedMedia,
    query: Fingerprint,
    candidates: Sequence[MatchCandidate],
    references: Sequence[ReferenceData],
    limits: DecodeLimits,
    strong: int,
    limit: int,
    pictures: bool,
) -> Analysed:
    """Verify each candidate against its original; draw the comparisons from the same analysis when asked.

    Without pictures the analysis may stop once a match settles it; pictures show every match there is.
    """
    media_kind = KINDS[kind]
    source = _Originals({reference.registration_id: reference for reference in references}, limits)
    with media_errors():
        found = media_kind.analyse(media, query, candidates, source, strong=strong, limit=limit, exhaustive=pictures)
        drawn = {
            match.registration_id: media_kind.render(match, label=match.registration_id) for match in found if pictures
        }
    return Analysed([dataclasses.replace(match, localisation=None) for match in found], drawn)


class _Originals:
    """`fingerprint.compare.ReferenceSource` over the data a task was given; originals decoded through a small LRU."""

    def __init__(self, references: dict[str, ReferenceData], limits: DecodeLimits) -> None:
        self.references = references
        self.limits = limits

    def features(self, registration_id: str) -> LocalFeatures | None:
        blob = self.references[registration_id].features
        return None if blob is None else LocalFeatures.from_bytes(blob)

    def original(self, registration_id: str) -> DecodedMedia:
        return _decoded_original(self.references[registration_id].original, self.limits)

    def sound(self, registration_id: str) -> AudioFingerprint | None:
        blob = self.references[registration_id].sound
        return None if blob is None else AudioFingerprint.from_bytes(blob)


@lru_cache(maxsize=_DECODED_ORIGINALS)
def _decoded_original(path: Path, limits: DecodeLimits) -> DecodedMedia:
    """An original's decoded media; shared between checks, so nothing downstream may write to it."""
    return decode_with(path.read_bytes(), limits).media
