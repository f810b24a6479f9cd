"""Rate limits per caller, so that one caller's flood cannot starve others; on PostgreSQL shared by every API process.

A caller is the publisher an API key belongs to, the admin token, or else the client address. A bearer token is
looked up in the database on its first request to a process (then remembered for `KNOWN_SECONDS`), so a publisher's
key draws on its own bucket from its first request on, whichever worker answers it; an unknown or revoked token draws
on its sender's address bucket, so inventing tokens buys nothing. The buckets themselves are `registry.ratelimits`'s:
in the database on PostgreSQL (one UPSERT a request), in the process on SQLite (where one process serves).

The same caller owns what the request keeps on disk (`registry.pictures.kept_for`), so the per-client quota of
kept pictures and evidence counts the same callers.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_response
from registry import publishers
from registry.db import make_engine
from registry.errors import Unauthenticated
from registry.pictures import kept_for
from registry.ratelimits import BucketPolicy, Buckets, MemoryBuckets, SharedBuckets
from registry.settings import Settings

log = logging.getLogger(__name__)

# Probes and scrapes must answer even while a caller is being throttled.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# How long a process trusts a token it has looked up; a revoked key then still draws on its own bucket for this
# long (and is refused by authentication itself).
KNOWN_SECONDS = 60.0
# Threads (and database connections) of one process that check limits, apart from the requests' own.
THREADS = 4


class Callers:
    """Who a bearer token belongs to: "admin", a publisher id, or None; found keys are remembered a while."""

    def __init__(
        self,
        *,
        admin_token: str,
        lookup: Callable[[str], str | None],
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = 100_000,
    ) -> None:
        self._admin = admin_token.encode()
        self._lookup = lookup
        self._clock = clock
        self._max_tracked = max_tracked
        self._known: OrderedDict[bytes, tuple[str, float]] = OrderedDict()  # digest -> (identity, until)
        self._lock = threading.Lock()

    def remembered(self, credential: str) -> str | None:
        """The caller a token was found to be, if this process still remembers; never blocks."""
        if hmac.compare_digest(credential.encode(), self._admin):
            return "admin"
        with self._lock:
            identity, until = self._known.get(_digest(credential), ("", 0.0))
        return identity if until > self._clock() else None

    def identify(self, credential: str) -> str | None:
        """The caller a token belongs to, looked up in the database unless remembered (blocking)."""
        identity = self.remembered(credential)
        if identity is not None:
            return identity
        publisher_id = self._lookup(credential)
        if publisher_id is None:
            return None
        with self._lock:
            self._known[_digest(credential)] = (publisher_id, self._clock() + KNOWN_SECONDS)
            while len(self._known) > self._max_tracked:
                self._known.popitem(last=False)
        return publisher_id


@dataclass(frozen=True)
class Decision:
    bucket: str
    policy: BucketPolicy
    wait: float  # 0: granted


class RateLimiter:
    def __init__(
        self,
        *,
        anonymous: BucketPolicy,
        publisher: BucketPolicy,
        buckets: Buckets,
        callers: Callers,
        engine: Engine | None = None,
    ) -> None:
        self.anonymous = anonymous
        self.publisher = publisher
        self.buckets = buckets
        self.callers = callers
        self._engine = engine  # its own connections (the callers' lookups, shared buckets), closed with it

    @classmethod
    def from_settings(cls, settings: Settings, admin_token: str) -> RateLimiter | None:
        if not settings.rate_limit_enabled:
            return None
        buckets: Buckets
        if settings.sqlalchemy_url.startswith("postgresql"):
            buckets = SharedBuckets.connect(settings.sqlalchemy_url, connections=THREADS)
            engine = buckets.engine
        else:
            buckets, engine = MemoryBuckets(), make_engine(settings.sqlalchemy_url)
        return cls(
            anonymous=BucketPolicy(settings.rate_limit_anonymous_per_minute / 60, settings.rate_limit_anonymous_burst),
            publisher=BucketPolicy(settings.rate_limit_publisher_per_minute / 60, settings.rate_limit_publisher_burst),
            buckets=buckets,
            callers=Callers(admin_token=admin_token, lookup=lambda credential: _publisher_of(engine, credential)),
            engine=engine,
        )

    def blocks(self, credential: str | None) -> bool:
        """Whether `check` may wait on the database (then it runs in a thread, never on the event loop)."""
        if isinstance(self.buckets, SharedBuckets):
            return True
        return credential is not None and self.callers.remembered(credential) is None

    def check(self, credential: str | None, address: str) -> Decision:
        """Take one request from the caller's bucket: its key's when the token is genuine, else its address's."""
        identity = self.callers.identify(credential) if credential else None
        if identity is not None:
            bucket, policy = f"key:{identity}", self.publisher
        else:
            bucket, policy = f"address:{address}", self.anonymous
        try:
            wait = self.buckets.take(bucket, policy)
        except Exception:  # the database is failing: the request meets the same failure, not a 429 for everyone
            log.exception("rate limit check failed; letting the request through")
            wait = 0.0
        return Decision(bucket, policy, wait)

    def close(self) -> None:
        self.buckets.close()
        if self._engine is not None:
            self._engine.dispose()


def _publisher_of(engine: Engine, credential: str) -> str | None:
    try:
        with Session(engine) as session:
            return publishers.authenticated_key(session=session, api_key=credential).publisher_id
    except Unauthenticated:
        return None
    except Exception:
        log.exception("could not look up an API key for the rate limit; counting it by address")
        return None


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
    """Answer 429 `rate_limited` with `Retry-After` before a throttled request's body is read; name the request's
    caller (its address when rate limits are off) for the routes and as the owner of what it keeps on disk."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter | None) -> None:
        self.app = app
        self.limiter = limiter
        self._threads = anyio.CapacityLimiter(THREADS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        credential, address = bearer_token(scope), client_address(scope)
        if self.limiter is None:
            await self._serve(f"address:{address}", scope, receive, send)
            return
        if self.limiter.blocks(credential):
            decision = await anyio.to_thread.run_sync(self.limiter.check, credential, address, limiter=self._threads)
        else:
            decision = self.limiter.check(credential, address)
        if decision.wait == 0:
            await self._serve(decision.bucket, scope, receive, send)
            return
        retry_after = max(1, math.ceil(decision.wait))
        who = "API key" if decision.bucket.startswith("key:") else "client address"
        message = f"too many requests from this {who} (burst {decision.policy.burst}); retry in {retry_after} s"
        response = error_response(429, "rate_limited", message, {"Retry-After": str(retry_after)})
        await response(scope, receive, send)

    async def _serve(self, caller: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on as `caller`'s: `request.state.caller` names it ("key:<publisher id>", "key:admin",
        "address:<address>"), and what it keeps on disk is counted against it."""
        scope.setdefault("state", {})["caller"] = caller
        with kept_for(caller):
            await self.app(scope, receive, send)
