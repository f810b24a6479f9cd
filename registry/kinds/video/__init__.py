"""Videos on the registry side: a frame track and a sound fingerprint stored per original (`video_track`), its
frames searched in a side index, a clip's sound alone searched when no frame matches, matches viewed as timelines,
a few frames assessed, and frame pairs drawn for the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import Session, SQLModel

from detector import Assessment, assess_video
from detector.assess import MAX_SIDE
from fingerprint.algorithms import CANONICAL, HashRecord
from fingerprint.kinds import DecodeLimits, Fingerprint, MatchCandidate
from fingerprint.kinds.video import WHOLE_FILE_HASHES, VideoMatch
from fingerprint.sound.rank import ClipHashes
from fingerprint.video.align import MIN_MATCHED_FRAMES, FrameHit, hypotheses
from fingerprint.video.decode import VideoMedia, sample
from fingerprint.video.track import FrameTrack
from registry import views
from registry.assessment import ScorerLoader
from registry.audioscan import SOUND_RANKED, stored_sounds, verified_by_sound
from registry.index.common import Shared
from registry.kinds.base import CheckMode
from registry.kinds.picture import PictureAdapter, PictureFacts, pdq_distance
from registry.kinds.video import pictures
from registry.kinds.video.frames import VideoFrames
from registry.kinds.video.matchview import match_view
from registry.models import VideoTrack
from registry.policy import MatchPolicy
from registry.render import HashDistance, RegistrationStatus

if TYPE_CHECKING:
    from registry.index import MatchIndex

# Share of a new video's trustworthy frames one placement in an earlier original must explain to repeat it, and
# how many of its frames (evenly spaced) are searched for it: an hour of footage costs what a 16 s check does.
_VIDEO_SHARE = 0.5
_VIDEO_FRAMES = 64


class VideoFactsView(views.KindFactsView):
    """`facts` of a video: its frame size, duration (seconds), frame rate and the frames its track sampled."""

    kind: str = "video"
    width: int
    height: int
    trim_box: list[int]
    duration: float
    fps: float
    frames: int


class VideoAdapter(PictureAdapter[VideoMedia, VideoMatch]):
    name = "video"
    accepts = "video/*"
    described = "MP4, MOV or WebM videos"
    file_suffixes = (".mp4", ".m4v", ".mov", ".webm", ".mkv")
    whole_file_hashes = WHOLE_FILE_HASHES
    timed = True

    # --- stored rows ----------------------------------------------------------------------------------------------

    def stored_rows(self, registration_id: str, fp: Fingerprint) -> list[SQLModel]:
        if fp.frames is None:
            return []
        audio = None if fp.audio is None else fp.audio.to_bytes()
        return [VideoTrack(registration_id=registration_id, data=fp.frames.to_bytes(), audio=audio)]

    def stored_sounds(self, session: Session, registration_ids: set[str]) -> dict[str, bytes]:
        return stored_sounds(session, registration_ids)

    # --- searches -------------------------------------------------------------------------------------------------

    def side_index(self, shared: Shared) -> VideoFrames:
        return VideoFrames(shared, self.name)

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
        """Originals with frames near the clip's (within the strong radius only: temporal alignment, not a looser
        radius, finds the rest); when no frame matched, those whose sound holds the clip's (its picture replaced)."""
        if fp.frames is None:
            return []
        framed = _frames(index).search(fp.frames, policy.strong, min_quality=policy.min_quality)
        if mode == "full" and fp.audio is not None and not any(_frame_evidence(c) for c in [*found, *framed]):
            ranked = _frames(index).sounds.search(ClipHashes.of(fp.audio), limit=SOUND_RANKED)
            return framed + verified_by_sound(session, fp.audio, ranked)
        return framed

    def similar(self, *, index: MatchIndex, fp: Fingerprint, policy: MatchPolicy) -> set[str]:
        """Video originals that one placement in time puts under most of `fp`'s trustworthy frames (its poster frame
        alone does not make two videos one)."""
        track = fp.frames
        if track is None or CANONICAL not in track.variants:
            return set()
        trusted = np.flatnonzero(track.qualities >= policy.min_quality)
        if len(trusted) == 0:
            return set()
        spread = np.linspace(0, len(trusted) - 1, min(len(trusted), _VIDEO_FRAMES)).round().astype(int)
        chosen = trusted[np.unique(spread)]
        upright = FrameTrack(
            track.times[chosen], track.variant(CANONICAL)[chosen, None, :], track.qualities[chosen], (CANONICAL,)
        )
        needed = max(MIN_MATCHED_FRAMES, _VIDEO_SHARE * len(chosen))
        found = set()
        for candidate in _frames(index).search(upright, policy.strong, min_quality=policy.min_quality):
            placed = hypotheses(_frame_hits(candidate), limit=1)
            if placed and placed[0].votes >= needed:
                found.add(candidate.registration_id)
        return found

    # --- views ----------------------------------------------------------------------------------------------------

    def facts_view(self, facts: Mapping[str, Any]) -> VideoFactsView:
        shown = PictureFacts.of(facts)
        return VideoFactsView(
            width=shown.width,
            height=shown.height,
            trim_box=shown.trim_box,
            duration=float(facts["duration"]),
            fps=float(facts["fps"]),
            frames=int(facts["frames"]),
        )

    def fast_distance(self, fp: Fingerprint, candidate: MatchCandidate, stored: list[HashRecord]) -> HashDistance:
        """The nearest frame hit; the poster's PDQ distance for a candidate without one."""
        frame = min(_frame_evidence(candidate), key=lambda e: e.distance, default=None)
        if frame is not None:
            return HashDistance(frame.distance, frame.query_variant)
        return pdq_distance(fp, stored)

    def match_view(
        self, status: RegistrationStatus, match: VideoMatch, fp: Fingerprint, stored: list[HashRecord], now: datetime
    ) -> views.MatchView:
        return match_view(status, match, now)

    # --- assessment -----------------------------------------------------------------------------------------------

    def assess(self, media: VideoMedia, load_scorer: ScorerLoader, frames: int) -> Assessment:
        """`frames` frames spread evenly over the video, decoded in one streaming pass under its own caps."""
        return assess_video(sampled_frames(media, frames), scorer=load_scorer(), max_frames=frames)

    # heatmap: none. The frame its heat-map was found on is not kept, and decoding the video again to find it would
    # cost a second pass.

    # --- pictures -------------------------------------------------------------------------------------------------

    def picture_plans(
        self, view: views.CheckView, registrations: Mapping[str, views.RegistrationView]
    ) -> dict[str, list[dict[str, Any]]]:
        return {
            registration_id: [pair.plan() for pair in pairs]
            for registration_id, pairs in pictures.pairs_of(view, registrations).items()
        }

    def draw_picture(self, query: bytes, original: Path, limits: DecodeLimits, plan: dict[str, Any]) -> bytes:
        return pictures.render_pair(query, original, limits, pictures.Pair.from_plan(plan))


def sampled_frames(video: VideoMedia, count: int) -> list[np.ndarray]:
    """At most `count` frames, one at the start of each of `count` equal spans of the video (fewer when the video
    has fewer frames), at most the assessment's working size."""
    # sample's grid is absolute (ticks at k / rate), so this rate puts the ticks at k * duration / count
    rate = count / video.duration if video.duration > 0 else video.limits.query_fps
    return [frame.pixels for frame in islice(sample(video, rate, max_side=MAX_SIDE), count)]


def _frames(index: MatchIndex) -> VideoFrames:
    frames = index.side(VideoAdapter.name)
    if not isinstance(frames, VideoFrames):
        raise RuntimeError("the match index holds no video frames: it was opened without the video kind")
    return frames


def _frame_evidence(candidate: MatchCandidate) -> list[Any]:
    """A candidate's video frame hits (hash evidence with the original's time)."""
    return [e for e in candidate.hashes if e.at is not None]


def _frame_hits(candidate: MatchCandidate) -> list[FrameHit]:
    return [
        FrameHit(e.query_at, e.at, e.distance, e.query_variant, e.variant)
        for e in candidate.hashes
        if e.at is not None and e.query_at is not None
    ]
