"""Admission at the door for requests that bring media, and the memory they leave behind.

A multipart request (an upload, a batch of files, the check and register pages) takes one of the places the media
workers and their queue have (`PROVREG_MEDIA_WORKERS` + `PROVREG_MEDIA_QUEUE`) before its body is read, and keeps it
until it has been answered; with none left it is answered 503 `overloaded` at once. The pool's own check came only
once the body had been received, spooled and read into memory: 40 simultaneous 29 MB uploads all were (up to 1.3 GB,
and seconds of the event loop's time) before 30 of them were refused.

One client (its caller: a publisher's API key, else its address, as `api.ratelimit` names it) holds at most
`PROVREG_MEDIA_CLIENT_PLACES` of those places (429 `too_many_media_requests` beyond), and may keep the server waiting
for its body `PROVREG_BODY_READ_SECONDS` in all (408 `body_timeout` after): a client trickling bytes in (slowloris)
cannot hold every place, nor any for long. Each request's media work runs as its client's
(`registry.pool.media_client`), on one budget for all its stages (`registry.pool.request_budget`).

Once the last of them has left and none has come for `QUIET_SECONDS`, the heap's free pages go back to the system
(`registry.heap.give_back_free_heap`, in a worker thread), so the process shrinks back after a burst instead of
keeping its peak; waiting for the quiet keeps that pause out of the burst itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from api.limits import content_type_of
from api.ratelimit import client_address
from registry.heap import give_back_free_heap
from registry.pool import media_client, request_budget, resident_bytes
from registry.settings import Settings

log = logging.getLogger(__name__)

QUIET_SECONDS = 1.0


class MediaAdmission:
    """At most `places` multipart requests in flight, `client_places` of them one client's, each body's client
    keeping the server waiting at most `body_seconds`; the heap is trimmed once they have all left."""

    def __init__(self, app: ASGIApp, settings: Settings, prefix: str = "PROVREG") -> None:
        self.app = app
        self.places = settings.media_workers + settings.media_queue
        self.client_places = settings.media_client_places
        self.body_seconds = settings.body_read_seconds
        self.prefix = prefix
        self.inside = 0  # only ever touched on the event loop
        self.by_client: Counter[str] = Counter()
        self._trim: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("state", {}).get("caller") or f"address:{client_address(scope)}"
        with media_client(client):
            if content_type_of(scope) != "multipart/form-data":
                await self.app(scope, receive, send)
                return
            if refused := self._refusal(client):
                await refused(scope, receive, send)
                return
            self.inside += 1
            self.by_client[client] += 1
            held = True

            def leave() -> None:
                nonlocal held
                if held:
                    held = False
                    self.inside -= 1
                    self.by_client[client] -= 1
                    if not self.by_client[client]:
                        del self.by_client[client]

            async def send_leaving_last(message: Message) -> None:
                # The place is free before the answer's last bytes go out: a client that sends its next upload the
                # moment one is answered (4 threads, 4 places) never finds its own answered request still counted.
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    leave()
                await send(message)

            try:
                with request_budget():
                    await _BodyDeadline(self.app, self.body_seconds, self.prefix)(scope, receive, send_leaving_last)
            finally:
                leave()
                if self.inside == 0 and (self._trim is None or self._trim.done()):
                    self._trim = asyncio.get_running_loop().create_task(self._give_back_memory_when_quiet())

    def _refusal(self, client: str) -> ASGIApp | None:
        if self.by_client[client] >= self.client_places:
            message = (
                f"this client already has {self.by_client[client]} requests with media being served, as many as one "
                f"client may; retry once they are answered (setting {self.prefix}_MEDIA_CLIENT_PLACES)"
            )
            return error_response(429, "too_many_media_requests", message, {"Retry-After": "5"})
        if self.inside >= self.places:
            message = (
                f"{self.inside} requests with media are already being served, as many as the media workers and "
                f"their queue take; retry shortly (settings {self.prefix}_MEDIA_WORKERS, {self.prefix}_MEDIA_QUEUE)"
            )
            return error_response(503, "overloaded", message, {"Retry-After": "5"})
        return None

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


class _BodyDeadline:
    """Serve one request whose client may keep the server waiting for its body `seconds` in all: the time the app
    spends waiting for the next chunk counts, not the time it spends elsewhere (a batch reads its body as its items
    are checked). A body still arriving then ends as a disconnect to the app (which stops reading and gives up) and
    as 408 `body_timeout` to the client, unless the app had already begun to answer."""

    def __init__(self, app: ASGIApp, seconds: float, prefix: str) -> None:
        self.app, self.seconds, self.prefix = app, seconds, prefix
        self.waited = 0.0
        self.body_done = False
        self.timed_out = False
        self.answering = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_in_time() -> Message:
            if self.body_done:
                return await receive()  # the body is in: what follows is the wait for a disconnect
            started = time.monotonic()
            try:
                with anyio.fail_after(max(0.0, self.seconds - self.waited)):
                    message = await receive()
            except TimeoutError:
                self.timed_out = True
                return {"type": "http.disconnect"}
            finally:
                self.waited += time.monotonic() - started
            self.body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def send_unless_timed_out(message: Message) -> None:
            if self.timed_out and not self.answering:
                return  # the app's answer to a body cut short: the client gets the 408 below instead
            self.answering = True
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_unless_timed_out)
        except Exception:
            if not self.timed_out or self.answering:
                raise
        if self.timed_out and not self.answering:
            message = (
                f"the request body did not arrive within {self.seconds:g} s; send it faster or in smaller parts "
                f"(setting {self.prefix}_BODY_READ_SECONDS)"
            )
            await error_response(408, "body_timeout", message, {"Connection": "close"})(scope, receive, send)
