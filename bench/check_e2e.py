"""End-to-end `check` latency through the real registry (SQLite, content store, indexes) at 10,000 originals.

    python bench/check_e2e.py [--quick] [--registered N] [--out FILE]

Registers the real photos that ship in PyPI packages (bench/derivatives_corpus.py) and procedural filler originals
(bench/derivatives_synthetic.py), every one through `service.register` (signed statement, transparency log, content
store, hashes, features), to 10,000 registrations (--quick: 2,000). Then times `matching.check` in "full" mode (the
local stage) and "fast" mode on benign derivatives of registered photos, local edits and unregistered photos,
splits full checks into stages, profiles a sample, and measures storage and `Registry.load()` start-up. Timed work
runs on one thread; only the filler pictures are drawn in a second process while the main one registers. Writes
bench/results/check_e2e.json and prints the tables.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import multiprocessing
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import _threads
import cv2
import faiss

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import interleaved, machine_info, percentile, print_table, rss_mb, summarize, write_json
from _signer import Signer

from bench.derivatives_corpus import DISTRACTORS, ORIGINALS, Query, benign_queries, edit_queries, encode, load_photos
from bench.derivatives_synthetic import procedural_image
from fingerprint.compare import analysis
from fingerprint.kinds import image as kinds_image
from fingerprint.kinds.image import ImageKind
from registry import matching, views
from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "check_e2e.json"
MAX_PIXELS = 50_000_000
THRESHOLD = 31
FILLER_SEED = 1000  # procedural_image seeds, as bench/derivatives.py uses them
FILLER_QUALITY = 90
PACKAGES = ("numpy", "faiss-cpu", "opencv-python-headless", "pillow", "pdqhash", "sqlalchemy", "sqlmodel")
FULL_TARGET_MS = 250.0  # check with the local stage, p50 at 10k registered originals, one core
FAST_TARGET_MS = 60.0  # the foundation target for the global-only check (stated there for a 1080p JPEG)

# Queries (names as bench/derivatives_corpus.py makes them): benign derivatives and local edits of registered
# photos, and unregistered photos under a few benign changes.
BENIGN = ("crop_25", "rotate_5", "screenshot", "crop_resize_jpeg")
EDITS = ("paste_patch", "caption")
UNREGISTERED = (*BENIGN, "jpeg_q30", "resize_half", "crop_10")
GROUPS = ("benign", "edit", "unregistered")
MODES: tuple[matching.CheckMode, ...] = ("full", "fast")

NOTES = (
    "Every original, real or filler, went through service.register: signed statement, transparency-log entry and "
    "checkpoint, content store, MediaHash rows (PDQ canonical + crop90/80/70, pHash, dHash), LocalFeatureSet blob, "
    "index sync. The registry is SQLite (WAL) in a temporary directory, opened with load() (log audit on).",
    "Fillers are procedural 480x360 pictures (smooth colour noise, shapes, words) saved as JPEG q90, one distinct "
    "seed each: not photos. They give ORB descriptors of the kind photos give, and every one is a real candidate "
    "source for votes, PDQ hits and verification (its original is decoded from the store when it is verified).",
    "Latency: milliseconds on one thread per check() call with a fresh session, as the API makes one per request; "
    "full and fast mode alternate call by call on the same query. p50/p95 are over every call of the group.",
    "Stages: the same checks, run once more with the stage functions check() calls (matching.decode, "
    "ImageKind.query and its extract_query_features, the MatchIndex's sync/search/vote, matching._candidates, "
    "_References.read, _run_analysis and what it calls) wrapped in timers in this process; 'other' is the rest of "
    "check() (SHA-256, building the view). Nothing in the library was changed.",
    "benign = crop_25 (centred 75%), rotate_5 (expand, black corners), screenshot (photo at 75% in app chrome), "
    "crop_resize_jpeg (crop 15%, resize 0.7, JPEG q50); edit = paste_patch (10% rectangle from another photo) and "
    "caption (meme text), each re-posted as JPEG q80 and as crop 10% + resize 0.8; unregistered = the six "
    "distractor photos under the benign changes plus jpeg_q30, resize_half and crop_10.",
    "Candidates' stored hashes are read by registration id (matching._References.read, one batched query). "
    "A lookup by registration and algorithm is timed as SQLite plans it and forced onto each media_hash index "
    "(storage.distance_lookup_ms; the plan is storage.media_hash_pdq_by_registration_plan).",
)


@dataclass(frozen=True, slots=True)
class Config:
    quick: bool
    registered: int
    rounds: int  # timed calls per query and mode
    warmup: int  # untimed checks per mode before timing
    profiled: int  # full-mode checks run under cProfile


FULL = Config(quick=False, registered=10_000, rounds=2, warmup=6, profiled=40)
QUICK = Config(quick=True, registered=2_000, rounds=1, warmup=4, profiled=20)


@dataclass(frozen=True, slots=True)
class Probe:
    """One query with what it should find."""

    query: Query
    group: str
    label: str  # transform, or edit + re-post
    expected: str | None  # registration id of its source, None for unregistered photos


# --- building the registry --------------------------------------------------------------------------------------


def open_registry(data_dir: Path, *, audit_log: bool = True) -> tuple[Registry, float]:
    """`Registry.open` + `load()` on `data_dir`, ignoring any PROVREG_* environment or .env; seconds to load."""
    settings = Settings(
        _env_file=None, data_dir=data_dir, database_url=None, max_pixels=MAX_PIXELS, match_threshold=THRESHOLD
    )
    registry = Registry.open(settings)
    start = time.perf_counter()
    registry.load(audit_log=audit_log)
    return registry, time.perf_counter() - start


def filler_jpeg(seed: int) -> bytes:
    """One procedural filler original as JPEG bytes (run in the worker process)."""
    return encode(procedural_image(seed), FILLER_QUALITY)


def build(registry: Registry, total: int) -> tuple[dict[str, str], dict[str, Any]]:
    """Register the real photos, then procedural fillers up to `total`; returns photo name -> registration id."""
    started = time.perf_counter()
    photos = load_photos(ORIGINALS)
    desk, filler = Signer.create(registry, "Benchmark Photo Desk"), Signer.create(registry, "Benchmark Filler")
    ids, seconds = {}, []
    for photo in photos:
        ids[photo.name], elapsed = desk.register(registry, photo.data, photo.name)
        seconds.append(elapsed)
    count = total - len(photos)
    filler_bytes = 0
    # The worker draws and encodes the next fillers while this process registers: only the build uses two cores.
    with multiprocessing.get_context("spawn").Pool(1, initializer=_threads.pin) as pool:
        for i, data in enumerate(pool.imap(filler_jpeg, range(FILLER_SEED, FILLER_SEED + count), chunksize=16)):
            _, elapsed = filler.register(registry, data, f"filler {i}")
            seconds.append(elapsed)
            filler_bytes += len(data)
            if (i + 1) % 1000 == 0:
                print(f"  registered {len(photos) + i + 1:,}/{total:,}", file=sys.stderr)
    ms = [1000 * s for s in seconds]
    thousand = min(1000, len(ms) // 2)
    return ids, {
        "real_photos": len(photos),
        "fillers": count,
        "filler_jpeg_mean_bytes": round(filler_bytes / max(1, count)),
        "wall_s": round(time.perf_counter() - started, 1),
        "register_ms": summarize(ms),
        f"register_ms_first_{thousand}": summarize(ms[:thousand]),
        f"register_ms_last_{thousand}": summarize(ms[-thousand:]),
    }


# --- queries ----------------------------------------------------------------------------------------------------


def make_probes(ids: dict[str, str]) -> list[Probe]:
    photos, strangers = load_photos(ORIGINALS), load_photos(DISTRACTORS)
    probes = [
        Probe(q, "benign", q.transform, ids[q.source])
        for q in benign_queries(photos, "benign", 1)
        if q.transform in BENIGN
    ]
    probes += [
        Probe(q, "edit", q.name.split("/", 1)[1], ids[q.source])
        for q in edit_queries(photos, strangers, 3)
        if q.transform in EDITS
    ]
    probes += [
        Probe(q, "unregistered", q.transform, None)
        for q in benign_queries(strangers, "distractor", 2)
        if q.transform in UNREGISTERED
    ]
    return probes


def checker(registry: Registry, mode: matching.CheckMode) -> Callable[[Probe], views.CheckView]:
    def run(probe: Probe) -> views.CheckView:
        with registry.session() as session:
            return matching.check(session=session, registry=registry, content=probe.query.data, mode=mode)

    return run


def time_checks(registry: Registry, probes: list[Probe], cfg: Config) -> dict[str, Any]:
    """p50/p95 per mode and group (and per transform), full and fast alternating call by call."""
    cases = {mode: checker(registry, mode) for mode in MODES}
    for run in cases.values():  # warm-up: page cache, lazy imports, first-call allocations
        for probe in probes[:: max(1, len(probes) // cfg.warmup)][: cfg.warmup]:
            run(probe)
    samples = interleaved(cases, probes, rounds=cfg.rounds, warmup=0)
    by_group: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in MODES}
    by_label: dict[str, dict[str, list[float]]] = {mode: defaultdict(list) for mode in MODES}
    for mode, values in samples.items():
        for n, value in enumerate(values):
            probe = probes[n % len(probes)]
            by_group[mode][probe.group].append(value)
            by_group[mode]["all"].append(value)
            by_label[mode][f"{probe.group}: {probe.label}"].append(value)
    return {
        "latency": {mode: {g: summarize(v) for g, v in groups.items()} for mode, groups in by_group.items()},
        "latency_per_transform": {
            mode: {label: summarize(v) for label, v in labels.items()} for mode, labels in by_label.items()
        },
    }


# --- stages -----------------------------------------------------------------------------------------------------

# (stage, owner, attribute): module functions and class attributes check() looks up at call time. A stage named
# "parent: ..." runs inside another stage; the others do not overlap.
_MODULE_STAGES = (
    ("decode", matching, "decode"),
    ("fingerprint (hashes x8 variants, ORB x2)", ImageKind, "query"),
    ("fingerprint: query features (ORB x2)", kinds_image, "extract_query_features"),
    ("candidates (exact copy, hash search, votes)", matching, "_candidates"),
    ("references (one batched read)", matching._References, "read"),
    ("analyse", matching, "_run_analysis"),
    ("analyse: reference features (parse)", matching._References, "features"),
    ("analyse: original (store + decode)", matching._References, "original"),
    ("analyse: verify (ratio test + RANSAC)", analysis, "verify"),
    ("analyse: pdq alignment", analysis, "pdq_alignment"),
    ("analyse: localise", analysis, "localise"),
)
# Methods of the registry's MatchIndex, timed through the protocol (nothing below it is reached into).
_INDEX_STAGES = (
    ("index sync", "sync"),
    ("candidates: hash search", "search"),
    ("candidates: descriptor votes", "vote"),
)


def _nested(name: str) -> bool:
    return ": " in name


@contextmanager
def instrumented(registry: Registry) -> Iterator[tuple[dict[str, float], dict[str, int]]]:
    """Wrap check()'s stage functions in timers; yields seconds and calls per stage (the caller clears them)."""
    laps: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    active: list[str] = []  # wrapped calls in progress

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        nested_stage = _nested(name)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # A top-level stage called from inside another one (the original's decode inside analyse) is part of
            # the caller's time, not a second count of its own.
            counted = nested_stage or not active
            active.append(name)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                active.pop()
                if counted:
                    laps[name] += time.perf_counter() - start
                    calls[name] += 1

        return wrapper

    restore: list[Callable[[], None]] = []
    for name, owner, attr in _MODULE_STAGES:
        original = owner.__dict__[attr]
        # A classmethod is wrapped bound (as the class hands it out) and put back as the descriptor it was.
        wrapped = staticmethod(timed(name, getattr(owner, attr))) if isinstance(original, classmethod) else None
        setattr(owner, attr, wrapped or timed(name, original))
        restore.append(functools.partial(setattr, owner, attr, original))
    for name, attr in _INDEX_STAGES:
        setattr(registry.index, attr, timed(name, getattr(registry.index, attr)))
        restore.append(functools.partial(delattr, registry.index, attr))
    try:
        yield laps, calls
    finally:
        for undo in restore:
            undo()


