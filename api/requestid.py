"""The id of the request being served: assigned once at the edge, carried in logs, error bodies and a header.

A context variable, so that exception handlers, endpoints in the thread pool and log records all see it without
it being passed around.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
# Sane enough to echo into a header and a log line: no spaces, quotes or control characters, bounded length.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")

current: ContextVar[str | None] = ContextVar("provreg_request_id", default=None)


def choose(incoming: str | None) -> str:
    """The caller's id when it is sane (so traces join across services), else a fresh one."""
    if incoming is not None and _ACCEPTABLE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Gives every log record a `request_id` attribute ("-" outside a request) for the formatter to show."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get() or "-"
        return True
