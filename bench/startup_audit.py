"""Start-up audit benchmark: the full audit against the incremental one that resumes from the signed mark.

Builds a log of registration entries (as bench/transparency.py does, with their rows), runs a full audit (what
every start-up ran before the mark existed), then appends `--new` entries and times the incremental start-up
audit, each in a fresh process as a server start would. Times are reported, never asserted.

    python bench/startup_audit.py [--entries 100000] [--new 1000]

Prints a table and writes the figures to bench/results/startup_audit.json.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from _common import machine_info, print_table, write_json
from transparency import QUICK, bench_registry, build_log

from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "startup_audit.json"


def timed_audit(data_dir: str, full: bool) -> dict[str, Any]:
    """One audit as Registry.load (full=False) or `provreg audit --full` runs it, in this fresh process."""
    registry = Registry.open(Settings(_env_file=None, data_dir=Path(data_dir), database_url=None))
    try:
        start = time.perf_counter()
        report = registry.audit_log(full=full)
        seconds = time.perf_counter() - start
    finally:
        registry.engine.dispose()
    return {
        "full": full,
        "ok": report.ok,
        "size": report.size,
        "entries_read": report.size - report.start,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def in_fresh_process(data_dir: Path, full: bool) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(timed_audit, str(data_dir), full).result()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="log size before the mark")
    parser.add_argument("--new", type=int, default=1_000, help="entries appended after the mark")
    args = parser.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="provreg-bench-") as tmp:
        data_dir = Path(tmp) / "log"
        with bench_registry(data_dir) as (registry, publisher):
            build_log(registry, publisher, replace(QUICK, log_size=args.entries))
        runs.append({"audit": "full (start-up before the mark)", **in_fresh_process(data_dir, True)})
        runs.append({"audit": "start-up, nothing new", **in_fresh_process(data_dir, False)})
        registry = Registry.open(Settings(_env_file=None, data_dir=data_dir, database_url=None))
        try:
            build_log(registry, publisher, replace(QUICK, log_size=args.entries + args.new, build_batch=args.new))
        finally:
            registry.engine.dispose()
        runs.append({"audit": f"start-up, {args.new} new entries", **in_fresh_process(data_dir, False)})
    write_json(RESULTS, {"entries": args.entries, "new": args.new, "machine": machine_info(()), "runs": runs})
    print_table("Start-up audit", list(runs[0]), [list(run.values()) for run in runs])
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
