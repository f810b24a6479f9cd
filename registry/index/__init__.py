"""The match-index seam: hashes and local descriptors in, registration-level candidates out.

The check pipeline talks to one `MatchIndex` and sees registration ids and evidence only, never an index's own
ids. The database is the only source of truth: an index is a cache of the `media_hash` and `local_features`
rows, brought up to date by `sync` (rows are only ever added, in id order) and rebuilt from them at will.

`FaissMatchIndex` (in-process, exact faiss binary indexes; the default) is one implementation;
`PgvectorMatchIndex` (`PROVREG_INDEX=pgvector`: hashes searched in PostgreSQL by HNSW `bit_hamming_ops` indexes on
`bit(256)`/`bit(64)` expressions of `media_hash`) is the other. Both provide the same methods with the same
meaning:

- `search(alg, queries, radius, min_quality)`: every registration with a stored `alg` hash (of quality at least
  `min_quality`, or without quality) within `radius` bits of any query record, inclusive, with each hit as
  `HashEvidence`. pgvector answers top-k, not "all within r": it asks for a generous k (`hnsw.ef_search` raised),
  then applies the exact radius; `bench/pgvector_recall.py` measures its recall against exact search.
- `side(kind)`: that media kind's own index beside the hashes, if it has one (`registry.kinds`: the video kind's
  frame hashes by time), made from the kind's adapter, loaded, synced and sized with the rest; it leaves out
  removed registrations like the other searches. The kind's adapter searches it.
- `vote(features)`: originals whose stored descriptors are near the query's, with a vote count (`min_votes` and
  `limit` as the descriptor index's), most votes first.
- `sync(session)`: make every committed row searchable; cheap when nothing changed (pgvector's hash index is the
  table itself, so there only the in-process descriptor votes catch up).
- `remove(registration_ids)`: stop returning these registrations (a database restored without them).
- `load(engine)`, `save()`, `stats()`: start-up, shutdown shortcut, sizes for /metrics and /readyz.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from fingerprint.algorithms import HashRecord
from fingerprint.features import LocalFeatures
from fingerprint.kinds import HashEvidence, MatchCandidate
from registry.index.common import SideIndex
from registry.settings import Settings


class MatchIndex(Protocol):
    def load(self, engine: Engine) -> None: ...

    def sync(self, session: Session) -> int:
        """Index every row committed since the last sync; the number of rows added."""
        ...

    def search(
        self, alg: str, queries: Sequence[HashRecord], radius: int, *, min_quality: int = 0
    ) -> list[MatchCandidate]: ...

    def side(self, kind: str) -> SideIndex | None: ...

    def vote(self, features: Sequence[LocalFeatures]) -> list[MatchCandidate]: ...

    def remove(self, registration_ids: Iterable[str]) -> None: ...

    def save(self) -> None: ...

    def stats(self) -> dict[str, int]:
        """Sizes by name (`hashes_pdq`, `originals`, `descriptors`, ...)."""
        ...


def open_index(settings: Settings) -> MatchIndex:
    """The configured implementation (`PROVREG_INDEX`), its saved files under the data directory's `index/`."""
    directory = settings.data_dir / "index"
    if settings.index == "pgvector":
        from registry.index.pgvector import PgvectorMatchIndex

        return PgvectorMatchIndex(
            directory,
            top_k=settings.pgvector_top_k,
            ef_search=settings.pgvector_ef_search,
            retrieval_features=settings.retrieval_features,
        )
    from registry.index.faiss import FaissMatchIndex

    return FaissMatchIndex(directory, retrieval_features=settings.retrieval_features)


__all__ = ["HashEvidence", "MatchCandidate", "MatchIndex", "SideIndex", "open_index"]
