"""The interface a media kind implements (images now, video next), and the records that cross it.

A kind is decided once, from the file's magic bytes; everything after that (decoding, fingerprints, analysing a
candidate original, drawing the comparison) is the kind's own business behind this one protocol. The registry
passes fingerprints and candidates through without knowing what is inside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from fingerprint.algorithms import HashRecord
from fingerprint.audio import AudioFingerprint
from fingerprint.candidates import MatchCandidate
from fingerprint.compare import ReferenceSource
from fingerprint.features import LocalFeatures
from fingerprint.media import MAX_BITS_PER_SAMPLE, MAX_DECODED_BYTES, MAX_JPEG_SCANS
from fingerprint.video.decode import VideoLimits
from fingerprint.video.track import FrameTrack


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Caps on what decoding one file may cost, checked before the expensive work (named like their settings)."""

    max_pixels: int
    max_decoded_bytes: int = MAX_DECODED_BYTES
    max_bits_per_sample: int = MAX_BITS_PER_SAMPLE
    max_jpeg_scans: int = MAX_JPEG_SCANS
    # a video's caps and sampling rates, passed on to the decoder as they are
    video: VideoLimits = field(default_factory=VideoLimits)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Everything the registry stores about an original, or searches with for a query, from one decode.

    `hashes` holds every algorithm's records (for a query the first record of an algorithm is its canonical hash);
    `features` the local features where the kind has them (a reference one set, a query one per orientation
    and inset);
    `facts` kind-specific metadata (an image's dimensions and trim box); `frames` a video's frame track (an
    original's is stored and indexed by time, a query's is what the index is searched with); `audio` a video's
    sound track fingerprint (None without a track): an original's is stored, a query's is compared with it.
    """

    kind: str
    sha256: str
    media_type: str
    size: int
    hashes: tuple[HashRecord, ...]
    features: tuple[LocalFeatures, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)
    frames: FrameTrack | None = None
    audio: AudioFingerprint | None = None

    def of(self, alg: str) -> tuple[HashRecord, ...]:
        return tuple(record for record in self.hashes if record.alg == alg)

    def primary(self) -> dict[str, HashRecord]:
        """Each algorithm's canonical record: what views show and lookups take."""
        first: dict[str, HashRecord] = {}
        for record in self.hashes:
            first.setdefault(record.alg, record)
        return first


Decoded = TypeVar("Decoded")  # what a kind decodes a file into (an image's `CanonicalImage`, a `VideoMedia`)
Match = TypeVar("Match")  # what its analysis finds (a `DerivativeMatch`, a `VideoMatch`): a dataclass with
# `registration_id` and `localisation` (what only its picture needs, dropped before the match leaves the worker)


class MediaKind(Protocol[Decoded, Match]):
    """One kind of media: how to recognise, decode, fingerprint and analyse it. `Decoded` is what `decode` returns
    and every later step takes; `Match` what `analyse` finds and `render` draws."""

    name: str

    def sniff(self, data: bytes) -> str | None:
        """The media type if the magic bytes are this kind's, else None."""
        ...

    def decode(self, data: bytes, limits: DecodeLimits) -> Decoded:
        """The one decode of a request; raises `fingerprint.media.MediaError` subclasses."""
        ...

    def reference(self, media: Decoded, *, sha256: str, size: int, local: bool = True) -> Fingerprint:
        """What is stored for an original; `local=False` only its hashes (a backfill, the CLI's `hash`)."""
        ...

    def query(self, media: Decoded, *, sha256: str, size: int, local: bool) -> Fingerprint:
        """What a check searches with; `local=False` skips local features (the fast mode)."""
        ...

    def analyse(
        self,
        media: Decoded,
        query: Fingerprint,
        candidates: Sequence[MatchCandidate],
        references: ReferenceSource[Decoded],
        *,
        strong: int,
        limit: int,
        exhaustive: bool = True,
    ) -> list[Match]:
        """Verify candidates against their originals: verdict, transform, altered regions; at most about `limit`
        matches are wanted, so the work does not grow with the number of near-duplicates registered.
        `exhaustive=False` lets the kind stop once one match leaves no doubt (a check that draws no pictures)."""
        ...

    def render(self, match: Match, *, label: str) -> bytes:
        """A PNG that shows a match: the original, the query aligned, what changed."""
        ...
