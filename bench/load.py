"""A bounded load run against a real `provreg serve` on 127.0.0.1: latency, errors, /healthz and server memory.

    PYTHONPATH=$PWD python bench/load.py [--seconds 60] [--threads 4] [--originals 30] [--near-duplicates 50]

A fresh server (rate limiting off, scratch data directory) gets `--originals` distinct procedural originals, one of
which (the hub) also has `--near-duplicates` registered re-encodes at other qualities and sizes. Then `--threads`
clients POST /v1/check for `--seconds`, cycling through four query kinds (unregistered, copy, altered copy, the hub
query with its near-duplicates) while one more thread polls /healthz. It reports p50/p99 per kind, errors by status,
the worst /healthz latency, the server's resident memory (its process and children) before and after, and, on the
quiet server afterwards, the hub query's check time beside a one-match query's: near-duplicates beyond the matches
reported must not make a check slower. Results go to bench/results/load.json.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import _threads  # noqa: F401 - pins the numeric libraries to one thread before they load
import httpx2
import numpy as np
from _common import machine_info, percentile, print_table, write_json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw

from api.client import HttpTransport, PublisherClient
from bench.derivatives_synthetic import procedural_image
from registry.keys import raw_public_key

RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
HOST = "127.0.0.1"  # loopback only
MAX_REQUESTS_PER_THREAD = 100_000  # a second bound besides the clock
QUIET_ROUNDS = 10
BOMBS = 40  # concurrent heavy uploads in the bomb phase
REFERENCE_DUPLICATES = 10  # a second hub with as many near-duplicates as a check reports
HUB_SEED, UNREGISTERED_SEED = 1000, 5000


def jpeg(pixels: np.ndarray | Image.Image, quality: int = 90, scale: float = 1.0) -> bytes:
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def altered(pixels: np.ndarray, seed: int) -> bytes:
    """A copy with a local edit: a filled patch over a fifth of the picture, as a splice would leave."""
    image = Image.fromarray(pixels)
    x, y = 40 + seed % 100, 30 + seed % 80
    ImageDraw.Draw(image).rectangle((x, y, x + image.width // 4, y + image.height // 4), fill=(250, 240, 20))
    return jpeg(image, quality=85)


def server_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants (worker processes included), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    total_kb, stack = 0, [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return round(total_kb / 1024, 1)


@contextmanager
def running_server(
    data_dir: Path,
    admin_token: str,
    *,
    env: Mapping[str, str] | None = None,
    workers: int = 1,
    ready_timeout_s: float = 120,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`provreg serve` on a free loopback port, yielded once /readyz answers 200; stopped (SIGTERM, then kill).

    `env` adds settings (a PostgreSQL URL, the index backend) to this process's environment for the server.
    """
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    server_env = {
        **os.environ,
        "PROVREG_RATE_LIMIT_ENABLED": "false",
        "PROVREG_ADMIN_TOKEN": admin_token,
        **(env or {}),
    }
    provreg = str(Path(sys.executable).with_name("provreg"))
    command = [provreg, "--data-dir", str(data_dir), "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit(f"the server did not become ready within {ready_timeout_s:.0f} s")
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_publisher(base: str, admin_token: str, name: str = "Load Test Newsroom") -> PublisherClient:
    key = Ed25519PrivateKey.generate()
    body = {
        "name": name,
        "public_key": base64.b64encode(raw_public_key(key)).decode(),
        "verification": {"method": "bench", "verified_by": "bench/load.py"},
    }
    response = httpx2.post(f"{base}/v1/publishers", json=body, headers={"Authorization": f"Bearer {admin_token}"})
    response.raise_for_status()
    created = response.json()
    transport = HttpTransport.connect(base, created["api_key"], timeout_s=120)
    return PublisherClient(transport, publisher_id=created["id"], private_key=key)


def register_corpus(client: PublisherClient, originals: int, near_duplicates: int) -> dict[str, list[bytes]]:
    """Register the originals and the hub's near-duplicates; return the queries of each kind."""
    pictures = [procedural_image(HUB_SEED + i) for i in range(originals)]
    for n, pixels in enumerate(pictures):
        client.register(jpeg(pixels, quality=92), {"title": f"original {n}"})
    hub, reference = pictures[0], pictures[-1]
    for name, base, count in (("hub", hub, near_duplicates), ("reference hub", reference, REFERENCE_DUPLICATES)):
        for n in range(count):
            quality, scale = 50 + n % 45, 0.6 + 0.4 * (n % 10) / 9
            client.register(jpeg(base, quality=quality, scale=scale), {"title": f"{name} near-duplicate {n}"})
    return {
        "unregistered": [jpeg(procedural_image(UNREGISTERED_SEED + i), quality=85) for i in range(8)],
        "copy": [jpeg(pixels, quality=70, scale=0.8) for pixels in pictures[1:-1][:8]],
        "altered": [altered(pixels, n) for n, pixels in enumerate(pictures[1:-1][-8:])],
        "hub": [jpeg(hub, quality=75, scale=0.85)],
        "reference_hub": [jpeg(reference, quality=75, scale=0.85)],
    }


def drive(base: str, queries: dict[str, list[bytes]], threads: int, seconds: float) -> dict[str, Any]:
    """`threads` clients checking queries round-robin until the deadline, and one thread polling /healthz."""
    deadline = time.monotonic() + seconds
    samples: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    health: list[float] = []
    health_failures: Counter[str] = Counter()
    lock = threading.Lock()
    kinds = list(queries)

    def client_loop(offset: int) -> None:
        with httpx2.Client(base_url=base, timeout=120) as http:
            for n in range(MAX_REQUESTS_PER_THREAD):
                if time.monotonic() >= deadline:
                    return
                kind = kinds[(n + offset) % len(kinds)]
                query = queries[kind][(n // len(kinds)) % len(queries[kind])]
                start = time.perf_counter()
                try:
                    status = str(http.post("/v1/check", files={"file": ("q.jpg", query, "image/jpeg")}).status_code)
                except httpx2.TransportError as exc:
                    status = type(exc).__name__
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    statuses[kind][status] += 1
                    if status == "200":
                        samples[kind].append(elapsed)

    def health_loop() -> None:
        with httpx2.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    ok = http.get("/healthz").status_code == 200
                except httpx2.TransportError:
                    ok = False
                health.append((time.perf_counter() - start) * 1000)
                if not ok:
                    health_failures["failed"] += 1
                time.sleep(0.25)

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(threads)]
    workers.append(threading.Thread(target=health_loop))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    by_kind = {
        kind: {
            "ok": len(samples[kind]),
            "p50_ms": round(percentile(samples[kind], 50), 1) if samples[kind] else None,
            "p99_ms": round(percentile(samples[kind], 99), 1) if samples[kind] else None,
            "statuses": dict(statuses[kind]),
        }
        for kind in kinds
    }
    errors = Counter(status for counts in statuses.values() for status, n in counts.items() for _ in range(n))
    del errors["200"]
    return {
        "by_kind": by_kind,
        "errors_by_status": dict(errors),
        "requests": sum(sum(counts.values()) for counts in statuses.values()),
        "healthz": {
            "polls": len(health),
            "worst_ms": round(max(health), 1) if health else None,
            "p50_ms": round(percentile(health, 50), 1) if health else None,
            "failures": health_failures["failed"],
        },
    }


def quiet_comparison(base: str, queries: dict[str, bytes]) -> dict[str, Any]:
    """On the idle server, alternate the hub query (50 near-duplicates), the reference hub (10, as many as a check
    reports) and a one-match query: the hub's check time must not grow with near-duplicates beyond the matches it
    reports, so hub / reference_hub stays near 1."""
    times: dict[str, list[float]] = {name: [] for name in queries}
    matches: dict[str, int] = {}
    with httpx2.Client(base_url=base, timeout=120) as http:
        for _ in range(QUIET_ROUNDS):
            for name, query in queries.items():
                start = time.perf_counter()
                response = http.post("/v1/check", files={"file": ("q.jpg", query, "image/jpeg")})
                times[name].append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
                matches[name] = len(response.json()["matches"])
    medians = {name: round(percentile(values, 50), 1) for name, values in times.items()}
    return {
        "rounds": QUIET_ROUNDS,
        "median_ms": medians,
        "matches_reported": matches,
        "hub_over_one_match": round(medians["hub"] / medians["one_match"], 2),
        "hub_over_reference_hub": round(medians["hub"] / medians["reference_hub"], 2),
    }


def bomb_phase(base: str, bomb: bytes, refused: bytes) -> dict[str, Any]:
    """BOMBS concurrent uploads of a costly but legal progressive JPEG, plus one scan bomb over the limit, while
    /healthz is polled: the probes must keep answering at once, whatever the media workers are doing."""
    statuses: Counter[str] = Counter()
    health: list[float] = []
    done = threading.Event()

    def upload(content: bytes) -> None:
        with httpx2.Client(base_url=base, timeout=300) as http:
            try:
                statuses[str(http.post("/v1/check", files={"file": ("b.jpg", content, "image/jpeg")}).status_code)] += 1
            except httpx2.TransportError as exc:
                statuses[type(exc).__name__] += 1

    def health_loop() -> None:
        with httpx2.Client(base_url=base, timeout=30) as http:
            while not done.is_set():
                start = time.perf_counter()
                http.get("/healthz").raise_for_status()
                health.append((time.perf_counter() - start) * 1000)
                time.sleep(0.1)

    prober = threading.Thread(target=health_loop)
    prober.start()
    started = time.monotonic()
    uploads = [threading.Thread(target=upload, args=(content,)) for content in [refused] + [bomb] * BOMBS]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join()
    done.set()
    prober.join()
    return {
        "uploads": BOMBS + 1,
        "bomb_bytes": len(bomb),
        "statuses": dict(statuses),
        "seconds": round(time.monotonic() - started, 1),
        "healthz_polls": len(health),
        "healthz_worst_ms": round(max(health), 1) if health else None,
        "healthz_p50_ms": round(percentile(health, 50), 1) if health else None,
    }


def scan_heavy_jpeg(scans: int) -> bytes:
    """A 2-megapixel progressive JPEG whose last scan is repeated: every repeat is one more full decoding pass."""
    ramp = np.linspace(0, 200, 1600, dtype=np.float32)[None, :, None] + np.zeros((1200, 1, 3), np.float32)
    noise = np.random.default_rng(7).integers(0, 40, (1200, 1600, 3)).astype(np.float32)
    out = io.BytesIO()
    Image.fromarray((ramp + noise).astype(np.uint8)).save(out, "JPEG", quality=90, progressive=True)
    data = out.getvalue()
    start, end = data.rfind(b"\xff\xda"), data.rfind(b"\xff\xd9")
    repeats = max(0, scans - data.count(b"\xff\xda"))
    return data[:end] + data[start:end] * repeats + data[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--originals", type=int, default=30)
    parser.add_argument("--near-duplicates", type=int, default=50)
    args = parser.parse_args()
    admin_token = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory(prefix="provreg-load-") as scratch,
        running_server(Path(scratch) / "data", admin_token) as (base, server),
    ):
        rss_idle = server_rss_mb(server.pid)
        client = create_publisher(base, admin_token)
        started = time.monotonic()
        queries = register_corpus(client, args.originals, args.near_duplicates)
        registration_s = round(time.monotonic() - started, 1)
        client.transport.close()
        rss_before = server_rss_mb(server.pid)
        load_before = [round(load, 2) for load in os.getloadavg()]
        load = drive(base, queries, args.threads, args.seconds)
        load_after = [round(load, 2) for load in os.getloadavg()]
        rss_after = server_rss_mb(server.pid)
        comparison = quiet_comparison(
            base,
            {"hub": queries["hub"][0], "reference_hub": queries["reference_hub"][0], "one_match": queries["copy"][0]},
        )
        bombs = bomb_phase(base, scan_heavy_jpeg(100), scan_heavy_jpeg(2000))
        rss_after_bombs = server_rss_mb(server.pid)
    result = {
        "machine": machine_info(["fastapi", "uvicorn", "faiss-cpu", "opencv-python-headless"]),
        "config": {**vars(args), "registered": args.originals + args.near_duplicates, "registration_s": registration_s},
        "load_average_before_after": [load_before, load_after],
        "server_rss_mb": {
            "idle_empty": rss_idle,
            "before_load": rss_before,
            "after_load": rss_after,
            "after_bombs": rss_after_bombs,
        },
        **load,
        "near_duplicates_vs_one_match": comparison,
        "bombs": bombs,
    }
    write_json(RESULTS, result)
    rows = [
        [kind, stats["ok"], stats["p50_ms"], stats["p99_ms"], stats["statuses"]]
        for kind, stats in load["by_kind"].items()
    ]
    print_table(
        f"POST /v1/check for {args.seconds:g} s, {args.threads} threads",
        ["query", "ok", "p50 ms", "p99 ms", "statuses"],
        rows,
        1,
    )
    print_table(
        "server",
        ["figure", "value"],
        [
            ["errors by status", load["errors_by_status"] or "none"],
            ["/healthz worst ms", load["healthz"]["worst_ms"]],
            ["RSS MB before -> after", f"{rss_before} -> {rss_after}"],
            ["hub (50 near-dups) median ms", comparison["median_ms"]["hub"]],
            ["reference hub (10 near-dups) median ms", comparison["median_ms"]["reference_hub"]],
            ["one-match median ms", comparison["median_ms"]["one_match"]],
            [
                "matches reported hub / one",
                f"{comparison['matches_reported']['hub']} / {comparison['matches_reported']['one_match']}",
            ],
            ["load average before / after", f"{load_before} / {load_after}"],
            [f"{BOMBS} heavy + 1 scan bomb: statuses", bombs["statuses"]],
            ["/healthz worst ms during the bombs", bombs["healthz_worst_ms"]],
            ["RSS MB after the bombs", rss_after_bombs],
        ],
    )
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
