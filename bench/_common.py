"""Small helpers shared by the benchmarks: interleaved timing, summaries, machine facts, atomic JSON output.

Thread limits: a benchmark imports `_threads` (bench/_threads.py) first, before numpy loads.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def interleaved(
    cases: Mapping[str, Callable[[T], object]], inputs: Sequence[T], *, rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Milliseconds per call for every case on every input, `rounds` times.

    Cases run back to back on the same input, in an order rotated each round, so background load on a shared
    machine falls on all of them alike. The first `warmup` rounds are run and discarded.
    """
    names = list(cases)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(warmup + rounds):
        shift = round_no % len(names)
        order = names[shift:] + names[:shift]
        for item in inputs:
            for name in order:
                start = time.perf_counter_ns()
                cases[name](item)
                elapsed = (time.perf_counter_ns() - start) / 1e6
                if round_no >= warmup:
                    samples[name].append(elapsed)
    return samples


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, p95, mean and minimum of a list of milliseconds, rounded for reporting."""
    return {
        "n": len(samples_ms),
        "median_ms": round(statistics.median(samples_ms), 4),
        "p95_ms": round(percentile(samples_ms, 95), 4),
        "mean_ms": round(statistics.fmean(samples_ms), 4),
        "min_ms": round(min(samples_ms), 4),
    }


def ratio(ours: float, peer: float) -> float:
    """Time ratio ours / peer: below 1 means ours is faster."""
    return round(ours / peer, 3)


def rss_mb() -> float:
    """This process's resident memory now, from /proc (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine_info(packages: Sequence[str]) -> dict[str, Any]:
    """CPU, load, Python and package versions: what a reader needs to compare two result files."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu,
        "logical_cpus": os.cpu_count(),
        "load_average_1_5_15": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write `data` atomically, so an interrupted run never leaves half a results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> None:
    """A plain aligned text table: first column left-aligned, the rest right-aligned."""
    cells = [
        [str(c) for c in header],
        *([f"{c:.{digits}f}" if isinstance(c, float) else str(c) for c in row] for row in rows),
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for n, row in enumerate(cells):
        print(
            "  "
            + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
