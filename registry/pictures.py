"""Files kept for a short while: a check's comparison pictures and heat-map, and what the web pages keep of a check
(its analysis and query bytes, from which the evidence package and frame pairs are drawn on demand).

Every kind lives in one directory under the data directory (so every worker process on the machine serves them),
named by an unguessable id that starts with a tag of its owner, the client whose request kept it. The directory is
bounded in bytes, as a whole and per client: keeping a file first drops expired ones, then the client's oldest until
its own files fit, then the oldest of anyone's until everything fits. Each keep holds an exclusive lock on the
directory (`flock`), so processes never overshoot the caps together. A file larger than a cap is not kept: its id
answers 404, as an expired one does.

    with kept_for("address:192.0.2.1"):                # the API names each request's client
        picture_id, expires_at = store.keep(png)
    png = store.get(picture_id)                         # NotFound once expired or evicted
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from registry.errors import NotFound
from registry.settings import Settings

_ID = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_TAG = 8  # characters of an id that name its owner
_LOCK = ".lock"
# What each suffix holds, for the sizes in /metrics.
KINDS = {".png": "picture", ".json": "analysis", ".bin": "query"}

_owner: ContextVar[str] = ContextVar("kept_for", default="local")
# Modification time and size of each kept file this process has seen, by directory and name.
_STATS: dict[str, dict[str, tuple[float, int]]] = {}
_STATS_LOCK = threading.Lock()


@contextlib.contextmanager
def kept_for(owner: str) -> Iterator[None]:
    """Within this block (and the threads it hands work to), files are kept on behalf of `owner`."""
    token = _owner.set(owner)
    try:
        yield
    finally:
        _owner.reset(token)


def _tag(owner: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(owner.encode()).digest()).decode()[:_TAG]


@dataclass(frozen=True)
class Quota:
    total_bytes: int
    client_bytes: int


class _File(NamedTuple):
    """One kept file as the directory listing shows it (plain strings: a listing may hold thousands)."""

    mtime: float
    name: str
    size: int

    @property
    def kind(self) -> str:
        return KINDS.get(os.path.splitext(self.name)[1], "other")


class Tally:
    """Files this process dropped early to make room (`evicted`) or never wrote, being larger than a cap
    (`refused`), by kind: counters for /metrics."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, what: str, kind: str) -> None:
        with self._lock:
            self.counts[what, kind] += 1


TALLY = Tally()


@dataclass(frozen=True)
class Usage:
    """What the directory holds now: bytes and files by kind."""

    bytes: dict[str, int]
    files: dict[str, int]


class PictureStore:
    """`suffix` names what is kept (`.png` pictures; `.json` and `.bin` what the web pages keep of a check)."""

    def __init__(self, directory: Path, ttl_seconds: int, suffix: str = ".png", quota: Quota | None = None) -> None:
        self.directory = directory
        self.ttl_seconds = ttl_seconds
        self.suffix = suffix
        self.quota = quota or Quota(total_bytes=2**62, client_bytes=2**62)

    @classmethod
    def for_settings(cls, settings: Settings, suffix: str = ".png") -> PictureStore:
        """The data directory's store of kept files, under its configured caps."""
        return cls(
            settings.data_dir / "kept",
            settings.picture_ttl_seconds,
            suffix,
            Quota(total_bytes=settings.kept_max_bytes, client_bytes=settings.kept_client_max_bytes),
        )

    def fits(self, size: int) -> bool:
        """Whether a file of `size` bytes can be kept at all (it is not larger than a cap)."""
        return size <= min(self.quota.total_bytes, self.quota.client_bytes)

    def keep(self, data: bytes) -> tuple[str, datetime]:
        """Keep `data` for the current owner (`kept_for`), making room under the caps; its id and expiry."""
        picture_id = _tag(_owner.get()) + secrets.token_urlsafe(24)
        if not self.fits(len(data)):
            TALLY.add("refused", KINDS.get(self.suffix, "other"))
            return picture_id, datetime.now(UTC)  # never written: its id answers 404, as an expired one does
        target = self.directory / f"{picture_id}{self.suffix}"
        with self._locked():
            self._make_room(picture_id[:_TAG], len(data))
            tmp = self.directory / f".{picture_id}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            expires = target.stat().st_mtime + self.ttl_seconds
        return picture_id, datetime.fromtimestamp(expires, UTC)

    def get(self, picture_id: str) -> bytes:
        path = self.directory / f"{picture_id}{self.suffix}"
        try:
            if _ID.match(picture_id) and time.time() - path.stat().st_mtime <= self.ttl_seconds:
                return path.read_bytes()
        except FileNotFoundError:
            pass
        raise NotFound("no such picture, or it has expired; run the check again")

    def usage(self) -> Usage:
        """Bytes and files kept now, by kind (expired ones not yet swept included)."""
        sizes: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        for found in self._files():
            sizes[found.kind] += found.size
            counts[found.kind] += 1
        return Usage(bytes={kind: sizes[kind] for kind in KINDS.values()}, files={k: counts[k] for k in KINDS.values()})

    def sweep(self) -> None:
        """Drop every expired file."""
        with self._locked():
            self._make_room(None, 0)

    def _make_room(self, owner_tag: str | None, size: int) -> None:
        """Drop expired files, then the owner's oldest beyond its cap, then anyone's oldest beyond the total."""
        cutoff = time.time() - self.ttl_seconds
        listed = sorted(self._files())  # oldest first
        self._drop([found for found in listed if found.mtime < cutoff])
        live = [found for found in listed if found.mtime >= cutoff]
        mine = [found for found in live if found.name.startswith(owner_tag)] if owner_tag else []
        doomed = self._beyond(mine, size, self.quota.client_bytes)
        live = [found for found in live if found.name not in doomed]
        doomed |= self._beyond(live, size, self.quota.total_bytes)
        self._drop([found for found in listed if found.name in doomed], evicted=True)

    @staticmethod
    def _beyond(oldest_first: list[_File], size: int, cap: int) -> set[str]:
        """The oldest files to drop so that the rest and `size` more bytes fit in `cap`."""
        held = sum(found.size for found in oldest_first) + size
        doomed = set()
        for found in oldest_first:
            if held <= cap:
                break
            held -= found.size
            doomed.add(found.name)
        return doomed

    def _drop(self, files: list[_File], *, evicted: bool = False) -> None:
        for found in files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.directory, found.name))
            if evicted:
                TALLY.add("evicted", found.kind)

    def _files(self) -> list[_File]:
        """The directory's kept files. A kept file is never changed once renamed into place, so each process stats
        a name once (`_STATS`) and a listing costs one directory read plus the files new since the last."""
        try:
            names = [entry.name for entry in os.scandir(self.directory) if not entry.name.startswith(".")]
        except FileNotFoundError:
            return []  # (names starting with "." are the lock and files being written)
        with _STATS_LOCK:
            known = _STATS.setdefault(str(self.directory), {})
            for gone in known.keys() - set(names):
                del known[gone]
            found = []
            for name in names:
                if name not in known:
                    try:
                        stat = os.stat(os.path.join(self.directory, name))
                    except FileNotFoundError:
                        continue  # removed by another process meanwhile
                    known[name] = (stat.st_mtime, stat.st_size)
                mtime, size = known[name]
                found.append(_File(mtime, name, size))
        return found

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / _LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
