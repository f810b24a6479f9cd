"""The default `MatchIndex`: exact faiss binary indexes in this process, kept in step with the database.

One `BinaryIndex` per hash algorithm (faiss ids are `media_hash` row ids), one `DescriptorIndex` of originals'
ORB descriptors (ids are `local_features` row ids) and one `BinaryIndex` of video originals' frame hashes (ids from
`video_track` row ids and the frame's place in its track, with the frame's time beside each). Beside each, compact
arrays map those row ids to the registration and hash variant they belong to, so a search answers in registration
ids without asking the database.
Rows are never deleted, so an index holding every row up to some id is brought up to date by adding the rows
after it.

Saved files are a start-up shortcut for the faiss part: each is used only if its checksum holds and it holds
exactly the database's rows up to its last id; missing rows are then added, and anything else triggers a rebuild.
The row-to-registration maps are always read from the database at load (ids and names only, no hash values).
Frame hashes are not saved: they are rebuilt from the tracks at load (32 bytes a frame, 7,200 an hour at 2 fps).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from fingerprint.algorithms import ALGORITHMS, HashRecord
from fingerprint.descriptor_index import DescriptorIndex
from fingerprint.features import LocalFeatures
from fingerprint.index import BinaryIndex
from fingerprint.kinds import HashEvidence, MatchCandidate
from fingerprint.kinds.video import FRAME_ALG
from fingerprint.video.track import FrameTrack
from registry.models import LocalFeatureSet, MediaHash, VideoTrack

log = logging.getLogger(__name__)

_FORMAT = 3
_CHUNK = 20_000
_DESCRIPTORS = "descriptors"
_NO_QUALITY = -1
# A video frame hash's faiss id is its track's row id times this, plus its entry (frame x variant) in the track.
FRAMES_PER_TRACK = 1 << 24
_FRAME_BITS = 256


class _Owners:
    """Row id -> (registration number, variant number, quality), for rows added in increasing id order."""

    def __init__(self) -> None:
        self.row_ids = array("q")
        self.registrations = array("i")
        self.variants = array("h")
        self.qualities = array("h")

    def append(self, row_id: int, registration: int, variant: int, quality: int | None) -> None:
        if self.row_ids and row_id <= self.row_ids[-1]:
            raise ValueError("rows must be added in increasing id order")
        self.row_ids.append(row_id)
        self.registrations.append(registration)
        self.variants.append(variant)
        self.qualities.append(_NO_QUALITY if quality is None else quality)

    def find(self, row_id: int) -> int | None:
        position = bisect_left(self.row_ids, row_id)
        return position if position < len(self.row_ids) and self.row_ids[position] == row_id else None

    @property
    def max_id(self) -> int:
        return self.row_ids[-1] if self.row_ids else -1


class _Interned:
    """Strings (registration ids, variant names) as small ints, so the per-row arrays stay compact."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._numbers: dict[str, int] = {}

    def number(self, name: str) -> int:
        number = self._numbers.get(name)
        if number is None:
            number = self._numbers[name] = len(self.names)
            self.names.append(name)
        return number

    def find(self, name: str) -> int | None:
        return self._numbers.get(name)


