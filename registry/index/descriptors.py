"""The local-descriptor vote stage, in this process for every index backend, kept current from the database.

Originals' ORB descriptors (`local_features` rows, ids in increasing order) feed one `DescriptorIndex`; a query's
descriptors vote for the originals they are near. Both `MatchIndex` implementations serve `vote` with this: the
faiss one beside its hash indexes, the pgvector one beside hash search in PostgreSQL (pgvector has no
multi-vector vote, and a vote over hundreds of descriptors per query would be hundreds of index scans).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from fingerprint.descriptor_index import INDEXED_PER_REFERENCE, DescriptorIndex
from fingerprint.features import LocalFeatures
from fingerprint.kinds import MatchCandidate
from registry.index.common import Interned, Owners, SavedFiles
from registry.models import LocalFeatureSet, stored_id

log = logging.getLogger(__name__)

_NAME = "descriptors"
_CHUNK = 1_000


class DescriptorVotes:
    """Originals by descriptor votes; `registrations` is shared with the owner so ids are interned once."""

    def __init__(self, files: SavedFiles, registrations: Interned, retrieval_features: int | None = None) -> None:
        self._files = files
        self._registrations = registrations
        self._per_reference = retrieval_features or INDEXED_PER_REFERENCE
        self._index = DescriptorIndex(per_reference=self._per_reference)
        self._owners = Owners()
        self._adding = threading.Lock()  # "newer than max_id" then add: the pair must not interleave

    def load(self, session: Session) -> None:
        """From the saved file when it holds exactly the database's rows up to its last id, else from the rows."""
        with self._adding:
            saved = self._files.read(_NAME)
            if saved is not None:
                blob, meta = saved
                try:
                    index = DescriptorIndex.from_bytes(blob)
                except ValueError as exc:
                    log.warning("index %s: %s; rebuilding", _NAME, exc)
                else:
                    max_id, references = int(meta.get("max_id", -1)), int(meta.get("references", -1))
                    owners = Owners()
                    for row_id, registration_id in self._rows_up_to(session, max_id):
                        owners.append(row_id, self._registrations.number(registration_id), 0, None)
                    if index.per_reference != self._per_reference:
                        log.info(
                            "index %s: saved with %d descriptors per original; rebuilding", _NAME, index.per_reference
                        )
                    elif len(owners.row_ids) == references == index.references:
                        self._index, self._owners = index, owners
                        added = self._add_after(session)
                        log.info("index %s: loaded %d saved originals, caught up %d", _NAME, references, added)
                        return
                    else:
                        log.warning("index %s: saved file disagrees with the database; rebuilding", _NAME)
            self._index, self._owners = DescriptorIndex(per_reference=self._per_reference), Owners()
            added = self._add_after(session)
            log.info("index %s: built from the database, %d originals", _NAME, added)

    def sync(self, session: Session) -> int:
        """Add the rows committed since the last look; one primary-key lookup when nothing is new."""
        newest = session.exec(select(func.max(LocalFeatureSet.id))).one() or -1
        if newest <= self._owners.max_id:
            return 0
        with self._adding:
            return self._add_after(session)

    def vote(self, features: Sequence[LocalFeatures], removed: set[int]) -> list[MatchCandidate]:
        """Most votes first; registrations numbered in `removed` are left out."""
        candidates = []
        for vote in self._index.search(features):
            position = self._owners.find(vote.key)
            if position is None:
                continue
            registration = self._owners.registrations[position]
            if registration not in removed:
                candidates.append(MatchCandidate(self._registrations.names[registration], votes=vote.votes))
        return candidates

    def save(self) -> None:
        with self._adding:  # so the meta describes exactly the rows the index holds
            self._files.write(
                _NAME, self._index.to_bytes(), {"max_id": self._owners.max_id, "references": self._index.references}
            )

    def stats(self) -> dict[str, int]:
        return {"originals": len(self._owners.row_ids), "descriptors": len(self._index)}

    def _rows_up_to(self, session: Session, max_id: int) -> list[tuple[int, str]]:
        rows = session.exec(
            select(LocalFeatureSet.id, LocalFeatureSet.registration_id)
            .where(col(LocalFeatureSet.id) <= max_id)
            .order_by(col(LocalFeatureSet.id))
        ).all()
        return [(stored_id(row_id), registration_id) for row_id, registration_id in rows]

    def _add_after(self, session: Session) -> int:
        added = 0
        while True:
            rows = session.exec(
                select(LocalFeatureSet.id, LocalFeatureSet.registration_id, LocalFeatureSet.data)
                .where(col(LocalFeatureSet.id) > self._owners.max_id)
                .order_by(col(LocalFeatureSet.id))
                .limit(_CHUNK)
            ).all()
            if not rows:
                return added
            for row_id, registration_id, _ in rows:
                self._owners.append(stored_id(row_id), self._registrations.number(registration_id), 0, None)
            self._index.add_many([(stored_id(row_id), LocalFeatures.from_bytes(data)) for row_id, _, data in rows])
            added += len(rows)
