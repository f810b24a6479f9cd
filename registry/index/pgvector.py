"""A `MatchIndex` in PostgreSQL: hash search by pgvector HNSW indexes on the `media_hash` table itself.

Each `media_hash` row carries its value as a bit string too (`code`, a stored generated column, so no write path
changes and no row can lack it), and each hash algorithm has a partial HNSW index on `code::bit(N)` with
`bit_hamming_ops`. A search is one statement per algorithm: for every query code, the `top_k` nearest rows by the
index (with `hnsw.ef_search` raised for the transaction), then the exact radius and quality filter on those rows,
returning their registration and variant from the same rows in the same transaction. HNSW is approximate and
answers top-k, not "everything within r": `bench/pgvector_recall.py` measures what it misses against exact search.

The local-descriptor vote stage stays in this process (`registry.index.descriptors`: the same in-process index
the faiss backend uses, caught up from `local_features` by row id on every sync), so pgvector mode moves the
hashes, not the votes, out of process memory.

The DDL (`schema_statements`) is idempotent and runs when the index opens, under an advisory lock so that
processes starting together do not race; it is written so that a migration can run the same statements.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from fingerprint.algorithms import ALGORITHMS, HashRecord
from fingerprint.features import LocalFeatures
from fingerprint.kinds import HashEvidence, MatchCandidate
from registry.errors import ConfigurationError
from registry.index.common import Interned, SavedFiles, Shared, SideIndex
from registry.index.descriptors import DescriptorVotes
from registry.kinds import side_indexes

log = logging.getLogger(__name__)

DEFAULT_TOP_K = 200
DEFAULT_EF_SEARCH = 400
_SCHEMA_LOCK = 0x70726F76  # pg_advisory_xact_lock key: "prov"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def schema_statements(algorithms: dict[str, int]) -> list[str]:
    """The DDL pgvector mode needs, for algorithms by bit length; every statement is idempotent."""
    return [statement for _, statement in _schema_objects(algorithms)]


def _schema_objects(algorithms: dict[str, int]) -> list[tuple[str, str]]:
    """(name, DDL) of each object, the name as `_existing` reports it."""
    objects = [
        ("extension vector", "CREATE EXTENSION IF NOT EXISTS vector"),
        (
            "column code",
            "ALTER TABLE media_hash ADD COLUMN IF NOT EXISTS code bit varying "
            "GENERATED ALWAYS AS (('x' || encode(value, 'hex'))::bit varying) STORED",
        ),
    ]
    for alg, bits in sorted(algorithms.items()):
        objects.append(
            (
                f"index {_index_name(alg)}",
                f"CREATE INDEX IF NOT EXISTS {_index_name(alg)} ON media_hash "
                f"USING hnsw ((code::bit({bits})) bit_hamming_ops) WHERE alg = '{_checked(alg)}'",
            )
        )
    return objects


_EXISTING = """
    SELECT 'extension ' || extname FROM pg_extension
    UNION ALL SELECT 'column ' || column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'media_hash'
    UNION ALL SELECT 'index ' || indexname FROM pg_indexes
        WHERE schemaname = current_schema() AND tablename = 'media_hash'
