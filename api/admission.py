"""Admission at the door for requests that bring media, and the memory they leave behind.

A multipart request (an upload, a batch of files, the check and register pages) takes one of the places the media
workers and their queue have (`PROVREG_MEDIA_WORKERS` + `PROVREG_MEDIA_QUEUE`) before its body is read, and keeps it
until it has been answered; with none left it is answered 503 `overloaded` at once. The pool's own check came only
once the body had been received, spooled and read into memory: 40 simultaneous 29 MB uploads all were (up to 1.3 GB,
and seconds of the event loop's time) before 30 of them were refused.

Once the last of them has left and none has come for `QUIET_SECONDS`, the heap's free pages go back to the system
(`registry.heap.give_back_free_heap`, in a worker thread), so the process shrinks back after a burst instead of
keeping its peak; waiting for the quiet keeps that pause out of the burst itself.
"""

from __future__ import annotations

import asyncio
import logging
import time

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from api.limits import content_type_of
from registry.heap import give_back_free_heap
from registry.pool import resident_bytes

log = logging.getLogger(__name__)

QUIET_SECONDS = 1.0


class MediaAdmission:
    """At most `places` multipart requests in flight; the heap is trimmed once they have all left."""

    def __init__(self, app: ASGIApp, places: int, settings: str = "PROVREG_MEDIA") -> None:
        self.app = app
        self.places = places
        self.settings = settings
        self.inside = 0  # only ever touched on the event loop
        self._trim: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or content_type_of(scope) != "multipart/form-data":
            await self.app(scope, receive, send)
            return
        if self.inside >= self.places:
            message = (
                f"{self.inside} requests with media are already being served, as many as the media workers and "
                f"their queue take; retry shortly (settings {self.settings}_WORKERS, {self.settings}_QUEUE)"
            )
            await error_response(503, "overloaded", message, {"Retry-After": "5"})(scope, receive, send)
            return
        self.inside += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inside -= 1
            if self.inside == 0 and (self._trim is None or self._trim.done()):
                self._trim = asyncio.get_running_loop().create_task(self._give_back_memory_when_quiet())

    async def _give_back_memory_when_quiet(self) -> None:
        await asyncio.sleep(QUIET_SECONDS)
        if self.inside:
            return  # another burst: its last request schedules the next try
        before, started = resident_bytes(), time.perf_counter()
        await anyio.to_thread.run_sync(give_back_free_heap)
        log.info(
            "gave %d MB of freed heap back to the system in %.0f ms",
            (before - resident_bytes()) / 1e6,
            (time.perf_counter() - started) * 1000,
        )
