"""Sound files on the registry side: their landmarks stored as a video's sound is (`video_track.audio`, beside an
empty frame track), found through the kind's inverted landmark index, and a match viewed as its placement in the
original and the spans whose sound is not the original's.

Stored where a video's sound is, so that `stored_sounds` reads both alike and no migration is needed: the row's
frame track is empty (the frame index adds no frames for it). The side index (`registry.kinds.soundindex`) ranks
every stored sound original by the landmark votes that agree on one offset at one speed (`fingerprint.sound.rank`)
and hands the best `CANDIDATES` to the analysis, which places the clip in each (`fingerprint.sound.match_sound`). It
ranks, never excludes; a shared-hash share would not rank (a resampled clip shares 1-16% of its hashes with its
original, an unrelated song up to half with another original).

The detector assesses pictures, so a sound is never assessed: `assessment` stays null, as for any kind without one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlmodel import Session, SQLModel

from fingerprint.algorithms import CANONICAL, HashRecord
from fingerprint.kinds import Fingerprint, MatchCandidate
from fingerprint.kinds.sound import WHOLE_FILE_HASHES
from fingerprint.sound import SOUNDHASH, SoundMatch
from fingerprint.sound.decode import SoundMedia
from fingerprint.sound.rank import ClipHashes
from fingerprint.video.track import FrameTrack
from registry import views
from registry.audioscan import stored_sounds
from registry.index.common import Shared
from registry.kinds.base import CheckMode, KindAdapter
from registry.kinds.soundindex import SoundLandmarks
from registry.models import VideoTrack
from registry.policy import MatchPolicy
from registry.render import RegistrationStatus, common, match_score

if TYPE_CHECKING:
    from registry.index import MatchIndex

CANDIDATES = 6  # the stored sounds with the most offset-consistent votes, placed by the analysis
_NO_FRAMES = FrameTrack(np.zeros(0), np.zeros((0, 1, 32), np.uint8), np.zeros(0, np.uint8), (CANONICAL,)).to_bytes()


class SoundFactsView(views.KindFactsView):
    """`facts` of a sound file: decoded seconds, the first sound stream's sample rate (Hz), channels and codec."""

    kind: str = "sound"
    duration: float
    sample_rate: int
    channels: int
    codec: str


class SoundSegmentView(views._View):
    """Sound: clip seconds [start, end] play original seconds [original_start, original_end]."""

    start: float
    end: float
    original_start: float
    original_end: float
    speed: float  # original seconds per clip second (1.1: played 10% faster)
    pitch: float  # how much higher the clip sounds: 1 for a tempo change that kept the pitch, `speed` if resampled
    similarity: float | None  # share of the clip's spectral peaks there the original has too (None: silent)


class SoundSpanView(views._View):
    """Sound: clip seconds whose sound is not the original's. `inserted`: sound the original does not have there
    (spliced in); `replaced`: other sound over a stretch of the original whose time runs on under it; `deleted`: the
    original's [original_start, original_end] cut out at the point `start` (== `end`); `silenced`: the original has
    sound there and the clip none."""

    kind: Literal["inserted", "replaced", "deleted", "silenced"]
    start: float
    end: float
    original_start: float | None  # None where the original's time is not known
    original_end: float | None


class SoundMatchFactsView(views.KindFactsView):
    """`facts` of a sound match: where the clip sits in the original and what in it is not the original's sound."""

    kind: str = "sound"
    offset: float  # the original's second at the clip's first sample
    speed: float  # original seconds per clip second, of the longest segment
    pitch: float
    similarity: float | None  # share of the clip's spectral peaks the original has too, over all segments
    # other offsets where the clip fits the original nearly as well (it repeats itself, as songs do): `offset` is then
    # one of several places
    also_at: list[float]
    segments: list[SoundSegmentView]
    spans: list[SoundSpanView]


class SoundAdapter(KindAdapter[SoundMedia, SoundMatch]):
    name = "sound"
    accepts = "audio/*"
    described = "MP3, AAC/M4A, Ogg (Opus), WebM, WAV or FLAC sound"
    file_suffixes = (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".oga", ".weba", ".mka", ".wav", ".flac")
    whole_file_hashes = WHOLE_FILE_HASHES
    timed = True
    primary_alg = SOUNDHASH

    def stored_rows(self, registration_id: str, fp: Fingerprint) -> list[SQLModel]:
        if fp.audio is None:  # hashes only (a backfill): nothing to place a clip in
            return []
        return [VideoTrack(registration_id=registration_id, data=_NO_FRAMES, audio=fp.audio.to_bytes())]

    def stored_sounds(self, session: Session, registration_ids: set[str]) -> dict[str, bytes]:
        return stored_sounds(session, registration_ids)

    def side_index(self, shared: Shared) -> SoundLandmarks:
        return SoundLandmarks(shared, self.name)

    def candidates(
        self,
        *,
        session: Session,
        index: MatchIndex,
        fp: Fingerprint,
        policy: MatchPolicy,
        mode: CheckMode,
        found: Sequence[MatchCandidate],
    ) -> list[MatchCandidate]:
        """The sound originals with the most landmark votes agreeing on one placement. None in fast mode, which does not
        analyse: a sound has no hash a check searches, so only its byte-identical copies are found there."""
        if fp.audio is None or mode == "fast":
            return []
        return _landmarks(index, self.name).search(ClipHashes.of(fp.audio), limit=CANDIDATES)

    def facts_view(self, facts: Mapping[str, Any]) -> SoundFactsView:
        return SoundFactsView(
            duration=float(facts["duration"]),
            sample_rate=int(facts["sample_rate"]),
            channels=int(facts["channels"]),
            codec=str(facts["codec"]),
        )

    def match_view(
        self, status: RegistrationStatus, match: SoundMatch, fp: Fingerprint, stored: list[HashRecord], now: datetime
    ) -> views.MatchView:
        """`distance` 0 and `variant` identity (a sound has no picture hash to measure); `score` and `matched_share`
        the share of the clip some segment explains; the placement and spans in `facts`."""
        return views.MatchView(
            **common(status, now),
            distance=0,
            score=match_score(match.verdict, match.matched_share),
            variant="identity",
            exact=False,
            verdict=match.verdict,
            matched_share=match.matched_share,
            facts=SoundMatchFactsView(
                offset=match.offset,
                speed=match.speed,
                pitch=match.pitch,
                similarity=match.similarity,
                also_at=list(match.also_at),
                segments=[
                    SoundSegmentView(
                        start=s.start,
                        end=s.end,
                        original_start=s.original_start,
                        original_end=s.original_end,
                        speed=s.speed,
                        pitch=s.pitch,
                        similarity=s.similarity,
                    )
                    for s in match.segments
                ],
                spans=[
                    SoundSpanView(
                        kind=s.kind,
                        start=s.start,
                        end=s.end,
                        original_start=s.original_start,
                        original_end=s.original_end,
                    )
                    for s in match.spans
                ],
            ),
        )


def _landmarks(index: MatchIndex, kind: str) -> SoundLandmarks:
    landmarks = index.side(kind)
    if not isinstance(landmarks, SoundLandmarks):
        raise RuntimeError("the match index holds no sound landmarks: it was opened without the sound kind")
    return landmarks
