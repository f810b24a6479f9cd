"""Transparency-log benchmark: append rate, proofs and receipts on a 1M-entry log, and the start-up audit.

Everything runs on one thread against SQLite in a temporary directory, with the registry's default engine
(WAL, synchronous=NORMAL). Log entries are registration entries exactly as `service.register` logs them
(about 1 KB of RFC 8785 JSON: a publisher-signed statement with content SHA-256 and metadata, the base64
signature and public key). Times are reported, never asserted.

    python bench/transparency.py [--quick]

Prints a table and writes every figure to bench/results/transparency.json.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import _threads
from _common import interleaved, machine_info, print_table, rss_mb, summarize, write_json
from _signer import Signer
from PIL import Image
from sqlalchemy import Select, and_, bindparam, event, func, insert, or_, text
from sqlmodel import Session, col, select

from api.client import LocalTransport, new_statement, sign_statement
from fingerprint.kinds.image import fingerprint_image
from registry import writes
from registry.log import fingerprints, merkle
from registry.log import store as log
from registry.log.audit import audit
from registry.log.receipts import receipt_json, verify_receipt
from registry.models import LogEntry, LogNode, Registration, UsedNonce
from registry.runtime import Registry
from registry.settings import Settings
from registry.statements import canonical_json, format_timestamp

RESULTS = Path(__file__).resolve().parent / "results" / "transparency.json"
PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data"
SEED = 20240607
APPEND_BATCHES = (1, 10, 100, 1000)
PACKAGES = ("sqlalchemy", "sqlmodel", "cryptography", "rfc8785", "pillow", "opencv-python-headless", "faiss-cpu")
CAPTION = (
    "Staff photograph released for syndication. The caption, credit and capture details are part of the "
    "signed statement, as a newsroom publishing system sends them with every original it registers."
)

NOTES = (
    "One thread; SQLite in a temporary directory with the registry's own engine (WAL, synchronous=NORMAL). "
    "Medians are p50; every time is wall-clock milliseconds unless marked s.",
    "Append: each sample is one write_transaction that calls writes.record (store.append of the batch plus "
    "one signed checkpoint) and commits; batch sizes run interleaved, one transaction each per round, so log "
    "growth and background load fall on all alike. entries_per_s = batch / p50 transaction time.",
    "Build: the big log is built through the same write_transaction + record path, in batches of build_batch "
    "registration entries; each transaction also inserts the matching registration rows (one core INSERT, no "
    "fingerprints or media hashes), so the start-up audit sees a consistent store and does its full state check. "
    "Generating and signing the statements (client work) is timed apart and excluded from build_s.",
    "Proofs use random indexes and sizes (seeded) against the built log, through registry.log.store, which "
    "reads nodes with registry.log.store.DbNodes. point_lookup is the same merkle function reading the same "
    "nodes with one primary-key lookup per node: it computes the reference roots for consistency checks and "
    "shows what the node read costs when it uses the index.",
    "Audit: audit() runs in a fresh process (as at server start-up) on the built log; peak memory is that "
    "process's ru_maxrss, baseline its RSS just before the audit.",
)


@dataclass(frozen=True)
class Config:
    log_size: int
    build_batch: int
    append_rounds: int  # one transaction per batch size per round, on a fresh log
    append_rounds_at_size: int  # the same, on the built log
    registrations: int
    proof_samples: int
    verify_repeats: int  # verify_inclusion calls timed together per proof (one takes microseconds)
    receipt_samples: int


FULL = Config(1_000_000, 10_000, 20, 5, 50, 100, 20, 50)
QUICK = Config(100_000, 10_000, 8, 3, 20, 100, 10, 30)


# --- publishers and entries --------------------------------------------------------------------------------------


def desk_statement(publisher: Signer, n: int, sha256: str, size: int, now: datetime) -> dict[str, Any]:
    """A registration statement with the metadata a publishing system sends."""
    return new_statement(
        {
            "type": "registration",
            "publisher_id": publisher.publisher_id,
            "key_id": publisher.key_id,
            "content": {"sha256": sha256, "media_type": "image/jpeg", "size": size},
            "metadata": {
                "title": f"Harbour at dawn, frame {n}",
                "creator": "Staff photographer",
                "credit": "Benchmark Photo Desk",
                "caption": CAPTION,
                "captured_at": format_timestamp(now),
            },
            "created_at": format_timestamp(now),
        }
    )


def synthetic_registration(publisher: Signer, n: int, now: datetime) -> tuple[log.Event, dict[str, Any]]:
    """Registration `n` of unique synthetic content: its log event exactly as `service.register` builds it (for
    content without fingerprint rows), and its registration row (less the log index, known once appended)."""
    sha256 = hashlib.sha256(f"bench-content-{n}".encode()).hexdigest()
    size = 150_000 + n % 100_000
    request = sign_statement(publisher.key, desk_statement(publisher, n, sha256, size, now))
    statement, signature = request.statement, request.signature
    registration_id = writes.new_id("reg")
    row = {
        "id": registration_id,
        "publisher_id": publisher.publisher_id,
        "key_id": statement["key_id"],
        "statement": canonical_json(statement).decode(),
        "signature": signature,
        "content_sha256": sha256,
        "media_type": "image/jpeg",
        "size": size,
        "kind": "image",
        "facts": '{"height": 3000, "trim_box": [0, 0, 4000, 3000], "width": 4000}',
        "created_at": now,
    }
    event = log.Event(
        "registration",
        registration_id,
        {
            "registration_id": registration_id,
            "publisher_id": publisher.publisher_id,
            "key_id": statement["key_id"],
            "public_key": writes.b64(publisher.public_key),
            "statement": statement,
            "signature": signature,
            fingerprints.FIELD: fingerprints.commitment([Registration(**row)]),  # its facts; it has no other rows
        },
    )
    return event, row


def sqlite_settings(registry: Registry) -> dict[str, Any]:
    with registry.engine.connect() as connection:
        journal = connection.execute(text("PRAGMA journal_mode")).scalar()
        synchronous = connection.execute(text("PRAGMA synchronous")).scalar()
    return {"journal_mode": journal, "synchronous": ("OFF", "NORMAL", "FULL", "EXTRA")[synchronous]}


# --- 1. append rate ----------------------------------------------------------------------------------------------


def bench_append(registry: Registry, publisher: Signer, rounds: int, warmup: int) -> dict[str, Any]:
    """Transactions of 1, 10, 100 and 1000 events, interleaved; each commits one batch and one checkpoint."""
    now = datetime.now(UTC)
    with registry.session() as session:
        size_before = log.size(session)
    counter = itertools.count(size_before)
    queues: dict[str, list[list[log.Event]]] = {
        str(batch): [
            [synthetic_registration(publisher, next(counter), now)[0] for _ in range(batch)]
            for _ in range(warmup + rounds)
        ]
        for batch in APPEND_BATCHES
    }

    def transaction(events: list[log.Event]) -> None:
        with registry.session() as session, writes.write_transaction(session, registry):
            writes.record(session, registry, events, datetime.now(UTC))

    cases: dict[str, Callable[[int], object]] = {
        name: (lambda _, queue=queue: transaction(queue.pop())) for name, queue in queues.items()
    }
    samples = interleaved(cases, [0], rounds=rounds, warmup=warmup)
    with registry.session() as session:
        size_after = log.size(session)
    return {
        "log_size_before": size_before,
        "log_size_after": size_after,
        "batches": {
            name: {
                **summarize(values),
                "entries_per_s": round(int(name) / (statistics.median(values) / 1000)),
                "entries_per_s_overall": round(int(name) * len(values) / (sum(values) / 1000)),
            }
            for name, values in samples.items()
        },
    }


# --- 1b. full registration path ---------------------------------------------------------------------------------


def small_jpegs(count: int) -> list[bytes]:
    """`count` distinct small JPEGs (about 480x320): crops of the test photos, re-encoded at quality 85."""
    photos = [Image.open(path).convert("RGB") for path in sorted(PHOTOS.glob("*.jpg"))]
    blobs = []
    for n in range(count):
        photo = photos[n % len(photos)]
        shift = 2 * (n // len(photos))
        buffer = io.BytesIO()
        photo.crop((shift, shift, photo.width - shift, photo.height)).save(buffer, "JPEG", quality=85)
        blobs.append(buffer.getvalue())
    return blobs


def bench_register(registry: Registry, publisher: Signer, count: int) -> dict[str, Any]:
    """`service.register` end to end on small JPEGs, next to its decode+hash step alone on the same bytes."""
    blobs = small_jpegs(count + 1)  # one to warm up
    max_pixels = registry.settings.max_pixels
    statements = [
        desk_statement(publisher, n, hashlib.sha256(blob).hexdigest(), len(blob), datetime.now(UTC))
        for n, blob in enumerate(blobs)
    ]
    signed = [sign_statement(publisher.key, statement) for statement in statements]
    transport = LocalTransport(registry)

    def register(n: int) -> None:
        transport.register(signed[n], blobs[n])

    register(count)
    cases: dict[str, Callable[[int], object]] = {
        "register": register,
        "of_which_fingerprint": lambda n: fingerprint_image(blobs[n], max_pixels=max_pixels),
    }
    samples = interleaved(cases, list(range(count)), rounds=1, warmup=0)
    stats = {name: summarize(values) for name, values in samples.items()}
    rest = [r - f for r, f in zip(samples["register"], samples["of_which_fingerprint"], strict=True)]
    return {
        "images": count,
        "jpeg_bytes_median": int(statistics.median(len(blob) for blob in blobs)),
        "latency": stats,
        "registrations_per_s": round(1000 / stats["register"]["median_ms"], 1),
        "register_minus_fingerprint": summarize(rest),
        "fingerprint_share_of_register": round(
            statistics.median(f / r for r, f in zip(samples["register"], samples["of_which_fingerprint"], strict=True)),
            3,
        ),
    }


# --- 2. a large log ---------------------------------------------------------------------------------------------


def build_log(registry: Registry, publisher: Signer, cfg: Config) -> dict[str, Any]:
    """Fill the log to `cfg.log_size` entries through write_transaction + record, one batch per transaction,
    with the registration and used-nonce rows of every entry inserted in the same transaction."""
    generate_s = rows_s = 0.0
    transactions: list[tuple[int, float]] = []  # (entries, seconds)
    with registry.session() as session:
        size = log.size(session)
        while size < cfg.log_size:
            count = min(cfg.build_batch, cfg.log_size - size)
            now = datetime.now(UTC)
            start = time.perf_counter()
            pairs = [synthetic_registration(publisher, n, now) for n in range(size, size + count)]
            generate_s += time.perf_counter() - start
            start = time.perf_counter()
            with writes.write_transaction(session, registry):
                entries = writes.record(session, registry, [event for event, _ in pairs], now)
                rows_start = time.perf_counter()
                session.connection().execute(
                    insert(Registration),
                    [{**row, "log_index": entry["log_index"]} for (_, row), entry in zip(pairs, entries, strict=True)],
                )
                session.connection().execute(  # each statement's nonce is spent, as `signed_write` spends it
                    insert(UsedNonce),
                    [
                        {"publisher_id": publisher.publisher_id, "nonce": event.body["statement"]["nonce"]}
                        for event, _ in pairs
                    ],
                )
                rows_s += time.perf_counter() - rows_start
            transactions.append((count, time.perf_counter() - start))
            size += count
        entry_bytes = session.exec(select(func.avg(func.length(LogEntry.entry)))).one()
    database = registry.settings.data_dir / "registry.sqlite3"
    build_s = sum(seconds for _, seconds in transactions)
    return {
        "entries": size,
        "batch": cfg.build_batch,
        "transactions": len(transactions),
        "entry_bytes_mean": round(entry_bytes),
        "build_s": round(build_s, 1),
        "of_which_registration_rows_s": round(rows_s, 1),
        "entries_per_s": round(size / build_s),
        "entries_per_s_first_5_transactions": _rate(transactions[:5]),
        "entries_per_s_last_5_transactions": _rate(transactions[-5:]),
        "statement_generation_and_signing_s_excluded": round(generate_s, 1),
        "database_mb": round(sum(path.stat().st_size for path in database.parent.glob(database.name + "*")) / 2**20),
    }


def _rate(transactions: Sequence[tuple[int, float]]) -> int:
    return round(sum(count for count, _ in transactions) / sum(seconds for _, seconds in transactions))


@lru_cache(maxsize=256)
def _point_lookup_query(count: int) -> Select[tuple[int, int, bytes]]:
    """SELECT of `count` nodes by primary key, one (level, position) pair of bound parameters each; cached per
    count, so SQLAlchemy builds and compiles it once."""
    return select(LogNode.level, LogNode.position, LogNode.hash).where(
        or_(
            *(
                and_(col(LogNode.level) == bindparam(f"l{n}"), col(LogNode.position) == bindparam(f"p{n}"))
                for n in range(count)
            )
        )
    )


class PointLookupNodes:
    """`merkle.NodeReader` with one primary-key lookup per node (index-friendly on SQLite and PostgreSQL alike):
    the yardstick for the library's node read, and the source of reference roots."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_nodes(self, coords: Sequence[merkle.Coord]) -> list[bytes]:
        parameters: dict[str, int] = {}
        for n, (level, position) in enumerate(coords):
            parameters[f"l{n}"], parameters[f"p{n}"] = level, position
        rows = self.session.connection().execute(_point_lookup_query(len(coords)), parameters)
        found = {(level, position): digest for level, position, digest in rows}
        return [found[coord] for coord in coords]


