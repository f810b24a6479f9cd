"""What both kinds' side indexes over `video_track` rows share: they follow the table in row-id order, so a sync
after start-up reads only the rows committed since (`registry.index.common.SideIndex`)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, func, select

from registry.models import VideoTrack, stored_id

log = logging.getLogger(__name__)

CHUNK = 100  # video_track rows read per query while catching up


class TrackFollower(ABC):
    """Loads, then syncs, the rows of `video_track` after the newest one seen; a subclass says what it reads
    (`_rows_after`) and adds (`_add`)."""

    name = "tracks"  # for the start-up log line
    unit = "entries"

    def __init__(self) -> None:
        self._last_track = -1  # the newest video_track row looked at (one that adds nothing counts too)
        self._adding = threading.Lock()  # "newer than the last track" then add: the pair must not interleave

    def load(self, session: Session) -> None:
        with self._adding:
            added = self._add_after(session)
        log.info("index %s: built from the database, %d %s", self.name, added, self.unit)

    def sync(self, session: Session) -> int:
        """Add the tracks committed since the last look; one primary-key lookup when nothing is new."""
        newest = session.exec(select(func.max(VideoTrack.id))).one() or -1
        if newest <= self._last_track:
            return 0
        with self._adding:
            return self._add_after(session)

    def _add_after(self, session: Session) -> int:
        added = 0
        while rows := self._rows_after(session, self._last_track):
            for row in rows:
                added += self._add(row)
                self._last_track = stored_id(row[0])
        return added

    @abstractmethod
    def _rows_after(self, session: Session, last: int) -> Sequence[Any]:
        """Up to `CHUNK` rows after `last`, in id order, each starting with its `video_track` id."""

    @abstractmethod
    def _add(self, row: Any) -> int:
        """Index one row; the number of entries it added."""
