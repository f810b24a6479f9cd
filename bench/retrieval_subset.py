"""How many descriptors per original the vote index needs: memory per original against retrieval recall.

    python bench/retrieval_subset.py [--sizes 48,64,96,128,256] [--out FILE]

The vote stage only (no PDQ, no verification): the derivative benchmark's 17 real photos padded with synthetic
originals to 2,000, its benign, edit and distractor queries plus AugLy's overlay_onto_screenshot (photos shown small
inside a page). For each retrieval subset size it builds a `DescriptorIndex` holding that many descriptors per
original, forced into the inverted file as at scale, and reports the share of queries whose true original is among
the candidates sent to verification, the candidates per query, and the index's bytes per original. Verification
always reads the full stored set, so a query found here is verified exactly as before. One thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _threads
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.derivatives import MAX_PIXELS, SYNTHETIC_ID
from bench.derivatives_augly import augly_queries
from bench.derivatives_corpus import DISTRACTORS, ORIGINALS, benign_queries, edit_queries, load_photos
from bench.derivatives_synthetic import synthetic_features
from fingerprint.descriptor_index import NLIST, DescriptorIndex
from fingerprint.features import LocalFeatures, extract_features, extract_query_features
from fingerprint.media import WORKING_SIDE, load_image

RESULTS = Path(__file__).resolve().parent / "results" / "retrieval_subset.json"
REGISTERED = 2_000
MIN_VOTES = (8, 6, 4)


def _recall(found: list[bool]) -> float | None:
    return round(float(np.mean(found)), 4) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="48,64,96,128,256", help="descriptors per original to try")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    _threads.pin()
    started = time.perf_counter()

    photos, strangers = load_photos(ORIGINALS), load_photos(DISTRACTORS)
    references: list[tuple[int, LocalFeatures]] = []
    ids = {}
    for number, photo in enumerate(photos):
        image = load_image(photo.data, max_pixels=MAX_PIXELS, max_side=WORKING_SIDE)
        references.append((number, extract_features(image)))
        ids[photo.name] = number
    synthetic = synthetic_features(REGISTERED - len(references), seed=1000)
    references += [(SYNTHETIC_ID + i, f) for i, f in enumerate(synthetic)]
    print(f"{len(references)} originals", file=sys.stderr)

    queries = benign_queries(photos, "benign", 1) + benign_queries(strangers, "distractor", 2)
    queries += edit_queries(photos, strangers, 3)
    queries += augly_queries(photos, strangers, frozenset({"overlay_onto_screenshot"}))[0]
    features = [
        extract_query_features(load_image(q.data, max_pixels=MAX_PIXELS, max_side=WORKING_SIDE)) for q in queries
    ]
    print(f"{len(queries)} queries", file=sys.stderr)

    rows = []
    for size in sizes:
        index = DescriptorIndex(per_reference=size, train_at=NLIST)
        index.add_many(references)
        row: dict[str, object] = {
            "per_original": size,
            "index_bytes_per_original": round(len(index.to_bytes()) / index.references, 1),
        }
        # one search at the lowest threshold, filtered for the higher ones (a set's top 10 above a threshold can
        # differ only when an original's best set is not the set that ranked it: rare, and the same for every size)
        searched = [index.search(f, min_votes=min(MIN_VOTES)) for f in features]
        for min_votes in MIN_VOTES:
            found: dict[str, list[bool]] = {"benign": [], "edit": [], "overlay": []}
            candidates = []
            for query, all_votes in zip(queries, searched, strict=True):
                votes = [v for v in all_votes if v.votes >= min_votes]
                candidates.append(len(votes))
                if query.kind == "distractor":
                    continue
                group = "overlay" if query.transform == "overlay_onto_screenshot" else query.kind
                found[group].append(any(v.key == ids[query.source] for v in votes))
            row[f"min_votes_{min_votes}"] = {
                **{f"{group}_retrieval_recall": _recall(hits) for group, hits in found.items()},
                "candidates_per_query": round(float(np.mean(candidates)), 2),
            }
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)
    results = {
        "registered": len(references),
        "queries": len(queries),
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
