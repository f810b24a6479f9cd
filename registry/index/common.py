"""Pieces every in-process index cache shares: compact row-owner maps, interned names, checksummed saved files, and
the seam for a media kind's own index (`SideIndex`, made by its `registry.kinds` adapter)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlmodel import Session

log = logging.getLogger(__name__)

FORMAT = 3
NO_QUALITY = -1


class Owners:
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
        self.qualities.append(NO_QUALITY if quality is None else quality)

    def find(self, row_id: int) -> int | None:
        position = bisect_left(self.row_ids, row_id)
        return position if position < len(self.row_ids) and self.row_ids[position] == row_id else None

    @property
    def max_id(self) -> int:
        return self.row_ids[-1] if self.row_ids else -1


class Interned:
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


class SavedFiles:
    """`NAME.index` + `NAME.json` (its checksum and meta) under one directory: a start-up shortcut, never the truth."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(self, name: str) -> tuple[bytes, dict[str, Any]] | None:
        path, meta_path = self._paths(name)
        try:
            blob = path.read_bytes()
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        if meta.get("format") != FORMAT or meta.get("sha256") != hashlib.sha256(blob).hexdigest():
            log.warning("index %s: checksum or format mismatch; ignoring the saved file", name)
            return None
        return blob, meta

    def write(self, name: str, blob: bytes, meta: dict[str, Any]) -> None:
        """Write atomically; a crash between the two files leaves a checksum mismatch, hence a rebuild."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path, meta_path = self._paths(name)
        for target, data in (
            (path, blob),
            (meta_path, json.dumps({**meta, "format": FORMAT, "sha256": hashlib.sha256(blob).hexdigest()}).encode()),
        ):
            tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.index", self.directory / f"{name}.json"


@dataclass(frozen=True, slots=True)
class Shared:
    """What a kind's side index shares with the `MatchIndex` that owns it: interned registration ids and variant
    names, and the registrations removed from answers (as interned numbers)."""

    registrations: Interned
    variants: Interned
    removed: Callable[[], set[int]]


class SideIndex(Protocol):
    """A media kind's own in-process index beside the hashes (`registry.kinds`), a cache of its rows like them:
    loaded at start-up, synced with every sync, sized in `stats`."""

    def load(self, session: Session) -> None: ...

    def sync(self, session: Session) -> int: ...

    def stats(self) -> dict[str, int]: ...
