"""Comparison pictures kept for a short while, so one check's analysis serves both its verdict and its picture.

Files under the data directory (so every worker process on the machine can serve them), named by an unguessable
id; expired ones are swept whenever a new one is kept.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

from registry.errors import NotFound

_ID = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


class PictureStore:
    """`suffix` names what is kept (`.png` pictures; the web pages keep `.html` evidence packages the same way)."""

    def __init__(self, directory: Path, ttl_seconds: int, suffix: str = ".png") -> None:
        self.directory = directory
        self.ttl_seconds = ttl_seconds
        self.suffix = suffix

    def keep(self, png: bytes) -> tuple[str, datetime]:
        """Store a picture; its id and when it expires."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sweep()
        picture_id = secrets.token_urlsafe(24)
        target = self.directory / f"{picture_id}{self.suffix}"
        tmp = target.with_name(f".{picture_id}.tmp")
        tmp.write_bytes(png)
        os.replace(tmp, target)
        return picture_id, datetime.fromtimestamp(target.stat().st_mtime + self.ttl_seconds, UTC)

    def get(self, picture_id: str) -> bytes:
        path = self.directory / f"{picture_id}{self.suffix}"
        try:
            if _ID.match(picture_id) and time.time() - path.stat().st_mtime <= self.ttl_seconds:
                return path.read_bytes()
        except FileNotFoundError:
            pass
        raise NotFound("no such picture, or it has expired; run the check again")

    def sweep(self) -> None:
        cutoff = time.time() - self.ttl_seconds
        for path in self.directory.glob(f"*{self.suffix}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass  # another process swept it first