class FaissMatchIndex:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._hashes: dict[str, BinaryIndex] = {}
        self._hash_owners: dict[str, _Owners] = {}
        self._descriptors = DescriptorIndex()
        self._descriptor_owners = _Owners()
        self._registrations = _Interned()
        self._variants = _Interned()
        self._removed: set[int] = set()
        # Sync reads "newer than max_id" and then adds: the pair must not interleave between threads.
        self._adding = threading.Lock()
        self._frames = BinaryIndex(_FRAME_BITS)
        self._frame_owners = _Owners()
        self._frame_times = array("d")  # beside `_frame_owners`: the original's time of each frame hash
        self._last_track = -1  # the newest video_track row indexed (an empty track adds no frames)
        self._newest = (-1, -1, -1)  # (media_hash id, local_features id, video_track id) seen so far

    # --- MatchIndex -----------------------------------------------------------------------------------------------

    def load(self, engine: Engine) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with Session(engine) as session, self._adding:
            algs = set(ALGORITHMS) | set(session.exec(select(MediaHash.alg).distinct()).all())
            for alg in sorted(algs):
                self._load_hashes(session, alg)
            self._load_descriptors(session)
            added = self._add_frames_after(session)
            log.info("index %s: built from the database, %d frame hashes", FRAME_ALG, added)
            self._newest = (
                max((owners.max_id for owners in self._hash_owners.values()), default=-1),
                self._descriptor_owners.max_id,
                self._last_track,
            )

    def sync(self, session: Session) -> int:
        """Index every row committed since we last looked, by this process or another (a CLI run, a worker).

        Registration calls this right after its commit, so a new original matches as soon as `register` returns;
        queries call it too, and it costs two primary-key lookups when nothing is new.
        """
        newest = (
            session.exec(select(func.max(MediaHash.id))).one() or -1,
            session.exec(select(func.max(LocalFeatureSet.id))).one() or -1,
            session.exec(select(func.max(VideoTrack.id))).one() or -1,
        )
        if newest <= self._newest:
            return 0
        with self._adding:
            added = self._add_hashes_after(session, max((o.max_id for o in self._hash_owners.values()), default=-1))
            added += self._add_descriptors_after(session)
            added += self._add_frames_after(session)
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
                if registration in self._removed or (quality != _NO_QUALITY and quality < min_quality):
                    continue
                variant = self._variants.names[owners.variants[position]]
                evidence.setdefault(registration, []).append(HashEvidence(alg, variant, query.variant, hit.distance))
        return [
            MatchCandidate(
                self._registrations.names[registration], tuple(sorted(found, key=lambda e: (e.distance, e.variant)))
            )
            for registration, found in evidence.items()
        ]

    def search_frames(self, track: FrameTrack, radius: int, *, min_quality: int = 0) -> list[MatchCandidate]:
        """Video originals with frames within `radius` of the query track's frames, each hit with both times."""
        trusted = np.flatnonzero(track.qualities >= min_quality)
        if len(self._frames) == 0 or len(trusted) == 0:
            return []
        evidence: dict[int, list[HashEvidence]] = {}
        for query_variant in track.variants:
            codes = np.ascontiguousarray(track.variant(query_variant)[trusted])
            for frame, hits in zip(trusted, self._frames.range_search(codes, radius), strict=True):
                for hit in hits:
                    position = self._frame_owners.find(hit.id)
                    if position is None:
                        continue
                    registration = self._frame_owners.registrations[position]
                    if registration in self._removed or self._frame_owners.qualities[position] < min_quality:
                        continue
                    evidence.setdefault(registration, []).append(
                        HashEvidence(
                            FRAME_ALG,
                            self._variants.names[self._frame_owners.variants[position]],
                            query_variant,
                            hit.distance,
                            at=self._frame_times[position],
                            query_at=float(track.times[frame]),
                        )
                    )
        return [
            MatchCandidate(self._registrations.names[registration], tuple(found))
            for registration, found in evidence.items()
        ]

    def vote(self, features: Sequence[LocalFeatures]) -> list[MatchCandidate]:
        candidates = []
        for vote in self._descriptors.search(features):
            position = self._descriptor_owners.find(vote.reference_id)
            if position is None:
                continue
            registration = self._descriptor_owners.registrations[position]
            if registration not in self._removed:
                candidates.append(MatchCandidate(self._registrations.names[registration], votes=vote.votes))
        return candidates

    def remove(self, registration_ids: Iterable[str]) -> None:
        self._removed.update(n for n in map(self._registrations.find, registration_ids) if n is not None)

    def stats(self) -> dict[str, int]:
        return {
            **{f"hashes_{alg}": len(index) for alg, index in self._hashes.items()},
            "originals": len(self._descriptor_owners.row_ids),
            "descriptors": len(self._descriptors),
            f"hashes_{FRAME_ALG}": len(self._frames),
            "removed": len(self._removed),
        }

    def save(self) -> None:
        with self._adding:  # so each file's meta describes exactly the rows its index holds
            for alg, index in self._hashes.items():
                self._write(alg, index.to_bytes(), {"max_id": index.max_id})
            self._write(
                _DESCRIPTORS,
                self._descriptors.to_bytes(),
                {"max_id": self._descriptor_owners.max_id, "references": self._descriptors.references},
            )

    def _own(self, owners: _Owners, row_id: int, registration_id: str, variant: str, quality: int | None) -> None:
        owners.append(row_id, self._registrations.number(registration_id), self._variants.number(variant), quality)

    # --- hashes ---------------------------------------------------------------------------------------------------

    def _load_hashes(self, session: Session, alg: str) -> None:
        bits = self._bits(session, alg)
        owners = self._hash_owners[alg] = _Owners()
        saved = self._read(alg)
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
            owners = self._hash_owners[alg] = _Owners()
        self._hashes[alg] = BinaryIndex(bits)
        added = self._add_hashes_after(session, -1, only=alg)
        log.info("index %s: built from the database, %d codes", alg, added)

    def _bits(self, session: Session, alg: str) -> int:
        """An algorithm's length: from its module, or from a stored row when the module is gone."""
        if alg in ALGORITHMS:
            return ALGORITHMS[alg].bits
        value = session.exec(select(MediaHash.value).where(MediaHash.alg == alg).limit(1)).first()
        return len(value or b"\0") * 8

    def _read_owners(self, session: Session, alg: str, owners: _Owners, max_id: int) -> None:
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
                    row_id, self._registrations.number(registration_id), self._variants.number(variant), quality
                )
            last = rows[-1][0]

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
                    self._hashes[alg], self._hash_owners[alg] = BinaryIndex(len(alg_rows[0].value) * 8), _Owners()
                owners = self._hash_owners[alg]
                fresh = [row for row in alg_rows if row.id > owners.max_id]
                # owners first: a search that sees a new code must find its owner
                for row in fresh:
                    owners.append(
                        row.id,
                        self._registrations.number(row.registration_id),
                        self._variants.number(row.variant),
                        row.quality,
                    )
                ids = np.fromiter((row.id for row in fresh), dtype=np.int64, count=len(fresh))
                codes = np.frombuffer(b"".join(row.value for row in fresh), dtype=np.uint8).reshape(len(fresh), -1)
                self._hashes[alg].add(ids, codes)
                added += len(fresh)
            after = rows[-1].id

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
                owners = _Owners()
                for row_id, registration_id in self._feature_rows(session, max_id):
                    owners.append(row_id, self._registrations.number(registration_id), 0, None)
                if len(owners.row_ids) == references == index.references:
                    self._descriptors, self._descriptor_owners = index, owners
                    added = self._add_descriptors_after(session)
                    log.info("index %s: loaded %d saved originals, caught up %d", _DESCRIPTORS, references, added)
                    return
                log.warning("index %s: saved file disagrees with the database; rebuilding", _DESCRIPTORS)
        self._descriptors, self._descriptor_owners = DescriptorIndex(), _Owners()
        added = self._add_descriptors_after(session)
        log.info("index %s: built from the database, %d originals", _DESCRIPTORS, added)

    def _feature_rows(self, session: Session, max_id: int) -> list[tuple[int, str]]:
        return list(
            session.exec(
                select(LocalFeatureSet.id, LocalFeatureSet.registration_id)
                .where(col(LocalFeatureSet.id) <= max_id)
                .order_by(col(LocalFeatureSet.id))
            ).all()
        )

    def _add_descriptors_after(self, session: Session) -> int:
        added = 0
        while True:
            rows = session.exec(
                select(LocalFeatureSet.id, LocalFeatureSet.registration_id, LocalFeatureSet.data)
                .where(col(LocalFeatureSet.id) > self._descriptor_owners.max_id)
                .order_by(col(LocalFeatureSet.id))
                .limit(1_000)
            ).all()
            if not rows:
                return added
            for row_id, registration_id, _ in rows:
                self._descriptor_owners.append(row_id, self._registrations.number(registration_id), 0, None)
            self._descriptors.add_many([(row_id, LocalFeatures.from_bytes(data)) for row_id, _, data in rows])
            added += len(rows)

    # --- video frames ---------------------------------------------------------------------------------------------

    def _add_frames_after(self, session: Session) -> int:
        """Add the frame hashes of every video track stored after the last one indexed."""
        added = 0
        while True:
            rows = session.exec(
                select(VideoTrack.id, VideoTrack.registration_id, VideoTrack.data)
                .where(col(VideoTrack.id) > self._last_track)
                .order_by(col(VideoTrack.id))
                .limit(100)
            ).all()
            if not rows:
                return added
            for row_id, registration_id, data in rows:
                added += self._add_track(row_id, registration_id, FrameTrack.from_bytes(data))
                self._last_track = row_id

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
            self._frame_owners.append(frame_id, registration, numbers[variant], int(track.qualities[frame]))
            self._frame_times.append(float(track.times[frame]))
        if len(ids):
            self._frames.add(ids, track.codes.reshape(-1, track.codes.shape[-1]))
        return len(ids)

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
