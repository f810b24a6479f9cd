"""Rate-limit buckets: in this process (one server process: SQLite), or in PostgreSQL, shared by every API process.

Both run the generic cell rate algorithm (GCRA), a token bucket kept as one number per caller: its theoretical
arrival time `tat`. A request at `now` is granted when `max(tat, now) + interval - now <= burst * interval`, and then
`tat` moves on by one interval (`interval = 1 / per_second`); a caller idle long enough has `tat <= now`, a full
bucket, so such rows are swept. One number per caller makes the shared version a single UPSERT per request.

    buckets = SharedBuckets.connect(url, connections=4)      # or MemoryBuckets() where one process serves
    wait = buckets.take("address:192.0.2.1", BucketPolicy(per_second=5, burst=60))   # 0: granted
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, event, text

from registry.db import make_engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BucketPolicy:
    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1 / self.per_second


class Buckets(Protocol):
    def take(self, bucket: str, policy: BucketPolicy) -> float:
        """Take one request from `bucket`: 0 when granted, else the seconds until one would be."""
        ...

    def close(self) -> None: ...


def _decide(tat: float | None, now: float, policy: BucketPolicy) -> tuple[float, float]:
    """GCRA: (the new `tat`, 0) when granted, else (`tat` unchanged, the wait)."""
    after = max(tat if tat is not None else now, now) + policy.interval
    limit = now + policy.burst * policy.interval
    if after <= limit:
        return after, 0.0
    assert tat is not None  # a fresh bucket always grants (burst >= 1)
    return tat, after - limit


class MemoryBuckets:
    """Buckets in this process: right where one process serves (SQLite refuses several workers)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_tracked: int = 100_000) -> None:
        self._clock = clock
        self._max_tracked = max_tracked
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, bucket: str, policy: BucketPolicy) -> float:
        now = self._clock()
        with self._lock:
            tat, wait = _decide(self._tats.get(bucket), now, policy)
            self._tats[bucket] = tat
            self._tats.move_to_end(bucket)
            while len(self._tats) > self._max_tracked:
                self._tats.popitem(last=False)  # the least recent: forgotten, in effect a full bucket
        return wait

    def close(self) -> None:
        pass


# One round trip: the INSERT ... ON CONFLICT DO UPDATE ... WHERE updates (and returns) the row only when the request
# is granted, deciding on the row as locked; otherwise the second SELECT reads the row for the wait. That read is the
# statement's snapshot, which may predate a concurrent grant, so its wait is only an estimate, never below a
# millisecond: only the first branch grants. The database's clock is the one clock every process shares; `now()` is
# fixed for the statement.
_TAKE = text(
    """
    WITH clock AS (SELECT extract(epoch FROM now())::float8 AS now),
    granted AS (
        INSERT INTO rate_bucket AS b (bucket, tat)
        SELECT :bucket, clock.now + :interval FROM clock
        ON CONFLICT (bucket) DO UPDATE SET tat = greatest(b.tat, excluded.tat - :interval) + :interval
        WHERE greatest(b.tat, excluded.tat - :interval) + :interval <= excluded.tat + (:burst - 1) * :interval
        RETURNING 0.0::float8 AS wait
    )
    SELECT wait FROM granted
    UNION ALL
    SELECT greatest(b.tat + :interval - (clock.now + :burst * :interval), 0.001)
    FROM rate_bucket AS b, clock
    WHERE b.bucket = :bucket AND NOT EXISTS (SELECT 1 FROM granted)
    """
)
_SWEEP = text("DELETE FROM rate_bucket WHERE tat < extract(epoch FROM now())")


def _no_synchronous_commit(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    dbapi_connection.commit()


class SharedBuckets:
    """Buckets in PostgreSQL's `rate_bucket` table, so N API processes give a caller its rate once, not N times.

    Its own small engine (`connect`), so rate checks never wait behind the requests' own database work; full
    buckets are swept every `sweep_seconds` by whichever process gets there first.
    """

    def __init__(self, engine: Engine, *, sweep_seconds: float = 60.0) -> None:
        self.engine = engine
        self._sweep_seconds = sweep_seconds
        self._next_sweep = 0.0
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, url: str, *, connections: int) -> SharedBuckets:
        """Its own engine: `connections` at most, each statement its own transaction, committed without waiting
        for the disk (the table is UNLOGGED too: a crash may forget a few seconds of buckets, which is harmless)."""
        engine = make_engine(url, pool_size=connections, max_overflow=0)
        event.listen(engine, "connect", _no_synchronous_commit)
        return cls(engine.execution_options(isolation_level="AUTOCOMMIT"))

    def take(self, bucket: str, policy: BucketPolicy) -> float:
        with self.engine.connect() as connection:
            wait = connection.execute(
                _TAKE, {"bucket": bucket, "interval": policy.interval, "burst": policy.burst}
            ).scalar()
            if self._sweep_due():
                connection.execute(_SWEEP)
        # No row: another process created the bucket after this statement's snapshot; one interval is the estimate.
        return policy.interval if wait is None else float(wait)

    def _sweep_due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next_sweep:
                return False
            self._next_sweep = now + self._sweep_seconds
            return True

    def close(self) -> None:
        self.engine.dispose()