def stage_split(registry: Registry, probes: list[Probe]) -> dict[str, Any]:
    """One instrumented pass per mode: per-stage p50/p95 by group and by transform, and what each check found."""
    stages: dict[str, Any] = {}
    per_transform: dict[str, Any] = {}
    outcomes: dict[str, Any] = {}
    for mode in MODES:
        run = checker(registry, mode)
        rows: dict[str, list[dict[str, float]]] = defaultdict(list)
        label_rows: dict[str, list[dict[str, float]]] = defaultdict(list)
        found: dict[str, list[tuple[Probe, views.CheckView]]] = defaultdict(list)
        with instrumented(registry) as (laps, calls):
            for probe in probes:
                laps.clear()
                calls.clear()
                start = time.perf_counter()
                view = run(probe)
                total = time.perf_counter() - start
                row = {name: 1000 * value for name, value in laps.items()}
                top = sum(value for name, value in row.items() if not _nested(name))
                row["other"] = 1000 * total - top
                row["total"] = 1000 * total
                row |= {f"calls: {name}": float(count) for name, count in calls.items() if _nested(name)}
                rows[probe.group].append(row)
                label_rows[f"{probe.group}: {probe.label}"].append(row)
                found[probe.group].append((probe, view))
        stages[mode] = {group: _stage_table(group_rows) for group, group_rows in rows.items()}
        per_transform[mode] = {label: _stage_table(rows_of) for label, rows_of in label_rows.items()}
        outcomes[mode] = {group: _outcome(pairs) for group, pairs in found.items()}
    return {"stages": stages, "stages_per_transform": per_transform, "outcomes": outcomes}


