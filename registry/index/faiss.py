"""The default `MatchIndex`: exact faiss binary indexes in this process, kept in step with the database.

One `BinaryIndex` per hash algorithm (faiss ids are `media_hash` row ids), the descriptor vote stage
(`registry.index.descriptors`, ids are `local_features` row ids) and each media kind's own side index, if it has
one (`registry.kinds`). Beside each, compact arrays map those row ids to the
registration and hash variant they belong to, so a search answers in registration ids without asking the database.
Rows are never deleted, so an index holding every row up to some id is brought up to date by adding the rows
after it.

Saved files are a start-up shortcut for the faiss part: each is used only if its checksum holds and it holds
exactly the database's rows up to its last id; missing rows are then added, and anything else triggers a rebuild.
The row-to-registration maps are always read from the database at load (ids and names only, no hash values).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS, HashRecord
from fingerprint.features import LocalFeatures
from fingerprint.index import BinaryIndex
from fingerprint.kinds import HashEvidence, MatchCandidate
from registry.index.common import NO_QUALITY, Interned, Owners, SavedFiles, Shared, SideIndex
from registry.index.descriptors import DescriptorVotes
from registry.kinds import side_indexes
from registry.models import MediaHash, stored_id

log = logging.getLogger(__name__)

_CHUNK = 20_000


class FaissMatchIndex:
    def __init__(self, directory: Path, *, retrieval_features: int | None = None) -> None:
        self.directory = directory
        self._files = SavedFiles(directory)
        self._hashes: dict[str, BinaryIndex] = {}
        self._hash_owners: dict[str, Owners] = {}
        self._registrations = Interned()
        self._variants = Interned()
        self._descriptors = DescriptorVotes(self._files, self._registrations, retrieval_features)
        self._removed: set[int] = set()
        self._sides = side_indexes(Shared(self._registrations, self._variants, lambda: self._removed))
        # Sync reads "newer than max_id" and then adds: the pair must not interleave between threads.
        self._adding = threading.Lock()
        self._newest = -1  # the media_hash id seen so far

    # --- MatchIndex -----------------------------------------------------------------------------------------------

    def load(self, engine: Engine) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with Session(engine) as session:
            with self._adding:
                algs = set(ALGORITHMS) | set(session.exec(select(MediaHash.alg).distinct()).all())
                for alg in sorted(algs):
                    self._load_hashes(session, alg)
                self._newest = max((owners.max_id for owners in self._hash_owners.values()), default=-1)
            self._descriptors.load(session)
            for side in self._sides.values():
                side.load(session)

    def sync(self, session: Session) -> int:
        """Index every row committed since we last looked, by this process or another (a CLI run, a worker).

        Registration calls this right after its commit, so a new original matches as soon as `register` returns;
        queries call it too, and it costs two primary-key lookups when nothing is new.
        """
        added = self._descriptors.sync(session) + sum(side.sync(session) for side in self._sides.values())
        newest = session.exec(select(func.max(MediaHash.id))).one() or -1
        if newest <= self._newest:
            return added
        with self._adding:
            added += self._add_hashes_after(session, max((o.max_id for o in self._hash_owners.values()), default=-1))
            self._newest = max(self._newest, newest)
        return added

    def search(
        self, alg: str, queries: Sequence[HashRecord], radius: int, *, min_quality: int = 0
    ) -> list[MatchCandidate]:
        index, owners = self._hashes.get(alg), self._hash_owners.get(alg)
        if index is None or owners is None or not queries:
            return []
        codes = np.stack([record.value.to_array() for record in queries])
        evidence: dict[int, list[HashEvidence]] = {}
        for query, hits in zip(queries, index.range_search(codes, radius), strict=True):
            for hit in hits:
                position = owners.find(hit.id)
                if position is None:
                    continue
                quality = owners.qualities[position]
                registration = owners.registrations[position]
                if registration in self._removed or (quality != NO_QUALITY and quality < min_quality):
                    continue
                variant = self._variants.names[owners.variants[position]]
                evidence.setdefault(registration, []).append(HashEvidence(alg, variant, query.variant, hit.distance))
        return [
            MatchCandidate(
                self._registrations.names[registration], tuple(sorted(found, key=lambda e: (e.distance, e.variant)))
            )
            for registration, found in evidence.items()
        ]

    def side(self, kind: str) -> SideIndex | None:
        return self._sides.get(kind)

    def vote(self, features: Sequence[LocalFeatures]) -> list[MatchCandidate]:
        return self._descriptors.vote(features, self._removed)

    def remove(self, registration_ids: Iterable[str]) -> None:
        self._removed.update(n for n in map(self._registrations.find, registration_ids) if n is not None)

    def stats(self) -> dict[str, int]:
        return {
            **{f"hashes_{alg}": len(index) for alg, index in self._hashes.items()},
            **self._descriptors.stats(),
            **{name: size for side in self._sides.values() for name, size in side.stats().items()},
            "removed": len(self._removed),
        }

    def save(self) -> None:
        with self._adding:  # so each file's meta describes exactly the rows its index holds
            for alg, index in self._hashes.items():
                self._files.write(alg, index.to_bytes(), {"max_id": index.max_id})
        self._descriptors.save()

    # --- hashes ---------------------------------------------------------------------------------------------------

    def _load_hashes(self, session: Session, alg: str) -> None:
        bits = self._bits(session, alg)
        owners = self._hash_owners[alg] = Owners()
        saved = self._files.read(alg)
        index = None
        if saved is not None:
            try:
                index = BinaryIndex.from_bytes(saved[0], bits)
            except ValueError as exc:
                log.warning("index %s: %s; rebuilding", alg, exc)
        if index is not None:
            self._read_owners(session, alg, owners, index.max_id)
            ids = index.ids()
            if len(ids) == len(owners.row_ids) and np.array_equal(
                np.sort(ids), np.frombuffer(owners.row_ids, np.int64)
            ):
                self._hashes[alg] = index
                added = self._add_hashes_after(session, index.max_id, only=alg)
                log.info("index %s: loaded %d saved codes, caught up %d", alg, len(ids), added)
                return
            log.warning("index %s: saved file disagrees with the database; rebuilding", alg)
            owners = self._hash_owners[alg] = Owners()
        self._hashes[alg] = BinaryIndex(bits)
        added = self._add_hashes_after(session, -1, only=alg)
        log.info("index %s: built from the database, %d codes", alg, added)

    def _bits(self, session: Session, alg: str) -> int:
        """An algorithm's length: from its module, or from a stored row when the module is gone."""
        if alg in ALGORITHMS:
            return ALGORITHMS[alg].bits
        value = session.exec(select(MediaHash.value).where(MediaHash.alg == alg).limit(1)).first()
        return len(value or b"\0") * 8

    def _read_owners(self, session: Session, alg: str, owners: Owners, max_id: int) -> None:
        last = -1
        while True:
            rows = session.exec(
                select(MediaHash.id, MediaHash.registration_id, MediaHash.variant, MediaHash.quality)
                .where(MediaHash.alg == alg, col(MediaHash.id) > last, col(MediaHash.id) <= max_id)
                .order_by(col(MediaHash.id))
                .limit(_CHUNK)
            ).all()
            if not rows:
                return
            for row_id, registration_id, variant, quality in rows:
                owners.append(
                    stored_id(row_id),
                    self._registrations.number(registration_id),
                    self._variants.number(variant),
                    quality,
                )
            last = stored_id(rows[-1][0])

    def _add_hashes_after(self, session: Session, after: int, *, only: str | None = None) -> int:
        """Add every hash row after `after` (of one algorithm, or of all); new algorithms get a new index."""
        added = 0
        while True:
            query = select(MediaHash).where(col(MediaHash.id) > after)
            if only is not None:
                query = query.where(MediaHash.alg == only)
            rows = session.exec(query.order_by(col(MediaHash.id)).limit(_CHUNK)).all()
            if not rows:
                return added
            by_alg: dict[str, list[MediaHash]] = {}
            for row in rows:
                by_alg.setdefault(row.alg, []).append(row)
            for alg, alg_rows in by_alg.items():
                if alg not in self._hashes:
                    self._hashes[alg], self._hash_owners[alg] = BinaryIndex(len(alg_rows[0].value) * 8), Owners()
                owners = self._hash_owners[alg]
                fresh = [(row_id, row) for row in alg_rows if (row_id := stored_id(row.id)) > owners.max_id]
                # owners first: a search that sees a new code must find its owner
                for row_id, row in fresh:
                    owners.append(
                        row_id,
                        self._registrations.number(row.registration_id),
                        self._variants.number(row.variant),
                        row.quality,
                    )
                ids = np.fromiter((row_id for row_id, _ in fresh), dtype=np.int64, count=len(fresh))
                codes = np.frombuffer(b"".join(row.value for _, row in fresh), dtype=np.uint8).reshape(len(fresh), -1)
                self._hashes[alg].add(ids, codes)
                added += len(fresh)
            after = stored_id(rows[-1].id)
