"""Video originals' frame hashes: the video kind's side index, in this process for every index backend, kept current
from the database like the hash index that owns it (`registry.index.common.SideIndex`).

Each `video_track` row holds one original's frame track (a PDQ hash per sampled frame and variant, with its time);
its frames go into one exact faiss `BinaryIndex` with the frame's time beside each, so a query's frames find the
(registration, time) pairs temporal matching votes with. The pgvector backend serves frames the same way: a track is
one row, and a 10 s query's 40-odd frames would be as many index scans there.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from fingerprint.index import BinaryIndex
from fingerprint.kinds import HashEvidence, MatchCandidate
from fingerprint.kinds.video import FRAME_ALG
from fingerprint.video.track import FrameTrack
from registry.index.common import Owners, Shared
from registry.kinds.soundindex import SoundLandmarks
from registry.kinds.tracks import CHUNK, TrackFollower
from registry.models import VideoTrack, stored_id

# A video frame hash's faiss id is its track's row id times this, plus its entry (frame x variant) in the track.
FRAMES_PER_TRACK = 1 << 24
_FRAME_BITS = 256


class VideoFrames(TrackFollower):
    """Frame hashes by (registration, time); `registrations` and `variants` are shared with the owning index."""

    name = FRAME_ALG
    unit = "frame hashes"

    def __init__(self, shared: Shared, kind: str) -> None:
        super().__init__()
        # the videos' sound, for a clip whose picture matches no frame (its picture replaced)
        self.sounds = SoundLandmarks(shared, kind)
        self._registrations = shared.registrations
        self._variants = shared.variants
        self._removed = shared.removed
        self._index = BinaryIndex(_FRAME_BITS)
        self._owners = Owners()
        self._times = array("d")  # beside `_owners`: the original's time of each frame hash

    def search(self, track: FrameTrack, radius: int, *, min_quality: int = 0) -> list[MatchCandidate]:
        """Video originals with frames within `radius` of the query track's frames, each hit with both times
        (`at`, `query_at`): what temporal matching votes with. Removed registrations are left out."""
        trusted = np.flatnonzero(track.qualities >= min_quality)
        if len(self._index) == 0 or len(trusted) == 0:
            return []
        removed = self._removed()
        evidence: dict[int, list[HashEvidence]] = {}
        for query_variant in track.variants:
            codes = np.ascontiguousarray(track.variant(query_variant)[trusted])
            for frame, hits in zip(trusted, self._index.range_search(codes, radius), strict=True):
                for hit in hits:
                    position = self._owners.find(hit.id)
                    if position is None:
                        continue
                    registration = self._owners.registrations[position]
                    if registration in removed or self._owners.qualities[position] < min_quality:
                        continue
                    evidence.setdefault(registration, []).append(
                        HashEvidence(
                            FRAME_ALG,
                            self._variants.names[self._owners.variants[position]],
                            query_variant,
                            hit.distance,
                            at=self._times[position],
                            query_at=float(track.times[frame]),
                        )
                    )
        return [
            MatchCandidate(self._registrations.names[registration], tuple(found))
            for registration, found in evidence.items()
        ]

    def load(self, session: Session) -> None:
        super().load(session)
        self.sounds.load(session)

    def sync(self, session: Session) -> int:
        return super().sync(session) + self.sounds.sync(session)

    def stats(self) -> dict[str, int]:
        return {f"hashes_{FRAME_ALG}": len(self._index), **self.sounds.stats()}

    def _rows_after(self, session: Session, last: int) -> Sequence[Any]:
        return session.exec(
            select(VideoTrack.id, VideoTrack.registration_id, VideoTrack.data)
            .where(col(VideoTrack.id) > last)
            .order_by(col(VideoTrack.id))
            .limit(CHUNK)
        ).all()

    def _add(self, row: Any) -> int:
        row_id, registration_id, data = row
        return self._add_track(stored_id(row_id), registration_id, FrameTrack.from_bytes(data))

    def _add_track(self, row_id: int, registration_id: str, track: FrameTrack) -> int:
        variants = len(track.variants)
        if len(track) * variants >= FRAMES_PER_TRACK:
            raise ValueError(f"video track {row_id} has more frames than the index numbers")
        registration = self._registrations.number(registration_id)
        numbers = [self._variants.number(name) for name in track.variants]
        ids = row_id * FRAMES_PER_TRACK + np.arange(len(track) * variants, dtype=np.int64)
        # owners first: a search that sees a new code must find its owner
        for entry, frame_id in enumerate(ids.tolist()):
            frame, variant = divmod(entry, variants)
            self._owners.append(frame_id, registration, numbers[variant], int(track.qualities[frame]))
            self._times.append(float(track.times[frame]))
        if len(ids):
            self._index.add(ids, track.codes.reshape(-1, track.codes.shape[-1]))
        return len(ids)
