"""Prometheus metrics: traffic by route and status, in-flight requests, index sizes, check verdicts, media pool.

Each app owns its own collector registry, so several apps in one process (tests, workers) never mix counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from api.deps import RegistryDep
from registry.pictures import TALLY, PictureStore, Usage
from registry.pool import MediaPool
from registry.runtime import Registry

# Seconds; checks of large media take seconds, probes microseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # one label for every unknown path, so scanners cannot explode the series count


def index_sizes(registry: Registry) -> dict[str, int]:
    """Entries per match index (empty while loading): the one place that knows where the registry keeps them."""
    if not registry.ready:
        return {}
    stats = registry.index.stats()
    return {name.removeprefix("hashes_"): count for name, count in stats.items() if name.startswith("hashes_")} | {
        "originals_with_features": stats["originals"]
    }


class MediaPoolCollector(Collector):
    """The media pool's state, read at scrape time: how many workers are busy, how deep its queue is."""

    def __init__(self) -> None:
        self.pool: MediaPool | None = None

    def collect(self) -> Iterator[Metric]:
        if self.pool is None:
            return
        stats = self.pool.stats()
        yield GaugeMetricFamily("provreg_media_workers", "media worker processes", value=stats["workers"])
        yield GaugeMetricFamily("provreg_media_workers_busy", "media workers running a task", value=stats["busy"])
        yield GaugeMetricFamily(
            "provreg_media_queue_depth", "requests waiting for a media worker", value=stats["queued"]
        )
        yield CounterMetricFamily(
            "provreg_media_workers_replaced",
            "media workers killed (over a limit, or their client left) and replaced",
            value=stats["replaced"],
        )


class KeptFilesCollector(Collector):
    """The kept-files store (registry.pictures): what every process keeps there now (`usage`, read by the scrape
    just before), against its caps, and what this process evicted early or refused."""

    def __init__(self) -> None:
        self.store: PictureStore | None = None
        self.usage: Usage | None = None

    def collect(self) -> Iterator[Metric]:
        if self.store is None or self.usage is None:
            return
        usage = self.usage
        kept = GaugeMetricFamily(
            "provreg_kept_bytes", "bytes of kept pictures, check analyses and queries", labels=["kind"]
        )
        files = GaugeMetricFamily("provreg_kept_files", "files kept", labels=["kind"])
        for kind, size in usage.bytes.items():
            kept.add_metric([kind], size)
            files.add_metric([kind], usage.files[kind])
        yield kept
        yield files
        caps = GaugeMetricFamily("provreg_kept_limit_bytes", "caps of the kept files", labels=["scope"])
        caps.add_metric(["total"], self.store.quota.total_bytes)
        caps.add_metric(["client"], self.store.quota.client_bytes)
        yield caps
        dropped = CounterMetricFamily(
            "provreg_kept_dropped",
            "files this process evicted early to make room, or refused for being larger than a cap",
            labels=["reason", "kind"],
        )
        for (reason, kind), count in sorted(TALLY.counts.items()):
            dropped.add_metric([reason, kind], count)
        yield dropped


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        labels = ("method", "route", "status")
        self.requests = Counter("provreg_http_requests", "HTTP requests answered", labels, registry=self.registry)
        self.latency = Histogram(
            "provreg_http_request_duration_seconds",
            "time from the request's arrival to the end of its response",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("provreg_http_requests_in_flight", "requests being served", registry=self.registry)
        self.index_entries = Gauge(
            "provreg_index_entries", "entries per match index", ("index",), registry=self.registry
        )
        self.media_pool = MediaPoolCollector()
        self.registry.register(self.media_pool)
        self.kept = KeptFilesCollector()
        self.registry.register(self.kept)
        self.verdicts = Counter(
            "provreg_check_verdicts", "verdicts of /v1/check", ("verdict", "mode"), registry=self.registry
        )

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "other"  # any token is a method to the HTTP parser
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def record_verdict(self, verdict: str, mode: str) -> None:
        self.verdicts.labels(verdict, mode).inc()

    def render(self, registry: Registry) -> bytes:
        # the server's runner is its MediaPool; another runner (none the server makes) has no stats to report
        self.media_pool.pool = registry.pool if isinstance(registry.pool, MediaPool) else None
        self.kept.store = registry.pictures
        for name, size in index_sizes(registry).items():
            self.index_entries.labels(name).set(size)
        return generate_latest(self.registry)


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]

router = APIRouter(tags=["health"])
_SCRAPE_THREAD = anyio.CapacityLimiter(1)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}, "description": "Prometheus text format 0.0.4"}},
)
async def scrape(metrics: MetricsDep, registry: RegistryDep) -> Response:
    """Prometheus scrape target (unauthenticated and not rate limited: expose it to the monitoring network only).

    `async`, with its one piece of I/O (the kept files' sizes) on a thread of its own, so a server whose worker
    threads are all busy can still be watched.
    """
    metrics.kept.usage = await anyio.to_thread.run_sync(registry.pictures.usage, limiter=_SCRAPE_THREAD)
    return Response(metrics.render(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)
