"""Originals kept content-addressed on disk, so a retried write is harmless and a path never lies."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from registry.errors import NotFound


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store `data` durably under its SHA-256; a no-op if it is already there.

        Safe for any number of concurrent writers of the same bytes (several publishers registering pool footage at
        once): each writes its own temporary file, and the atomic rename makes the last one win with identical bytes,
        so a reader sees either no file or the whole file.
        """
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{sha256}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(target.parent)
        return sha256

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"original {sha256} is not in the content store") from None


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable: without it a crash can lose a file whose registration was committed."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
