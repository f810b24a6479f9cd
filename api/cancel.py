"""Stop a request's work when its client goes away, so an abandoned upload does not keep a media worker busy."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request, UploadFile

from registry.runtime import Registry

T = TypeVar("T")

DISCONNECT_POLL_SECONDS = 0.2


async def run_cancellable(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, cancelled=event, **kwargs)` in a worker thread; `event` is set once the client has disconnected.

    The event is also set when this request is cancelled (server shutdown), so the thread never outlives it by
    more than the time `fn` takes to notice. `fn` passes the event on to `MediaPool.run`, which kills the task.
    """
    cancelled = threading.Event()
    call = functools.partial(fn, *args, cancelled=cancelled, **kwargs)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_watch, request, cancelled)
            try:
                result = await anyio.to_thread.run_sync(call)
            finally:
                group.cancel_scope.cancel()
    except ExceptionGroup as failed:  # anyio wraps the body's own exception; the watcher raises none
        raise failed.exceptions[0] from None
    return result


async def _watch(request: Request, cancelled: threading.Event) -> None:
    try:
        while not await request.is_disconnected():
            await anyio.sleep(DISCONNECT_POLL_SECONDS)
    finally:
        cancelled.set()


async def read_media(registry: Registry, upload: UploadFile) -> bytes:
    """The upload's bytes, unless the media workers are already full: then 503 `overloaded` before reading it,
    so a burst of large uploads is refused without holding each one in memory."""
    registry.admit_media()
    return await upload.read()
