"""Sound originals' landmarks: the sound kind's side index, in this process for every index backend, kept current from
the database like the hash index that owns it (`registry.index.common.SideIndex`).

Each sound original's `video_track` row holds its landmarks (`audio`); their pair hashes go into one inverted
`fingerprint.sound.rank.LandmarkIndex`, so a clip is ranked against every stored sound in one pass instead of a scan
of the newest few hundred. Videos' sound tracks are not in it: a video is found by its frames.
"""

from __future__ import annotations

import logging
import threading

from sqlmodel import Session, col, func, select

from fingerprint.audio import AudioFingerprint
from fingerprint.kinds import MatchCandidate
from fingerprint.sound.rank import ClipHashes, LandmarkIndex
from registry.index.common import Shared
from registry.models import Registration, VideoTrack, stored_id

log = logging.getLogger(__name__)

_CHUNK = 100


class SoundLandmarks:
    """Landmark pair hashes by (registration, anchor frame) for the originals of one kind (`kind`)."""

    def __init__(self, shared: Shared, kind: str) -> None:
        self._registrations = shared.registrations
        self._removed = shared.removed
        self._kind = kind
        self._index = LandmarkIndex()
        self._last_track = -1  # the newest video_track row looked at (another kind's rows are passed over)
        self._adding = threading.Lock()  # "newer than the last track" then add: the pair must not interleave

    def load(self, session: Session) -> None:
        with self._adding:
            added = self._add_after(session)
        log.info("index %s landmarks: built from the database, %d pair hashes", self._kind, added)

    def sync(self, session: Session) -> int:
        """Add the tracks committed since the last look; one primary-key lookup when nothing is new."""
        newest = session.exec(select(func.max(VideoTrack.id))).one() or -1
        if newest <= self._last_track:
            return 0
        with self._adding:
            return self._add_after(session)

    def search(self, clip: ClipHashes, *, limit: int) -> list[MatchCandidate]:
        """The `limit` originals with the most landmark votes agreeing on one placement, best first (`rank` their
        order), removed registrations left out."""
        ranked = self._index.rank(clip, limit=limit, excluded=self._removed())
        return [MatchCandidate(self._registrations.names[owner], rank=rank) for rank, (owner, _) in enumerate(ranked)]

    def stats(self) -> dict[str, int]:
        return {f"landmarks_{self._kind}": len(self._index)}

    def _add_after(self, session: Session) -> int:
        """Add the landmarks of every track of this kind stored after the last one looked at."""
        added = 0
        while True:
            rows = session.exec(
                select(VideoTrack.id, VideoTrack.registration_id, VideoTrack.audio, Registration.kind)
                .join(Registration, col(Registration.id) == col(VideoTrack.registration_id))
                .where(col(VideoTrack.id) > self._last_track)
                .order_by(col(VideoTrack.id))
                .limit(_CHUNK)
            ).all()
            if not rows:
                return added
            for row_id, registration_id, blob, kind in rows:
                if kind == self._kind and blob:
                    owner = self._registrations.number(registration_id)
                    added += self._index.add(owner, AudioFingerprint.from_bytes(blob))
                self._last_track = stored_id(row_id)
