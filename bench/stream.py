"""A platform's upload stream: 90% unregistered, 10% derivatives, checked by us and by threatexchange's PDQ pipeline.

    python bench/stream.py [--registered N] [--queries N] [--out FILE]

A platform checks every upload and almost none match, so the figure that decides its cost is checks per second on
a stream that is mostly unregistered. The registry holds N originals (default 10,000), built as in
bench/derivatives.py: the 17 real photos from scikit-image, scikit-learn and matplotlib, the rest synthetic fillers
(ORB descriptors of 2,000 procedural pictures, replicated with 12% of their bits flipped;
bench/derivatives_synthetic.py).
The stream (default 300 uploads, fixed shuffled order) is:

- 10% derivatives: an even sample of bench/derivatives.py's benign and edited queries of the registered photos;
- 90% unregistered: the 23 benign transforms of the 6 never-registered photos (including the stereo twin of a
  registered one), then procedural pictures of seeds no original was made from, re-encoded as JPEG.

Each upload goes through our full check (`BenchRegistry.check`: decode, 8 dihedral PDQ hashes and their search,
ORB upright and mirrored plus insets, descriptor votes, `compare.analyse_image`, non-exhaustive) and through
threatexchange's pipeline (`pdq_from_bytes` + `PDQIndex.query` at radius 31, what Hasher-Matcher-Actioner runs),
back to back, in alternating order, on one thread. Times are the thread's CPU time (`time.thread_time`): on this
shared 2-core machine wall time mostly measures the other tenants; wall time is reported beside it. The peer's index
holds the real photos' PDQ hashes padded with seeded random codes to the same N (our fillers have no PDQ hashes
either). Writes bench/results/stream.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _threads
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_bytes
from threatexchange.signal_type.pdq.pdq_index import PDQIndex

from bench._common import machine_info, percentile, print_table, ratio, write_json
from bench.derivatives import SYNTHETIC_SEED, BenchRegistry, fill
from bench.derivatives_corpus import DISTRACTORS, ORIGINALS, Query, benign_queries, edit_queries, encode, load_photos
from bench.derivatives_synthetic import procedural_image, synthetic_features

RESULTS = Path(__file__).resolve().parent / "results" / "stream.json"
DERIVATIVE_SHARE = 0.1
# Procedural unregistered uploads start far from the fillers' seeds (SYNTHETIC_SEED + up to 2,000).
_UNREGISTERED_SEED = 90_000
PACKAGES = ("numpy", "faiss-cpu", "opencv-python-headless", "pdqhash", "threatexchange")


def stream_queries(total: int, photos: list, strangers: list) -> list[Query]:
    """`total` uploads, DERIVATIVE_SHARE of them derivatives of registered photos, in a fixed shuffled order."""
    wanted = round(total * DERIVATIVE_SHARE)
    registered = benign_queries(photos, "benign", 1) + edit_queries(photos, strangers, 3)
    derivatives = registered[:: max(1, len(registered) // wanted)][:wanted]
    unregistered = benign_queries(strangers, "distractor", 2)[: total - wanted]
    for seed in range(_UNREGISTERED_SEED, _UNREGISTERED_SEED + total - wanted - len(unregistered)):
        data = encode(procedural_image(seed), 80)
        unregistered.append(Query(f"procedural/{seed}", "", "procedural", "distractor", data))
    queries = derivatives + unregistered
    order = np.random.default_rng(0).permutation(len(queries))
    return [queries[i] for i in order]


def peer_index(registry: BenchRegistry, total: int) -> PDQIndex:
    """threatexchange's index over the real originals' PDQ hashes, padded with seeded random codes to `total`."""
    entries = [(pdq_from_bytes(data)[0], f"{number:08d}") for number, data in enumerate(registry.data)]
    pad = np.random.default_rng(7).integers(0, 256, (total - len(entries), 32), dtype=np.uint8)
    entries += [(code.tobytes().hex(), f"pad-{i}") for i, code in enumerate(pad)]
    return PDQIndex.build(entries)


def summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(float(np.mean(ms)), 2),
        "checks_per_s": round(1000 * len(ms) / sum(ms), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registered", type=int, default=10_000, help="originals in the registry")
    parser.add_argument("--queries", type=int, default=300, help="uploads in the stream")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    _threads.pin()
    started = time.perf_counter()

    photos, strangers = load_photos(ORIGINALS), load_photos(DISTRACTORS)
    registry = BenchRegistry()
    ids = {photo.name: registry.register(photo.data) for photo in photos}
    print(f"building {args.registered:,} originals' descriptors", file=sys.stderr)
    fill(registry, args.registered, list(synthetic_features(min(2_000, args.registered), seed=SYNTHETIC_SEED)))
    peer = peer_index(registry, args.registered)
    queries = stream_queries(args.queries, photos, strangers)

    ours: list[float] = []
    theirs: list[float] = []
    walls: dict[str, list[float]] = {"ours": [], "threatexchange": []}
    rows = []
    for i, query in enumerate(queries):
        expected = ids.get(query.source)

        def run_ours(query: Query = query) -> list[str]:
            return [match.registration_id for match in registry.check(query.data)[0]]

        def run_theirs(query: Query = query) -> list[str]:
            return [match.metadata for match in peer.query(pdq_from_bytes(query.data)[0])]

        timed = {}
        for name, run in (("ours", run_ours), ("threatexchange", run_theirs))[:: 1 if i % 2 == 0 else -1]:
            wall, cpu = time.perf_counter(), time.thread_time()
            found = run()
            timed[name] = (1000 * (time.thread_time() - cpu), 1000 * (time.perf_counter() - wall), found)
        ours.append(timed["ours"][0])
        theirs.append(timed["threatexchange"][0])
        walls["ours"].append(timed["ours"][1])
        walls["threatexchange"].append(timed["threatexchange"][1])
        rows.append((query, expected, timed["ours"][2], timed["threatexchange"][2]))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(queries)}", file=sys.stderr)

    derivative = [expected is not None for _, expected, _, _ in rows]
    ours_ms, theirs_ms = np.array(ours), np.array(theirs)
    mask = np.array(derivative)

    def found(column: int) -> int:
        return sum(1 for row in rows if row[1] is not None and row[1] in row[column])

    def false(column: int) -> list[str]:
        return sorted(f"{row[0].name} -> {match}" for row in rows for match in row[column] if match != row[1])

    results = {
        "machine": machine_info(PACKAGES),
        "registered": args.registered,
        "stream": {"uploads": len(rows), "derivatives": int(mask.sum()), "unregistered": int((~mask).sum())},
        "ours": {
            "all": summary(ours),
            "unregistered": summary(list(ours_ms[~mask])),
            "derivatives": summary(list(ours_ms[mask])),
            "derivatives_found": found(2),
            "false_matches": false(2),
            "wall_all": summary(walls["ours"]),
        },
        "threatexchange": {
            "all": summary(theirs),
            "unregistered": summary(list(theirs_ms[~mask])),
            "derivatives": summary(list(theirs_ms[mask])),
            "derivatives_found": found(3),
            "false_matches": false(3),
            "wall_all": summary(walls["threatexchange"]),
        },
        # checks/s ours over theirs: the inverse of the time ratio
        "checks_per_s_ratio_ours_over_threatexchange": ratio(float(theirs_ms.mean()), float(ours_ms.mean())),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(args.out, results)
    print_table(
        f"Stream of {len(rows)} uploads ({int(mask.sum())} derivatives) at {args.registered:,} originals, "
        "one thread (CPU time)",
        ("pipeline", "checks/s", "p50 ms", "p95 ms", "unregistered p50 ms", "derivatives found", "false matches"),
        [
            (
                name,
                results[name]["all"]["checks_per_s"],
                results[name]["all"]["p50_ms"],
                results[name]["all"]["p95_ms"],
                results[name]["unregistered"]["p50_ms"],
                f"{results[name]['derivatives_found']}/{int(mask.sum())}",
                len(results[name]["false_matches"]),
            )
            for name in ("ours", "threatexchange")
        ],
    )
    print(f"\nchecks/s ratio ours / threatexchange: {results['checks_per_s_ratio_ours_over_threatexchange']}")


if __name__ == "__main__":
    main()
