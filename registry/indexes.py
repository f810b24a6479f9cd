"""The in-memory hash indexes, kept in step with the database (which is the only source of truth).

Saved index files are a start-up shortcut: each is loaded only if its checksum holds and its ids are exactly a
prefix of the database's rows; missing rows are then added, and anything else triggers a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from fingerprint.algorithms import ALGORITHMS
from fingerprint.index import BinaryIndex, IndexHit
from registry.models import MediaHash

log = logging.getLogger(__name__)

_FORMAT = 1
_CHUNK = 50_000


class HashIndexes:
    """One `BinaryIndex` per perceptual algorithm, addressed by `MediaHash.id`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.indexes = {name: BinaryIndex(alg.bits) for name, alg in ALGORITHMS.items()}
        # Catch-up reads "newer than max_id" and then adds: the pair must not interleave between threads.
        self._adding = threading.Lock()
        self._newest_row = -1

    def load(self, engine: Engine) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with Session(engine) as session, self._adding:
            for name in self.indexes:
                self.indexes[name] = self._load_one(session, name)
            self._newest_row = max(index.max_id for index in self.indexes.values())

    def _load_one(self, session: Session, alg: str) -> BinaryIndex:
        bits = ALGORITHMS[alg].bits
        saved = self._read_saved(alg, bits)
        if saved is not None:
            ids = saved.ids()
            in_db = session.exec(
                select(func.count()).select_from(MediaHash).where(MediaHash.alg == alg, MediaHash.id <= saved.max_id)
            ).one()
            if in_db == len(ids) == len(np.unique(ids)):
                added = self._add_after(session, saved, alg)
                log.info("index %s: loaded %d saved codes, caught up %d", alg, len(ids), added)
                return saved
            log.warning("index %s: saved file disagrees with the database; rebuilding", alg)
        index = BinaryIndex(bits)
        added = self._add_after(session, index, alg)
        log.info("index %s: built from the database, %d codes", alg, added)
        return index

    def _read_saved(self, alg: str, bits: int) -> BinaryIndex | None:
        path, meta_path = self._paths(alg)
        if not path.exists() or not meta_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != _FORMAT or meta.get("sha256") != _file_sha256(path):
                log.warning("index %s: checksum or format mismatch; ignoring the saved file", alg)
                return None
            return BinaryIndex.load(path, bits)
        except (OSError, ValueError) as exc:
            log.warning("index %s: %s; ignoring the saved file", alg, exc)
            return None

    def _add_after(self, session: Session, index: BinaryIndex, alg: str) -> int:
        """Add every row of `alg` newer than what `index` holds; rows are never deleted, so this is complete."""
        added = 0
        while True:
            rows = session.exec(
                select(MediaHash.id, MediaHash.value)
                .where(MediaHash.alg == alg, MediaHash.id > index.max_id)
                .order_by(MediaHash.id)
                .limit(_CHUNK)
            ).all()
            if not rows:
                return added
            ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
            codes = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.uint8).reshape(len(rows), -1)
            index.add(ids, codes)
            added += len(rows)

    def catch_up(self, session: Session) -> int:
        """Index every row committed since we last looked, by this process or another (a CLI run, a worker).

        Registration calls this right after its commit, so a new original matches as soon as `register`
        returns; queries call it too, and it costs one primary-key lookup when nothing is new.
        """
        newest = session.exec(select(func.max(MediaHash.id))).one()
        if newest is None or newest <= self._newest_row:
            return 0
        with self._adding:
            added = sum(self._add_after(session, index, alg) for alg, index in self.indexes.items())
            self._newest_row = max(self._newest_row, newest)
        return added

    def search(self, alg: str, codes: np.ndarray, max_distance: int) -> list[list[IndexHit]]:
        return self.indexes[alg].range_search(codes, max_distance)

    def save(self) -> None:
        for alg, index in self.indexes.items():
            path, meta_path = self._paths(alg)
            index.save(path)
            meta_path.write_text(json.dumps({"format": _FORMAT, "sha256": _file_sha256(path), "count": len(index)}))

    def _paths(self, alg: str) -> tuple[Path, Path]:
        return self.directory / f"{alg}.faiss", self.directory / f"{alg}.json"


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
