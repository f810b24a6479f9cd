"""Sound originals' landmarks: the sound kind's side index, in this process for every index backend, kept current from
the database like the hash index that owns it (`registry.index.common.SideIndex`).

Each sound original's `video_track` row holds its landmarks (`audio`); their pair hashes go into one inverted
`fingerprint.sound.rank.LandmarkIndex`, so a clip is ranked against every stored sound in one pass instead of a scan
of the newest few hundred. Videos' sound tracks are not in it: a video is found by its frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from fingerprint.audio import AudioFingerprint
from fingerprint.kinds import MatchCandidate
from fingerprint.sound.rank import ClipHashes, LandmarkIndex
from registry.index.common import Shared
from registry.kinds.tracks import CHUNK, TrackFollower
from registry.models import Registration, VideoTrack


class SoundLandmarks(TrackFollower):
    """Landmark pair hashes by (registration, anchor frame) for the originals of one kind (`kind`)."""

    unit = "landmark pair hashes"

    def __init__(self, shared: Shared, kind: str) -> None:
        super().__init__()
        self.name = f"{kind} landmarks"
        self._registrations = shared.registrations
        self._removed = shared.removed
        self._kind = kind
        self._index = LandmarkIndex()

    def search(self, clip: ClipHashes, *, limit: int) -> list[MatchCandidate]:
        """The `limit` originals with the most landmark votes agreeing on one placement, best first (`rank` their
        order), removed registrations left out."""
        ranked = self._index.rank(clip, limit=limit, excluded=self._removed())
        return [MatchCandidate(self._registrations.names[owner], rank=rank) for rank, (owner, _) in enumerate(ranked)]

    def stats(self) -> dict[str, int]:
        return {f"landmarks_{self._kind}": len(self._index)}

    def _rows_after(self, session: Session, last: int) -> Sequence[Any]:
        return session.exec(
            select(VideoTrack.id, VideoTrack.registration_id, VideoTrack.audio, Registration.kind)
            .join(Registration, col(Registration.id) == col(VideoTrack.registration_id))
            .where(col(VideoTrack.id) > last)
            .order_by(col(VideoTrack.id))
            .limit(CHUNK)
        ).all()

    def _add(self, row: Any) -> int:
        """Another kind's track (a video's sound) adds nothing: a video is found by its frames."""
        _, registration_id, blob, kind = row
        if kind != self._kind or not blob:
            return 0
        return self._index.add(self._registrations.number(registration_id), AudioFingerprint.from_bytes(blob))