def _stage_table(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    stage_names = [name for name, _, _ in _MODULE_STAGES] + [name for name, _ in _INDEX_STAGES]
    names = [*stage_names, "other", "total"]
    names += [f"calls: {name}" for name in stage_names if _nested(name)]
    table = {}
    for name in names:
        values = [row.get(name, 0.0) for row in rows]
        if any(values):
            unit = "" if name.startswith("calls: ") else "_ms"  # calls per check, or milliseconds
            table[name] = {
                f"p50{unit}": round(statistics.median(values), 2),
                f"p95{unit}": round(percentile(values, 95), 2),
                f"mean{unit}": round(statistics.fmean(values), 2),
            }
    return table


def _outcome(pairs: list[tuple[Probe, views.CheckView]]) -> dict[str, Any]:
    """How many checks found their source (top match or anywhere), with which verdict, and any wrong match."""
    verdicts: dict[str, int] = defaultdict(int)
    top = anywhere = wrong = 0
    misses, wrong_queries = [], []
    for probe, view in pairs:
        verdicts[view.verdict] += 1
        ids = [match.registration_id for match in view.matches]
        if probe.expected is not None and ids and ids[0] == probe.expected:
            top += 1
        if probe.expected is not None and probe.expected in ids:
            anywhere += 1
        elif probe.expected is not None:
            misses.append(probe.query.name)
        wrong_here = sum(1 for r in ids if r != probe.expected)
        wrong += wrong_here
        if wrong_here:
            wrong_queries.append(probe.query.name)
    return {
        "queries": len(pairs),
        "verdicts": dict(verdicts),
        "source_is_top_match": top,
        "source_among_matches": anywhere,
        "wrong_matches": wrong,
        "misses": sorted(misses),
        "queries_with_wrong_matches": sorted(wrong_queries),
    }


def profile(registry: Registry, probes: list[Probe], count: int) -> dict[str, Any]:
    """cProfile over `count` full checks spread over all groups: where the time goes, per check."""
    sample = probes[:: max(1, len(probes) // count)][:count]
    run = checker(registry, "full")
    profiler = cProfile.Profile()
    profiler.enable()
    for probe in sample:
        run(probe)
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append(
            {
                "function": f"{where}:{line}({function})",
                "calls_per_check": round(ncalls / len(sample), 1),
                "own_ms_per_check": round(1000 * tottime / len(sample), 2),
                "cumulative_ms_per_check": round(1000 * cumtime / len(sample), 2),
            }
        )
    return {
        "checks": len(sample),
        "note": "cProfile adds overhead to every Python call; compare rows with each other, not with the latency",
        "by_own_time": sorted(rows, key=lambda r: -r["own_ms_per_check"])[:25],
        "by_cumulative_time": sorted(rows, key=lambda r: -r["cumulative_ms_per_check"])[:40],
    }


# --- storage and start-up ---------------------------------------------------------------------------------------


def storage(registry: Registry, registered: int) -> dict[str, Any]:
    data_dir = registry.settings.data_dir
    database = data_dir / "registry.sqlite3"
    with registry.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        owners = dict(
            connection.exec_driver_sql(
                "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
            ).all()
        )
        pages = connection.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
        blob = connection.exec_driver_sql("SELECT AVG(LENGTH(data)), COUNT(*) FROM local_features").one()
        hash_rows = connection.exec_driver_sql("SELECT alg, COUNT(*) FROM media_hash GROUP BY alg").all()
        # Which media_hash index SQLite (no ANALYZE statistics) plans for a lookup by registration and algorithm.
        plan = connection.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT value, variant FROM media_hash WHERE registration_id = ? AND alg = ?",
            ("reg_0", "pdq"),
        ).all()
        index_order = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE tbl_name = 'media_hash' AND type = 'index' ORDER BY rowid"
        ).all()
    per_table: dict[str, int] = defaultdict(int)
    for name, size in pages:
        per_table[owners.get(name, name)] += int(size)
    matching_tables = ("registration", "media_hash", "local_features")
    log_tables = ("log_entry", "log_node", "log_checkpoint")
    originals = [p.stat().st_size for p in (data_dir / "originals").rglob("*") if p.is_file()]
    return {
        "database_bytes": database.stat().st_size,
        "database_bytes_per_registration": round(database.stat().st_size / registered),
        "table_bytes_with_indexes": dict(sorted(per_table.items(), key=lambda kv: -kv[1])),
        "matching_rows_bytes_per_registration": round(sum(per_table[t] for t in matching_tables) / registered),
        "per_registration_bytes_by_table": {t: round(per_table[t] / registered) for t in matching_tables + log_tables},
        "features_blob_mean_bytes": round(float(blob[0])),
        "feature_sets": int(blob[1]),
        "media_hash_rows": dict(hash_rows),
        "media_hash_pdq_by_registration_plan": " / ".join(str(row[-1]) for row in plan),
        "media_hash_index_creation_order": [row[0] for row in index_order],
        "content_store_bytes": sum(originals),
        "content_store_files": len(originals),
        "index_stats": registry.index.stats(),  # sizes in entries; the saved files' bytes are under startup
        "rss_mb_after_queries": round(rss_mb(), 1),
    }


def distance_lookup(registry: Registry, registration_ids: Sequence[str]) -> dict[str, Any]:
    """A MediaHash query by registration and algorithm, as SQLite plans it and forced onto each index: ms each."""
    query = "SELECT value, variant FROM media_hash {} WHERE registration_id = ? AND alg = ?"
    timings = {}
    with registry.engine.connect() as connection:
        indexes = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE tbl_name = 'media_hash' AND type = 'index' AND sql IS NOT NULL"
        ).all()
        variants = {"as_planned": ""} | {f"indexed_by_{name}": f"INDEXED BY {name}" for (name,) in indexes}
        for name, hint in variants.items():
            sql = query.format(hint)
            connection.exec_driver_sql(sql, (registration_ids[0], "pdq")).all()  # warm the pages
            samples = []
            for registration_id in registration_ids:
                start = time.perf_counter()
                connection.exec_driver_sql(sql, (registration_id, "pdq")).all()
                samples.append(1000 * (time.perf_counter() - start))
            timings[name] = summarize(samples)
    return timings


