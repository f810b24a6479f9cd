"""Registration throughput through `service.register`, with one writer and with four concurrent writers.

    python bench/registration_throughput.py --label before [--count 200] [--repeats 3] [--quick]

Each run opens a fresh SQLite registry in a temporary directory with one verified publisher, registers one
warm-up image (not counted), then registers `--count` distinct JPEGs (random crops, scales and colour changes of
the photos committed in tests/data), each under its own freshly signed statement, from 1 or 4 writer threads
sharing one queue. It reports registrations per second (wall clock of the
whole batch, signing included; median of the repeats) and the p50/p95 latency of one `service.register` call.
Runs of 1 and 4 writers alternate, so background load on a shared machine falls on both alike. Numeric
libraries run on one thread, so the difference between 1 and 4 writers is what the registry's own locking allows.

Results are stored under `--label` in bench/results/registration_throughput.json; other labels are kept, so a
change can be measured as `--label before` and `--label after`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path
from typing import Any

import _threads
import numpy as np
from _common import machine_info, percentile, print_table, write_json
from _signer import Signer
from PIL import Image, ImageEnhance

from api.client import LocalTransport
from registry.runtime import Registry
from registry.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "registration_throughput.json"
TEST_PHOTOS = ROOT / "tests" / "data"
WRITER_COUNTS = (1, 4)
LONG_SIDE = 640  # a typical web original after the publisher's own resize; keeps 200 registrations in minutes
SEED = 20240607
PACKAGES = ("sqlalchemy", "sqlmodel", "cryptography", "pillow", "opencv-python-headless", "faiss-cpu", "numpy")


# --- inputs -----------------------------------------------------------------------------------------------------


def source_photos() -> list[Image.Image]:
    """The committed test photos: real photographs, and no download or bench extra needed."""
    return [Image.open(path).convert("RGB") for path in sorted(TEST_PHOTOS.glob("*.jpg"))]


def distinct_jpegs(count: int) -> list[bytes]:
    """`count` different JPEGs: each a random crop of a photo, scaled to LONG_SIDE, with its colour changed."""
    rng = np.random.default_rng(SEED)
    photos = source_photos()
    blobs: list[bytes] = []
    seen: set[str] = set()
    for photo in cycle(photos):
        if len(blobs) == count:
            break
        width, height = photo.size
        crop_w, crop_h = (int(side * rng.uniform(0.6, 0.95)) for side in (width, height))
        left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        image = photo.crop((left, top, left + crop_w, top + crop_h))
        image.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.4, 1.6))
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(80, 95)))
        blob = buffer.getvalue()
        digest = hashlib.sha256(blob).hexdigest()
        if digest not in seen:
            seen.add(digest)
            blobs.append(blob)
    return blobs


# --- one run ----------------------------------------------------------------------------------------------------


def fresh_registry(data_dir: Path) -> Registry:
    """A fresh registry in `data_dir`, ignoring any PROVREG_* environment or .env file."""
    registry = Registry.open(Settings(_env_file=None, data_dir=data_dir, database_url=None))
    registry.load()
    return registry


def run_once(blobs: list[bytes], warmup: bytes, writers: int) -> dict[str, Any]:
    """Register every blob from `writers` threads on a fresh registry: wall seconds and per-call latencies."""
    with tempfile.TemporaryDirectory(prefix="provreg-throughput-") as tmp:
        registry = fresh_registry(Path(tmp) / "data")
        try:
            publisher = Signer.create(registry, "Throughput Photo Desk")
            transport = LocalTransport(registry)  # a session per call, so each writer thread has its own
            latencies_ms: list[float] = []
            lock = threading.Lock()

            def register(item: tuple[int, bytes]) -> None:
                n, content = item
                request = publisher.signed(content, f"throughput original {n}")
                start = time.perf_counter_ns()
                transport.register(request, content)
                elapsed = (time.perf_counter_ns() - start) / 1e6
                with lock:
                    latencies_ms.append(elapsed)

            register((-1, warmup))
            latencies_ms.clear()
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=writers, initializer=_single_thread) as pool:
                for _ in pool.map(register, enumerate(blobs)):
                    pass
            wall_s = time.perf_counter() - start
        finally:
            registry.close()
    return {"wall_s": wall_s, "latencies_ms": latencies_ms}


def _single_thread() -> None:
    _threads.pin()


def schedule(repeats: int) -> Iterator[int]:
    """Writer counts, alternating: 1, 4, 1, 4, ..."""
    for _ in range(repeats):
        yield from WRITER_COUNTS


def measure(count: int, repeats: int) -> dict[str, Any]:
    blobs = distinct_jpegs(count + 1)
    warmup, blobs = blobs[0], blobs[1:]
    runs: dict[int, list[dict[str, Any]]] = {writers: [] for writers in WRITER_COUNTS}
    for writers in schedule(repeats):
        run = run_once(blobs, warmup, writers)
        runs[writers].append(run)
        print(f"  {writers} writer(s): {count / run['wall_s']:.2f} registrations/s", flush=True)
    results: dict[str, Any] = {}
    for writers, done in runs.items():
        rates = [count / run["wall_s"] for run in done]
        latencies = [ms for run in done for ms in run["latencies_ms"]]
        results[f"{writers}_writers"] = {
            "writers": writers,
            "registrations": count,
            "repeats": repeats,
            "registrations_per_s_median": round(statistics.median(rates), 3),
            "registrations_per_s_runs": [round(rate, 3) for rate in rates],
            "latency_p50_ms": round(percentile(latencies, 50), 2),
            "latency_p95_ms": round(percentile(latencies, 95), 2),
            "jpeg_bytes_median": int(statistics.median(len(blob) for blob in blobs)),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", required=True, help="store the results under this name (e.g. before, after)")
    parser.add_argument("--count", type=int, default=200, help="registrations per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per writer count; the median is reported")
    parser.add_argument("--quick", action="store_true", help="40 registrations, 1 repeat: a smoke run")
    args = parser.parse_args()
    count, repeats = (40, 1) if args.quick else (args.count, args.repeats)
    _single_thread()

    results = measure(count, repeats)
    print_table(
        f"Registration throughput ({count} distinct JPEGs, median of {repeats})",
        ["writers", "registrations/s", "p50 ms", "p95 ms"],
        [
            [str(r["writers"]), r["registrations_per_s_median"], r["latency_p50_ms"], r["latency_p95_ms"]]
            for r in results.values()
        ],
        digits=2,
    )
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored[args.label] = {"machine": machine_info(PACKAGES), "quick": args.quick, "results": results}
    write_json(RESULTS, stored)
    print(f"\nwrote {RESULTS} (label {args.label!r})")


if __name__ == "__main__":
    main()
