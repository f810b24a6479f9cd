"""Token buckets per API key and per client address, in process, so that one caller's flood cannot starve others.

A bearer token counts as a publisher's only after it has authenticated once (`RateLimiter.recognise`, called by
the auth dependencies); until then its requests draw on the sender's address bucket, so inventing fresh tokens
buys no fresh buckets.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from registry.settings import Settings

# Probes and scrapes must answer even while a caller is being throttled.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class BucketPolicy:
    per_second: float
    burst: int


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        *,
        anonymous: BucketPolicy,
        publisher: BucketPolicy,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = 100_000,
    ) -> None:
        self.anonymous = anonymous
        self.publisher = publisher
        self._clock = clock
        self._max_tracked = max_tracked
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._known: OrderedDict[bytes, str] = OrderedDict()  # credential digest -> identity
        self._lock = threading.Lock()  # `recognise` runs in the thread pool, `take` on the event loop

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        if not settings.rate_limit_enabled:
            return None
        return cls(
            anonymous=BucketPolicy(settings.rate_limit_anonymous_per_minute / 60, settings.rate_limit_anonymous_burst),
            publisher=BucketPolicy(settings.rate_limit_publisher_per_minute / 60, settings.rate_limit_publisher_burst),
        )

    def recognise(self, credential: str, identity: str) -> None:
        """`credential` authenticated as `identity`: from now on its requests draw on that identity's bucket."""
        with self._lock:
            self._remember(self._known, _digest(credential), identity)

    def caller(self, credential: str | None, address: str) -> tuple[str, BucketPolicy]:
        """The bucket a request draws on: its key's when the key is known, else its address's."""
        with self._lock:
            identity = self._known.get(_digest(credential)) if credential else None
        if identity is not None:
            return f"key:{identity}", self.publisher
        return f"address:{address}", self.anonymous

    def take(self, bucket: str, policy: BucketPolicy) -> float:
        """Take one token: 0 when granted, else the seconds until the next token."""
        now = self._clock()
        with self._lock:
            state = self._buckets.get(bucket) or _Bucket(tokens=policy.burst, updated=now)
            state.tokens = min(policy.burst, state.tokens + (now - state.updated) * policy.per_second)
            state.updated = now
            self._remember(self._buckets, bucket, state)
            if state.tokens >= 1:
                state.tokens -= 1
                return 0.0
            return (1 - state.tokens) / policy.per_second

    def _remember(self, table: OrderedDict[K, V], key: K, value: V) -> None:
        """Insert as most recent, forgetting the least recent beyond `max_tracked` (a full bucket, in effect)."""
        table[key] = value
        table.move_to_end(key)
        while len(table) > self._max_tracked:
            table.popitem(last=False)


def _digest(credential: str) -> bytes:
    return hashlib.sha256(credential.encode()).digest()


def client_address(scope: Scope) -> str:
    """The peer's address; IPv6 peers are grouped by /64, the block one subscriber usually holds."""
    host = (scope.get("client") or ("unknown", 0))[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


class RateLimit:
    """Answer 429 `rate_limited` with `Retry-After` before a throttled request's body is read."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        bucket, policy = self.limiter.caller(bearer_token(scope), client_address(scope))
        wait = self.limiter.take(bucket, policy)
        if wait == 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        who = "API key" if bucket.startswith("key:") else "client address"
        message = f"too many requests from this {who} (burst {policy.burst}); retry in {retry_after} s"
        response = error_response(429, "rate_limited", message, {"Retry-After": str(retry_after)})
        await response(scope, receive, send)