def node_query_plans(registry: Registry, session: Session, index: int, size: int) -> dict[str, dict[str, int]]:
    """SQLite's plan for the node query each reader sends for one inclusion proof: its steps on log_node, counted
    (SCAN = the whole table is read; SEARCH = an index lookup)."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM log_node" in statement:
            sent.append((statement, parameters))

    plans: dict[str, dict[str, int]] = {}
    event.listen(registry.engine, "before_cursor_execute", capture)
    try:
        for name, run in (
            ("library", lambda: log.inclusion_proof(session, index, size)),
            ("point_lookup", lambda: merkle.inclusion_proof(index, size, PointLookupNodes(session))),
        ):
            sent.clear()
            run()
            statement, parameters = sent[-1]
            rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            plans[name] = dict(Counter(row[-1] for row in rows if "log_node" in row[-1]))
    finally:
        event.remove(registry.engine, "before_cursor_execute", capture)
    return plans


def bench_inclusion(session: Session, cfg: Config, indexes: Sequence[int]) -> dict[str, Any]:
    """Inclusion proofs from the database against the latest checkpoint, and their verification."""
    checkpoint = log.latest_checkpoint(session)
    size = checkpoint.size
    for index in indexes[:3]:  # warm the page cache and statement caches
        log.inclusion_proof(session, index, size)
    proofs: dict[int, list[bytes]] = {}

    def library(index: int) -> None:
        proofs[index] = log.inclusion_proof(session, index, size)

    def point_lookup(index: int) -> None:
        if merkle.inclusion_proof(index, size, PointLookupNodes(session)) != proofs[index]:
            raise AssertionError(f"the two node readers disagree on the proof for {index}")

    generate = interleaved({"library": library, "point_lookup": point_lookup}, indexes, rounds=1, warmup=0)
    leaves = dict(
        session.exec(select(LogEntry.log_index, LogEntry.leaf_hash).where(col(LogEntry.log_index).in_(indexes))).all()
    )
    verify_ms = []
    for index in indexes:
        start = time.perf_counter_ns()
        for _ in range(cfg.verify_repeats):
            merkle.verify_inclusion(leaves[index], index, size, proofs[index], checkpoint.root)
        verify_ms.append((time.perf_counter_ns() - start) / 1e6 / cfg.verify_repeats)
    return {
        "tree_size": size,
        "proof_hashes_median": statistics.median(len(proof) for proof in proofs.values()),
        "generate": {name: summarize(values) for name, values in generate.items()},
        "verify": summarize(verify_ms),
    }


def bench_consistency(session: Session, cfg: Config, rng: random.Random) -> dict[str, Any]:
    """Consistency proofs between random sizes, verified against roots computed apart from the proof."""
    size = log.size(session)
    reference = PointLookupNodes(session)
    samples: dict[str, list[float]] = {"generate": [], "verify": []}
    for _ in range(cfg.proof_samples):
        first = rng.randrange(1, size)
        second = rng.randrange(first + 1, size + 1)
        roots = merkle.root(first, reference), merkle.root(second, reference)
        start = time.perf_counter_ns()
        proof = log.consistency_proof(session, first, second)
        middle = time.perf_counter_ns()
        merkle.verify_consistency(first, second, proof, *roots)
        end = time.perf_counter_ns()
        samples["generate"].append((middle - start) / 1e6)
        samples["verify"].append((end - middle) / 1e6)
    return {name: summarize(values) for name, values in samples.items()}


def bench_receipts(registry: Registry, session: Session, cfg: Config, rng: random.Random) -> dict[str, Any]:
    """`log.receipt` as the API serves it (JSON text) and `verify_receipt` on it, as a client does offline."""
    verifiers = registry.keyring.verifiers
    samples: dict[str, list[float]] = {"receipt": [], "verify_receipt": [], "total": []}
    for index in rng.sample(range(log.size(session)), cfg.receipt_samples):
        start = time.perf_counter_ns()
        receipt = receipt_json(log.receipt(session, index))
        middle = time.perf_counter_ns()
        verified = verify_receipt(receipt, verifiers)
        end = time.perf_counter_ns()
        if verified.log_index != index:
            raise AssertionError(f"the receipt for entry {index} verified as entry {verified.log_index}")
        samples["receipt"].append((middle - start) / 1e6)
        samples["verify_receipt"].append((end - middle) / 1e6)
        samples["total"].append((end - start) / 1e6)
    return {"receipt_bytes": len(receipt), **{name: summarize(values) for name, values in samples.items()}}


def bench_proofs(registry: Registry, cfg: Config, rng: random.Random) -> dict[str, Any]:
    with registry.session() as session:
        indexes = [rng.randrange(log.size(session)) for _ in range(cfg.proof_samples)]
        return {
            "inclusion": bench_inclusion(session, cfg, indexes),
            "consistency": bench_consistency(session, cfg, rng),
            "receipt": bench_receipts(registry, session, cfg, rng),
            "node_query_plans": node_query_plans(registry, session, indexes[0], log.size(session)),
        }


def audit_at_startup(data_dir: str) -> dict[str, Any]:
    """Open the registry's store and run the full audit, as a server does at start-up (in a fresh process)."""
    registry = Registry.open(Settings(_env_file=None, data_dir=Path(data_dir), database_url=None))
    try:
        baseline_mb = rss_mb()
        with registry.session() as session:
            start = time.perf_counter()
            report = audit(session, registry.keyring)
            audit_s = time.perf_counter() - start
    finally:
        registry.engine.dispose()
    return {
        "audit_s": round(audit_s, 1),
        "ok": report.ok,
        "size": report.size,
        "checkpoints": report.checkpoints,
        "problems": report.problems[:3],
        "baseline_rss_mb": round(baseline_mb),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def bench_audit(registry: Registry) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(audit_at_startup, str(registry.settings.data_dir)).result()


# --- report -----------------------------------------------------------------------------------------------------


def target(name: str, value: float, limit: float, unit: str, *, at_least: bool = False) -> dict[str, Any]:
    return {
        "target": name,
        "value": value,
        "limit": f"{'>=' if at_least else '<='} {limit:g} {unit}",
        "hit": value >= limit if at_least else value <= limit,
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    label = f"{results['build']['entries']:,}"
    targets = [
        target(
            f"append, {batch}/transaction, {where}",
            results[key]["batches"][str(batch)]["entries_per_s"],
            1000,
            "entries/s",
            at_least=True,
        )
        for key, where in (("append", "fresh log"), ("append_at_size", f"log of {label}"))
        for batch in APPEND_BATCHES
        if batch > 1  # the target is for batched appends; one event per transaction is reported, not targeted
    ]
    inclusion = results["proofs"]["inclusion"]["generate"]["library"]
    targets.append(target(f"inclusion proof p50 at {label}", inclusion["median_ms"], 1.0, "ms"))
    targets.append(target(f"inclusion proof p95 at {label}", inclusion["p95_ms"], 1.0, "ms"))
    return targets


def report(results: dict[str, Any]) -> None:
    for key, title in (("append", "fresh log"), ("append_at_size", "built log")):
        figures = results[key]
        print_table(
            f"1. Append via write_transaction + record, {title} "
            f"(size {figures['log_size_before']:,} -> {figures['log_size_after']:,})",
            ["events/transaction", "p50 ms", "p95 ms", "entries/s (p50)", "entries/s (overall)"],
            [
                [batch, s["median_ms"], s["p95_ms"], s["entries_per_s"], s["entries_per_s_overall"]]
                for batch, s in figures["batches"].items()
            ],
        )
    registration = results["register"]
    rest = registration["register_minus_fingerprint"]
    print_table(
        f"1b. service.register, {registration['images']} small JPEGs (median {registration['jpeg_bytes_median']:,} B)",
        ["step", "p50 ms", "p95 ms"],
        [
            *([name, s["median_ms"], s["p95_ms"]] for name, s in registration["latency"].items()),
            ["register minus fingerprint", rest["median_ms"], rest["p95_ms"]],
        ],
    )
    print(
        f"   {registration['registrations_per_s']} registrations/s; decode+hash is "
        f"{registration['fingerprint_share_of_register']:.0%} of a registration (median)"
    )
    build = results["build"]
    print(
        f"\n2. Built {build['entries']:,} entries (mean {build['entry_bytes_mean']} B) in {build['build_s']} s: "
        f"{build['transactions']} transactions of {build['batch']:,}, {build['entries_per_s']} entries/s (first 5 "
        f"transactions {build['entries_per_s_first_5_transactions']}/s, last 5 "
        f"{build['entries_per_s_last_5_transactions']}/s), registration rows {build['of_which_registration_rows_s']} s "
        f"of it; database {build['database_mb']} MB"
    )
    proofs = results["proofs"]
    inclusion, consistency, receipt = proofs["inclusion"], proofs["consistency"], proofs["receipt"]
    rows = [[f"inclusion proof ({name})", s["median_ms"], s["p95_ms"]] for name, s in inclusion["generate"].items()]
    rows.append(["verify_inclusion", inclusion["verify"]["median_ms"], inclusion["verify"]["p95_ms"]])
    rows += [[f"consistency {name}", s["median_ms"], s["p95_ms"]] for name, s in consistency.items()]
    rows += [[name, receipt[name]["median_ms"], receipt[name]["p95_ms"]] for name in ("receipt", "verify_receipt")]
    rows.append(["receipt + verify_receipt", receipt["total"]["median_ms"], receipt["total"]["p95_ms"]])
    print_table(f"   Proofs at tree size {inclusion['tree_size']:,}", ["operation", "p50 ms", "p95 ms"], rows)
    for name, plan in proofs["node_query_plans"].items():
        print(f"   node query plan, {name}: " + "; ".join(f"{count} x {step}" for step, count in plan.items()))
    figures = results["audit"]
    print(
        f"   audit(): {figures['audit_s']} s, ok={figures['ok']}, {figures['size']:,} entries, "
        f"{figures['checkpoints']} checkpoints, peak RSS {figures['peak_rss_mb']:,} MB "
        f"(baseline {figures['baseline_rss_mb']} MB)"
    )
    print("\nNotes")
    for note in results["notes"]:
        print(f"  - {note}")
    print_table(
        "Targets",
        ["target", "value", "limit", "hit"],
        [[t["target"], t["value"], t["limit"], t["hit"]] for t in results["targets"]],
    )


@contextmanager
def bench_registry(data_dir: Path) -> Iterator[tuple[Registry, Signer]]:
    """A fresh registry in `data_dir` with one verified publisher; its engine is closed on the way out."""
    registry = Registry.open(Settings(_env_file=None, data_dir=data_dir, database_url=None))
    try:
        registry.load()
        yield registry, Signer.create(registry, "Benchmark Photo Desk")
    finally:
        registry.engine.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 100k-entry log and fewer samples")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    _threads.pin()
    started = time.perf_counter()
    rng = random.Random(SEED)
    results: dict[str, Any] = {
        "machine": {**machine_info(PACKAGES), "sqlite": sqlite3.sqlite_version},
        "config": asdict(cfg),
        "notes": list(NOTES),
    }
    with tempfile.TemporaryDirectory(prefix="provreg-bench-") as tmp:
        with bench_registry(Path(tmp) / "append") as (registry, publisher):
            results["sqlite_settings"] = sqlite_settings(registry)
            results["append"] = bench_append(registry, publisher, cfg.append_rounds, warmup=1)
        with bench_registry(Path(tmp) / "register") as (registry, publisher):
            results["register"] = bench_register(registry, publisher, cfg.registrations)
        with bench_registry(Path(tmp) / "log") as (registry, publisher):
            results["build"] = build_log(registry, publisher, cfg)
            results["proofs"] = bench_proofs(registry, cfg, rng)
            results["audit"] = bench_audit(registry)
            results["append_at_size"] = bench_append(registry, publisher, cfg.append_rounds_at_size, warmup=0)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["targets"] = evaluate_targets(results)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(RESULTS, results)
    report(results)
    print(f"\nwrote {RESULTS} in {results['wall_s']} s")


if __name__ == "__main__":
    main()