def startup(data_dir: Path) -> dict[str, Any]:
    """`Registry.load()` at this size: indexes rebuilt from the database, then loaded from saved files."""
    index_dir = data_dir / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    gc.collect()
    registry, rebuild_s = open_registry(data_dir, audit_log=False)
    start = time.perf_counter()
    registry.index.save()
    save_s = time.perf_counter() - start
    saved_bytes = {p.name: p.stat().st_size for p in sorted(index_dir.iterdir())}
    registry.engine.dispose()
    del registry
    gc.collect()
    registry, saved_load_s = open_registry(data_dir, audit_log=False)
    registry.engine.dispose()
    del registry
    gc.collect()
    registry, audited_load_s = open_registry(data_dir, audit_log=True)
    ok = registry.log_problem is None
    registry.engine.dispose()
    return {
        "load_rebuild_from_database_s": round(rebuild_s, 2),
        "save_indexes_s": round(save_s, 2),
        "load_from_saved_index_files_s": round(saved_load_s, 2),
        "load_from_saved_index_files_with_log_audit_s": round(audited_load_s, 2),
        "log_audit_ok": ok,
        "saved_index_files_bytes": saved_bytes,
        "note": "load(audit_log=False) unless stated; each load is a fresh Registry.open on the same data directory",
    }