"""


def search_sql(alg: str, bits: int) -> str:
    """Top-k by the HNSW index per query code (`:codes`, hex with an `x` prefix), then the exact filters.

    The partial index's predicate and the bit length are literals: with bound values the planner (and any plan
    prepared for re-use) could not prove the partial index applies.
    """
    code = f"code::bit({bits})"
    return f"""
        SELECT q.n, hit.registration_id, hit.variant, hit.distance
        FROM unnest(CAST(:codes AS text[])) WITH ORDINALITY AS q(query, n)
        CROSS JOIN LATERAL (
            SELECT registration_id, variant, quality, ({code} <~> q.query::bit({bits})) AS distance
            FROM media_hash
            WHERE alg = '{_checked(alg)}'
            ORDER BY {code} <~> q.query::bit({bits})
            LIMIT :top_k
        ) AS hit
        WHERE hit.distance <= :radius AND (hit.quality IS NULL OR hit.quality >= :min_quality)
    """


def _checked(alg: str) -> str:
    """Algorithm names are written into SQL (a partial index's predicate must be a literal), so only plain ones."""
    if not _NAME.match(alg):
        raise ValueError(f"hash algorithm name {alg!r} cannot name a pgvector index")
    return alg


def _index_name(alg: str) -> str:
    return f"ix_media_hash_code_{_checked(alg)}"


class PgvectorMatchIndex:
    def __init__(
        self,
        directory: Path,
        *,
        top_k: int = DEFAULT_TOP_K,
        ef_search: int = DEFAULT_EF_SEARCH,
        retrieval_features: int | None = None,
    ) -> None:
        if not 1 <= top_k <= ef_search:
            raise ValueError("top_k must be between 1 and ef_search: HNSW returns at most ef_search rows")
        self.directory = directory
        self.top_k = top_k
        self.ef_search = ef_search
        self._engine: Engine | None = None
        self._registrations = Interned()
        self._descriptors = DescriptorVotes(SavedFiles(directory), self._registrations, retrieval_features)
        self._removed: set[str] = set()
        self._sides = side_indexes(Shared(self._registrations, Interned(), self._removed_numbers))
        self._removing = threading.Lock()

    # --- MatchIndex -----------------------------------------------------------------------------------------------

    def load(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ConfigurationError("the pgvector index needs a PostgreSQL database (PROVREG_DATABASE_URL)")
        self.create_schema(engine)
        self._engine = engine
        with Session(engine) as session:
            self._descriptors.load(session)
            for side in self._sides.values():
                side.load(session)

    def create_schema(self, engine: Engine) -> None:
        """Create the extension, the `code` column and one HNSW index per algorithm, if missing."""
        try:
            with engine.begin() as connection:
                objects = _schema_objects({alg: a.bits for alg, a in ALGORITHMS.items()})
                # ALTER TABLE locks the table even when the column exists: run only what is missing.
                if {name for name, _ in objects} <= set(connection.execute(text(_EXISTING)).scalars()):
                    return
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                existing = set(connection.execute(text(_EXISTING)).scalars())
                for name, statement in objects:
                    if name not in existing:
                        log.info("pgvector index: creating %s", name)
                        connection.execute(text(statement))
        except DBAPIError as exc:
            raise ConfigurationError(
                f"could not prepare the pgvector index (is the pgvector extension installed, version 0.7 or "
                f"later, and may this user create it?): {exc.orig}"
            ) from exc

    def sync(self, session: Session) -> int:
        """Hashes are searched in the table itself: only the in-process descriptor votes and side indexes catch up."""
        return self._descriptors.sync(session) + sum(side.sync(session) for side in self._sides.values())

    def search(
        self, alg: str, queries: Sequence[HashRecord], radius: int, *, min_quality: int = 0
    ) -> list[MatchCandidate]:
        algorithm = ALGORITHMS.get(alg)
        if algorithm is None or not queries:
            return []
        statement = text(search_sql(alg, algorithm.bits))
        codes = ["x" + record.value.data.hex() for record in queries]
        with self._session() as session, session.begin():
            session.execute(text("SELECT set_config('hnsw.ef_search', :value, true)"), {"value": str(self.ef_search)})
            rows = session.execute(
                statement, {"codes": codes, "top_k": self.top_k, "radius": radius, "min_quality": min_quality}
            ).all()
        evidence: dict[str, list[HashEvidence]] = {}
        for n, registration_id, variant, distance in rows:
            if registration_id not in self._removed:
                query_variant = queries[n - 1].variant
                evidence.setdefault(registration_id, []).append(
                    HashEvidence(alg, variant, query_variant, int(distance))
                )
        return [
            MatchCandidate(registration_id, tuple(sorted(found, key=lambda e: (e.distance, e.variant))))
            for registration_id, found in evidence.items()
        ]

    def side(self, kind: str) -> SideIndex | None:
        return self._sides.get(kind)

    def vote(self, features: Sequence[LocalFeatures]) -> list[MatchCandidate]:
        return self._descriptors.vote(features, self._removed_numbers())

    def _removed_numbers(self) -> set[int]:
        return {n for n in map(self._registrations.find, self._removed) if n is not None}

    def remove(self, registration_ids: Iterable[str]) -> None:
        with self._removing:
            self._removed = self._removed | set(registration_ids)  # replaced, never mutated under a reader

    def save(self) -> None:
        self._descriptors.save()

    def stats(self) -> dict[str, int]:
        with self._session() as session:
            counts = dict(session.execute(text("SELECT alg, count(*) FROM media_hash GROUP BY alg")).all())
        return {
            **{f"hashes_{alg}": int(counts.get(alg, 0)) for alg in sorted(set(ALGORITHMS) | set(counts))},
            **self._descriptors.stats(),
            **{name: size for side in self._sides.values() for name, size in side.stats().items()},
            "removed": len(self._removed),
        }

    def _session(self) -> Session:
        if self._engine is None:
            raise RuntimeError("the pgvector index is used before load()")
        return Session(self._engine)
