"""Request body caps, enforced while the body streams in (Starlette and FastAPI have none of their own).

A body's cap follows its type, so that nothing large is ever parsed whole: a multipart body (files, which Starlette
spools to disk past 1 MiB) gets the upload cap, or the batch cap on `POST /v1/check/batch`; a JSON hash batch gets
its items times `PROVREG_BATCH_ITEM_MAX_BYTES`; any other body (a JSON document or a form, which the framework
parses in one go on the event loop) gets `PROVREG_MAX_DOCUMENT_BYTES`. Anonymous callers get the lower
`PROVREG_ANONYMOUS_*` caps. A request that carries a credential is held to those too until it crosses one; only
then is the credential checked (once, in a worker thread), and a valid one lifts the cap to the authenticated one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from registry.settings import Settings

BATCH_PATH = "/v1/check/batch"
JSON_TYPES = ("application/json",)
# An answer given before the body was read closes the connection after it (`BodySizeLimit` adds this to any such
# answer): otherwise the server goes on reading and discarding the rest of the body, in pure Python (uvicorn's h11),
# which for a 300 MB body kept its event loop busy long after the refusal.
CLOSE = {"Connection": "close"}


class BodyTooLarge(Exception):
    """Raised from `receive` past the cap; a route that streams its answer may catch it and say so in-band."""


@dataclass(frozen=True, slots=True)
class BodyCap:
    """The most bytes one kind of body may have, anonymously and with a credential, and the settings that say so."""

    what: str
    anonymous: int
    authenticated: int
    setting: str
    anonymous_setting: str | None = None

    def message(self, *, authenticated: bool) -> str:
        if authenticated or self.anonymous_setting is None or self.anonymous >= self.authenticated:
            return f"request body exceeds the {self.what} of {self.authenticated:,} bytes ({self.setting})"
        return (
            f"request body exceeds the {self.what} of {self.anonymous:,} bytes for anonymous callers "
            f"({self.anonymous_setting}); with an API key it is {self.authenticated:,} ({self.setting})"
        )


@dataclass(frozen=True, slots=True)
class BodyCaps:
    upload: BodyCap
    batch: BodyCap
    json_batch: BodyCap
    document: BodyCap

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyCaps:
        def capped(what: str, name: str, unit: int = 1, per_unit: str = "") -> BodyCap:
            """The cap `name`'s settings set (times `unit`) for anonymous and for authenticated callers."""
            anonymous, anonymous_setting = caller_limit(settings, name, anonymous=True)
            authenticated, setting = caller_limit(settings, name, anonymous=False)
            return BodyCap(
                what, anonymous * unit, authenticated * unit, setting + per_unit, anonymous_setting + per_unit
            )

        document = settings.max_document_bytes
        return cls(
            upload=capped("upload limit", "max_upload_bytes"),
            batch=capped("batch limit", "batch_max_bytes"),
            json_batch=capped(
                "JSON batch limit",
                "batch_max_items",
                settings.batch_item_max_bytes,
                " x PROVREG_BATCH_ITEM_MAX_BYTES",
            ),
            document=BodyCap(
                "limit for a body that is not multipart", document, document, "PROVREG_MAX_DOCUMENT_BYTES"
            ),
        )

    def for_request(self, path: str, content_type: str) -> BodyCap:
        if content_type == "multipart/form-data":
            return self.batch if path == BATCH_PATH else self.upload
        if path == BATCH_PATH and is_json(content_type):
            return self.json_batch
        return self.document


def caller_limit(settings: Settings, name: str, *, anonymous: bool) -> tuple[int, str]:
    """The limit setting `name` sets for a caller, and the setting that binds it: `anonymous_<name>` for an
    anonymous one, unless it is not the lower of the two."""
    value, lower = getattr(settings, name), getattr(settings, f"anonymous_{name}")
    if anonymous and lower < value:
        return lower, f"PROVREG_ANONYMOUS_{name.upper()}"
    return value, f"PROVREG_{name.upper()}"


def is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json")


def content_type_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


Authenticator = Callable[[Scope], Awaitable[bool]]


class BodySizeLimit:
    """Answer 413 as soon as a request declares or sends more than its cap, before it is buffered.

    `authenticated(scope)` says whether the request's credential is valid; it is asked at most once per request, and
    only when the body is over its anonymous cap.
    """

    def __init__(self, app: ASGIApp, caps: BodyCaps, authenticated: Authenticator) -> None:
        self.app = app
        self.caps = caps
        self.authenticated = authenticated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.caps.for_request(scope["path"], content_type_of(scope))
        limit = _Limit(cap, scope, self.authenticated)
        declared = dict(scope["headers"]).get(b"content-length", b"").strip()
        if declared.isdigit() and not await limit.allows(int(declared) if len(declared) < 20 else 2**64):
            await self._reject(scope, receive, send, limit)
            return

        received = 0
        body_read = not _has_body(scope)
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded, body_read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_read = not message.get("more_body", False)
                if not await limit.allows(received):
                    exceeded = True
                    raise BodyTooLarge(limit.message())
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the app is answering a body it never fully saw; our 413 replaces that answer
            if message["type"] == "http.response.start" and not body_read:
                message = _closing(message)
            response_started = True
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)
        if exceeded and not response_started:
            await self._reject(scope, receive, send, limit)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: _Limit) -> None:
        await error_response(413, "too_large", limit.message(), CLOSE)(scope, receive, send)


def _has_body(scope: Scope) -> bool:
    headers = dict(scope["headers"])
    return b"transfer-encoding" in headers or headers.get(b"content-length", b"0").strip() not in (b"0", b"")


def _closing(start: Message) -> Message:
    headers = [(name, value) for name, value in start.get("headers", []) if name.lower() != b"connection"]
    return {**start, "headers": [*headers, (b"connection", b"close")]}


class _Limit:
    """One request's cap: the anonymous one until a body over it makes its credential worth checking."""

    def __init__(self, cap: BodyCap, scope: Scope, authenticated: Authenticator) -> None:
        self.cap = cap
        self.scope = scope
        self.check = authenticated
        self.bytes = cap.anonymous
        self.checked = False

    async def allows(self, size: int) -> bool:
        if size > self.bytes and not self.checked and size <= self.cap.authenticated:
            self.checked = True
            if await self.check(self.scope):
                self.bytes = self.cap.authenticated
        return size <= self.bytes

    def message(self) -> str:
        return self.cap.message(authenticated=self.bytes == self.cap.authenticated and self.checked)
