"""glibc malloc tuning, so the process gives freed memory back to the system after a burst of large uploads.

Elsewhere than glibc (musl, macOS) both functions do nothing.
"""

from __future__ import annotations

import ctypes

_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
_MMAP_THRESHOLD = 1024 * 1024


def return_large_buffers() -> None:
    """Make glibc give every large buffer (an upload, a decoded image) back to the system when it is freed.

    By default glibc raises its mmap threshold after each large free, up to 32 MiB, so later uploads come from the
    heap and a burst of them leaves the process hundreds of MB larger for good. A fixed threshold stops that.
    Elsewhere than glibc this does nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def give_back_free_heap() -> None:
    """Return the heap's free pages to the system now (glibc `malloc_trim`, every arena, blocking for milliseconds).

    Buffers below the mmap threshold (an upload's chunks, a parser's objects) come from per-thread arenas, which
    glibc trims only at their top: after a burst of uploads handled by many threads, the process kept hundreds of MB
    it no longer used. Elsewhere than glibc this does nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None