# --- report -----------------------------------------------------------------------------------------------------


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    size = results["registered"]["total"]
    latency = results["latency"]
    rows = []
    for group in ("all", *GROUPS):
        value = latency["full"][group]["median_ms"]
        rows.append(
            {
                "target": f"check full mode p50, {group} queries, {size:,} registered, one core",
                "value_ms": value,
                "limit_ms": FULL_TARGET_MS,
                "hit": value <= FULL_TARGET_MS,
            }
        )
    value = latency["fast"]["all"]["median_ms"]
    rows.append(
        {
            "target": f"check fast mode p50, all queries, {size:,} registered (foundation target, set for 1080p)",
            "value_ms": value,
            "limit_ms": FAST_TARGET_MS,
            "hit": value <= FAST_TARGET_MS,
        }
    )
    return rows


def report(results: dict[str, Any]) -> None:
    registered = results["registered"]
    built, register_ms = results["build"], results["build"]["register_ms"]
    print(
        f"\nRegistered {registered['total']:,} ({registered['real_photos']} real photos) in {built['wall_s']} s; "
        f"register() p50 {register_ms['median_ms']} ms, p95 {register_ms['p95_ms']} ms"
    )
    latency = results["latency"]
    rows = [
        [group, latency["full"][group]["n"], *(latency[m][group][k] for m in MODES for k in ("median_ms", "p95_ms"))]
        for group in ("all", *GROUPS)
    ]
    print_table(
        "1. check() latency, ms (one thread, fresh session per call)",
        ["group", "calls", "full p50", "full p95", "fast p50", "fast p95"],
        rows,
    )
    per = results["latency_per_transform"]
    print_table(
        "   per transform, ms",
        ["query", "full p50", "full p95", "fast p50"],
        [[label, s["median_ms"], s["p95_ms"], per["fast"][label]["median_ms"]] for label, s in per["full"].items()],
    )
    for mode in MODES:
        tables = results["stages"][mode]
        names = list(dict.fromkeys(name for group in GROUPS for name in tables.get(group, {})))
        print_table(
            f"2. Stages, {mode} mode, p50 ms (p95 in brackets); calls: per check",
            ["stage", *GROUPS],
            [
                [
                    name,
                    *("{} ({})".format(*tables[g][name].values()) if name in tables[g] else "-" for g in GROUPS),
                ]
                for name in names
            ],
        )
    verify, localise = "analyse: verify (ratio test + RANSAC)", "analyse: localise"
    blank = {"p50_ms": 0.0, "mean": 0.0}
    print_table(
        "   full mode per transform, p50 ms (verify: mean calls per check in brackets)",
        ["query", "total", "query features", "descriptor votes", "verify", "localise"],
        [
            [
                label,
                table["total"]["p50_ms"],
                table.get("fingerprint: query features (ORB x2)", blank)["p50_ms"],
                table.get("candidates: descriptor votes", blank)["p50_ms"],
                f"{table.get(verify, blank)['p50_ms']} ({table.get(f'calls: {verify}', blank)['mean']})",
                table.get(localise, blank)["p50_ms"],
            ]
            for label, table in results["stages_per_transform"]["full"].items()
        ],
    )
    print_table(
        "3. What the checks found (instrumented pass)",
        ["mode / group", "queries", "verdicts", "source top", "source found", "wrong matches"],
        [
            [
                f"{mode} / {group}",
                o["queries"],
                o["verdicts"],
                o["source_is_top_match"],
                o["source_among_matches"],
                o["wrong_matches"],
            ]
            for mode in MODES
            for group, o in results["outcomes"][mode].items()
        ],
    )
    prof = results["profile"]
    print_table(
        f"4. cProfile, {prof['checks']} full checks: most own time per check",
        ["function", "calls", "own ms", "cum ms"],
        [
            [r["function"], r["calls_per_check"], r["own_ms_per_check"], r["cumulative_ms_per_check"]]
            for r in prof["by_own_time"][:15]
        ],
    )
    st = results["storage"]
    print_table(
        "5. Storage",
        ["item", "bytes"],
        [
            ["database file", st["database_bytes"]],
            ["database per registration", st["database_bytes_per_registration"]],
            [
                "matching rows per registration (registration + media_hash + local_features)",
                st["matching_rows_bytes_per_registration"],
            ],
            *([f"  {t} per registration", b] for t, b in st["per_registration_bytes_by_table"].items()),
            ["features blob, mean", st["features_blob_mean_bytes"]],
            ["content store (originals)", st["content_store_bytes"]],
            *([f"  {name} (saved index file)", b] for name, b in results["startup"]["saved_index_files_bytes"].items()),
        ],
    )
    lookup = ", ".join(f"{name} {figures['median_ms']} ms" for name, figures in st["distance_lookup_ms"].items())
    plan = st["media_hash_pdq_by_registration_plan"]
    print(f"   media_hash lookup by registration and algorithm: {plan}; p50 {lookup}")
    up = results["startup"]
    print_table(
        "6. Start-up, Registry.load()",
        ["case", "s"],
        [
            ["rebuild indexes from the database", up["load_rebuild_from_database_s"]],
            ["index.save()", up["save_indexes_s"]],
            ["load saved index files", up["load_from_saved_index_files_s"]],
            ["load saved index files + log audit", up["load_from_saved_index_files_with_log_audit_s"]],
        ],
    )
    print_table(
        "Targets",
        ["target", "value ms", "limit ms", "hit"],
        [[t["target"], t["value_ms"], t["limit_ms"], t["hit"]] for t in results["targets"]],
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 registered originals, one timed round")
    parser.add_argument("--registered", type=int, help="override the number of registered originals")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (keep reduced runs out of the default)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.registered is not None:
        cfg = replace(cfg, registered=args.registered)
    _threads.pin()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine_info(PACKAGES),
        "threads": {
            "faiss_omp": faiss.omp_get_max_threads(),
            "opencv": cv2.getNumThreads(),
            "OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"],
        },
        "config": asdict(cfg),
        "notes": list(NOTES),
    }
    with tempfile.TemporaryDirectory(prefix="provreg-check-e2e-") as tmp:
        data_dir = Path(tmp)
        registry, _ = open_registry(data_dir)
        try:
            ids, results["build"] = build(registry, cfg.registered)
            results["registered"] = {"real_photos": len(ids), "total": cfg.registered}
            probes = make_probes(ids)
            results["queries"] = {group: sum(p.group == group for p in probes) for group in GROUPS}
            print(f"timing {len(probes)} queries x {len(MODES)} modes x {cfg.rounds} rounds", file=sys.stderr)
            results |= time_checks(registry, probes, cfg)
            print("stage split and profile", file=sys.stderr)
            results |= stage_split(registry, probes)
            results["profile"] = profile(registry, probes, cfg.profiled)
            results["storage"] = storage(registry, cfg.registered)
            results["storage"]["distance_lookup_ms"] = distance_lookup(registry, sorted(ids.values()))
        finally:
            registry.engine.dispose()
        del registry
        print("start-up", file=sys.stderr)
        results["startup"] = startup(data_dir)
    results["targets"] = evaluate_targets(results)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(args.out, results)
    report(results)
    print(f"\nwrote {args.out} in {results['wall_s']} s")


if __name__ == "__main__":
    main()
