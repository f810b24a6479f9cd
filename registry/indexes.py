"""The in-memory match indexes, kept in step with the database (which is the only source of truth).

Two kinds: one exact `BinaryIndex` per perceptual hash algorithm (ids are `MediaHash` rows), and the
`DescriptorIndex` of originals' ORB descriptors (ids are `LocalFeatureSet` rows). Rows are never deleted, so an
index that holds every row up to some id is brought up to date by adding the rows after it.

Saved index files are a start-up shortcut: each is used only if its checksum holds and the rows it holds are exactly
the database's rows up to its last id; missing rows are then added, and anything else triggers a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS
from fingerprint.descriptor_index import DescriptorIndex
from fingerprint.features import LocalFeatures
from fingerprint.index import BinaryIndex, IndexHit
from registry.models import LocalFeatureSet, MediaHash

log = logging.getLogger(__name__)

_FORMAT = 2
_CHUNK = 20_000
_DESCRIPTORS = "descriptors"


class MatchIndexes:
    """The hash indexes (`hashes[alg]`) and the descriptor index (`descriptors`), with their catch-up."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hashes = {name: BinaryIndex(alg.bits) for name, alg in ALGORITHMS.items()}
        self.descriptors = DescriptorIndex()
        self._descriptor_max_id = -1
        # Catch-up reads "newer than max_id" and then adds: the pair must not interleave between threads.
        self._adding = threading.Lock()
        self._newest = (-1, -1)  # (MediaHash id, LocalFeatureSet id) seen so far

    def load(self, engine: Engine) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with Session(engine) as session, self._adding:
            for alg in self.hashes:
                self.hashes[alg] = self._load_hashes(session, alg)
            self._load_descriptors(session)
            self._newest = (max(index.max_id for index in self.hashes.values()), self._descriptor_max_id)

    def catch_up(self, session: Session) -> int:
        """Index every row committed since we last looked, by this process or another (a CLI run, a worker).

        Registration calls this right after its commit, so a new original matches as soon as `register` returns;
        queries call it too, and it costs two primary-key lookups when nothing is new.
        """
        newest = (
            session.exec(select(func.max(MediaHash.id))).one() or -1,
            session.exec(select(func.max(LocalFeatureSet.id))).one() or -1,
        )
        if newest <= self._newest:
            return 0
        with self._adding:
            added = sum(self._add_hashes_after(session, index, alg) for alg, index in self.hashes.items())
            added += self._add_descriptors_after(session)
            self._newest = max(self._newest, newest)
        return added

    def search(self, alg: str, codes: np.ndarray, max_distance: int) -> list[list[IndexHit]]:
        return self.hashes[alg].range_search(codes, max_distance)

    def save(self) -> None:
        with self._adding:  # so each file's meta describes exactly the rows its index holds
            self._save()

    def _save(self) -> None:
        for alg, index in self.hashes.items():
            self._write(alg, index.to_bytes(), {"max_id": index.max_id})
        self._write(
            _DESCRIPTORS,
            self.descriptors.to_bytes(),
            {"max_id": self._descriptor_max_id, "references": self.descriptors.references},
        )

    # --- hashes ---------------------------------------------------------------------------------------------------

    def _load_hashes(self, session: Session, alg: str) -> BinaryIndex:
        saved = self._read(alg)
        if saved is not None:
            try:
                index = BinaryIndex.from_bytes(saved[0], ALGORITHMS[alg].bits)
            except ValueError as exc:
                log.warning("index %s: %s; rebuilding", alg, exc)
            else:
                ids = index.ids()
                in_db = session.exec(
                    select(func.count())
                    .select_from(MediaHash)
                    .where(MediaHash.alg == alg, col(MediaHash.id) <= index.max_id)
                ).one()
                if in_db == len(ids) == len(np.unique(ids)):
                    added = self._add_hashes_after(session, index, alg)
                    log.info("index %s: loaded %d saved codes, caught up %d", alg, len(ids), added)
                    return index
                log.warning("index %s: saved file disagrees with the database; rebuilding", alg)
        index = BinaryIndex(ALGORITHMS[alg].bits)
        added = self._add_hashes_after(session, index, alg)
        log.info("index %s: built from the database, %d codes", alg, added)
        return index

    def _add_hashes_after(self, session: Session, index: BinaryIndex, alg: str) -> int:
        added = 0
        while True:
            rows = session.exec(
                select(MediaHash.id, MediaHash.value)
                .where(MediaHash.alg == alg, col(MediaHash.id) > index.max_id)
                .order_by(col(MediaHash.id))
                .limit(_CHUNK)
            ).all()
            if not rows:
                return added
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            codes = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.uint8).reshape(len(rows), -1)
            index.add(ids, codes)
            added += len(rows)

    # --- descriptors ----------------------------------------------------------------------------------------------

    def _load_descriptors(self, session: Session) -> None:
        saved = self._read(_DESCRIPTORS)
        if saved is not None:
            blob, meta = saved
            try:
                index = DescriptorIndex.from_bytes(blob)
            except ValueError as exc:
                log.warning("index %s: %s; rebuilding", _DESCRIPTORS, exc)
            else:
                max_id, references = int(meta.get("max_id", -1)), int(meta.get("references", -1))
                in_db = session.exec(
                    select(func.count()).select_from(LocalFeatureSet).where(col(LocalFeatureSet.id) <= max_id)
                ).one()
                if in_db == references == index.references:
                    self.descriptors, self._descriptor_max_id = index, max_id
                    added = self._add_descriptors_after(session)
                    log.info("index %s: loaded %d saved originals, caught up %d", _DESCRIPTORS, references, added)
                    return
                log.warning("index %s: saved file disagrees with the database; rebuilding", _DESCRIPTORS)
        self.descriptors, self._descriptor_max_id = DescriptorIndex(), -1
        added = self._add_descriptors_after(session)
        log.info("index %s: built from the database, %d originals", _DESCRIPTORS, added)

    def _add_descriptors_after(self, session: Session) -> int:
        added = 0
        while True:
            rows = session.exec(
                select(LocalFeatureSet.id, LocalFeatureSet.data)
                .where(col(LocalFeatureSet.id) > self._descriptor_max_id)
                .order_by(col(LocalFeatureSet.id))
                .limit(1_000)
            ).all()
            if not rows:
                return added
            self.descriptors.add_many([(row_id, LocalFeatures.from_bytes(data)) for row_id, data in rows])
            self._descriptor_max_id = rows[-1][0]
            added += len(rows)

    # --- files ----------------------------------------------------------------------------------------------------

    def _read(self, name: str) -> tuple[bytes, dict[str, Any]] | None:
        path, meta_path = self._paths(name)
        try:
            blob = path.read_bytes()
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("format") != _FORMAT or meta.get("sha256") != hashlib.sha256(blob).hexdigest():
            log.warning("index %s: checksum or format mismatch; ignoring the saved file", name)
            return None
        return blob, meta

    def _write(self, name: str, blob: bytes, meta: dict[str, Any]) -> None:
        """Write atomically; a crash between the two files leaves a checksum mismatch, hence a rebuild."""
        path, meta_path = self._paths(name)
        for target, data in (
            (path, blob),
            (meta_path, json.dumps({**meta, "format": _FORMAT, "sha256": hashlib.sha256(blob).hexdigest()}).encode()),
        ):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.index", self.directory / f"{name}.json"
