"""The edge of every request: its id, one access-log line, its metrics, and a JSON 500 for anything unforeseen.

Outermost of the app's middleware, so rate-limit and upload-cap answers are logged and counted too.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import requestid
from api.errors import error_response
from api.metrics import UNMATCHED_ROUTE, Metrics

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Root handler for the server process: every record carries the id of the request it was logged in."""
    handler = logging.StreamHandler()
    handler.addFilter(requestid.RequestIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/registrations/{registration_id}`), never the raw path.

    Requests answered before routing (rate limit, upload cap) are matched here so they are labelled the same way.
    """
    route = scope.get("route")
    if route is None and "app" in scope:
        route = next((r for r in scope["app"].router.routes if r.matches(scope)[0] != Match.NONE), None)
    return getattr(route, "path", UNMATCHED_ROUTE)


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = requestid.choose(Headers(scope=scope).get(requestid.HEADER))
        token = requestid.current.set(request_id)
        started = time.perf_counter()
        status = 0  # stays 0 when the client went away before any answer
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append(requestid.HEADER, request_id)
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], json.dumps(scope["path"]))
            if response_started:
                raise  # too late for a JSON answer; the server drops the connection
            message = f"an unexpected error occurred; quote request id {request_id} when reporting it"
            await error_response(500, "internal_error", message)(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe_request(method=scope["method"], route=route, status=status, seconds=seconds)
            log.info(
                "method=%s route=%s path=%s status=%d duration_ms=%.1f client=%s request_id=%s",
                scope["method"],
                route,
                json.dumps(scope["path"]),
                status,
                seconds * 1000,
                (scope.get("client") or ("-", 0))[0],
                request_id,
            )
            requestid.current.reset(token)
