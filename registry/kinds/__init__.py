"""The registry side of each media kind (`base.KindAdapter`), by kind name: a new kind registers here in one line.

Everything in `registry` and `api` that differs by kind asks `adapter(kind)`; see `base` for what an adapter owns.
"""

from __future__ import annotations

from typing import Any

from registry.index.common import Shared, SideIndex
from registry.kinds.base import KindAdapter
from registry.kinds.image import ImageAdapter
from registry.kinds.sound import SoundAdapter
from registry.kinds.video import VideoAdapter

# Each adapter typed by its kind's decoded file and match; callers pick one by name at run time, so see them as Any.
ADAPTERS: dict[str, KindAdapter[Any, Any]] = {
    adapter.name: adapter for adapter in (ImageAdapter(), VideoAdapter(), SoundAdapter())
}


def adapter(kind: str) -> KindAdapter[Any, Any]:
    """The adapter of a kind `fingerprint.kinds` named (a fingerprint's or a registration's `kind`)."""
    return ADAPTERS[kind]


def side_indexes(shared: Shared) -> dict[str, SideIndex]:
    """Each kind's own index beside the hashes, by kind name, for a `MatchIndex` that shares `shared` with them."""
    return {name: side for name, kind in ADAPTERS.items() if (side := kind.side_index(shared)) is not None}


def whole_file_hashes() -> dict[str, int]:
    """Every kind's whole-file hashes (bits by algorithm): lookup keys, never searched by a check."""
    return {alg: bits for kind in ADAPTERS.values() for alg, bits in kind.whole_file_hashes.items()}


def file_suffixes() -> set[str]:
    """Every kind's file name suffixes (lower case, with the dot)."""
    return {suffix for kind in ADAPTERS.values() for suffix in kind.file_suffixes}


def page_media() -> tuple[str, str]:
    """What the check page's file picker accepts, and the formats it lists, for every kind."""
    kinds = ADAPTERS.values()
    return ",".join(kind.accepts for kind in kinds), "; ".join(kind.described for kind in kinds)


def hash_check_kind() -> KindAdapter[Any, Any]:
    """The kind a check of hashes alone (`check_hashes`) stands for."""
    return next(kind for kind in ADAPTERS.values() if kind.checks_hashes)


__all__ = [
    "ADAPTERS",
    "KindAdapter",
    "adapter",
    "file_suffixes",
    "hash_check_kind",
    "page_media",
    "side_indexes",
    "whole_file_hashes",
]
