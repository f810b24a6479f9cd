"""Upload size cap enforced while the body streams in (Starlette and FastAPI have none of their own)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class BodyTooLarge(Exception):
    """Raised from `receive` past the cap; a route that streams its answer may catch it and say so in-band."""


class BodySizeLimit:
    """Answer 413 as soon as a request declares or sends more than its cap, before it is buffered.

    The cap is `max_bytes`, or `per_path[path]` for routes that take many files in one body (batch checks).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.per_path.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await self._reject(scope, receive, send, cap)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    exceeded = True
                    raise BodyTooLarge(f"request body exceeds the limit of {cap:,} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the app is answering a body it never fully saw; our 413 replaces that answer
            response_started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not response_started:
            await self._reject(scope, receive, send, cap)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        message = f"request body exceeds the upload limit of {cap:,} bytes"
        await error_response(413, "too_large", message)(scope, receive, send)
