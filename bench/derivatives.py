"""Benchmark of derivative analysis: match crops, rotations, screenshots and overlays; copy or altered; where.

    python bench/derivatives.py [--quick] [--augly NAME,...] [--out FILE]

Registers real photos that ship in PyPI packages (scikit-image, scikit-learn, matplotlib), pads the registry with
synthetic originals (bench/derivatives_synthetic.py) to 10,000, and checks every query the way the registry will:
decode at WORKING_SIDE, PDQ (8 dihedral hashes) against canonical and extra crop hashes, descriptor votes, then
`compare.analyse_image`. One thread throughout. Writes bench/results/derivatives.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import _threads
import cv2
import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.derivatives_augly import augly_queries
from bench.derivatives_corpus import DISTRACTORS, ORIGINALS, Query, benign_queries, edit_queries, load_photos
from bench.derivatives_synthetic import mutated, procedural_image, synthetic_features
from fingerprint.algorithms import PDQ_VARIANTS
from fingerprint.algorithms.pdq import Pdq
from fingerprint.candidates import HashEvidence, MatchCandidate
from fingerprint.compare import PDQ, DerivativeMatch, analyse_image
from fingerprint.descriptor_index import INDEXED_PER_REFERENCE, DescriptorIndex
from fingerprint.features import LocalFeatures, extract_features, extract_query_features
from fingerprint.geometry import Rect
from fingerprint.index import BinaryIndex
from fingerprint.kinds.image import hash_pixels
from fingerprint.media import WORKING_SIDE, CanonicalImage, load_image
from registry.settings import Settings

MAX_PIXELS = 50_000_000
SYNTHETIC_ID = 1_000_000
SYNTHETIC_SEED = 1000
RESULTS = Path(__file__).resolve().parent / "results" / "derivatives.json"
# The registry's default match policy: PDQ hits within `strong` are accepted without keypoints, hits up to `weak`
# are candidates that need keypoints, and queries below `min_quality` are not searched by PDQ at all.
POLICY = Settings().match_policy
# Descriptors per original in the vote index (`PROVREG_RETRIEVAL_FEATURES`, as the registry reads it).
RETRIEVAL_FEATURES = Settings().retrieval_features or INDEXED_PER_REFERENCE
_PDQ = Pdq()


def _key(number: int) -> str:
    """`compare` takes string ids (the registry's registration ids). Zero-padded so that the string
    order, which `analyse_image` uses to break ties, is the numeric order the bench has always used."""
    return f"{number:08d}"


@dataclass
class BenchRegistry:
    """What the registry will hold per original: its bytes, a features blob, PDQ hashes, descriptor-index entries."""

    data: list[bytes] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    pdq: BinaryIndex = field(default_factory=lambda: BinaryIndex(256))
    pdq_rows: list[tuple[int, str]] = field(default_factory=list)  # row -> (original's number, hash variant)
    descriptors: DescriptorIndex = field(default_factory=lambda: DescriptorIndex(per_reference=RETRIEVAL_FEATURES))
    synthetic: dict[int, tuple[int, LocalFeatures]] = field(default_factory=dict)  # id -> (seed, features)

    def register(self, data: bytes) -> str:
        number = len(self.data)
        image = load_image(data, max_pixels=MAX_PIXELS, max_side=WORKING_SIDE)
        features = extract_features(image)
        for record in _PDQ.reference(hash_pixels(image)):  # canonical and centred-crop variants, as registered
            self.pdq.add(np.array([len(self.pdq_rows)]), record.value.to_array())
            self.pdq_rows.append((number, record.variant))
        self.data.append(data)
        self.blobs.append(features.to_bytes())
        self.descriptors.add(number, features)
        return _key(number)

    # compare.ReferenceSource
    def features(self, registration_id: str) -> LocalFeatures | None:
        number = int(registration_id)
        if number in self.synthetic:
            return self.synthetic[number][1]
        return LocalFeatures.from_bytes(self.blobs[number])

    def original(self, registration_id: str) -> CanonicalImage:
        number = int(registration_id)
        if number in self.synthetic:
            pixels = procedural_image(self.synthetic[number][0])
            h, w = pixels.shape[:2]
            return CanonicalImage("image/png", w, h, Rect(0, 0, w, h), pixels)
        return load_image(self.data[number], max_pixels=MAX_PIXELS, max_side=WORKING_SIDE)

    def check(self, data: bytes) -> tuple[list[DerivativeMatch], dict[str, float]]:
        """The registry's check path with the local stage; returns matches and per-stage seconds."""
        clock, times = time.perf_counter(), {}

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            times[name] = now - clock
            clock = now

        image = load_image(data, max_pixels=MAX_PIXELS, max_side=WORKING_SIDE)
        lap("decode")
        hashes, quality = _PDQ.compute_dihedral(hash_pixels(image))
        lap("pdq")
        candidates = []
        if POLICY.trusted(quality):
            codes = np.stack([h.to_array() for h in hashes])
            for variant, hits in enumerate(self.pdq.range_search(codes, POLICY.radius(_PDQ.bits, weak=True))):
                for hit in hits:
                    number, stored = self.pdq_rows[hit.id]
                    evidence = HashEvidence(PDQ, stored, PDQ_VARIANTS[variant], hit.distance)
                    candidates.append(MatchCandidate(_key(number), (evidence,)))
        lap("pdq_search")
        features = extract_query_features(image)
        lap("features")
        candidates += [MatchCandidate(_key(v.key), votes=v.votes) for v in self.descriptors.search(features)]
        lap("votes")
        analysed = analyse_image(
            image, features, candidates, self, strong_distance=POLICY.radius(_PDQ.bits), exhaustive=False
        )
        # a `related` match is a different photograph of the same scene: shown to reviewers, but not a derivative
        matches = [match for match in analysed if match.verdict != "related"]
        lap("analyse")
        times["total"] = sum(times.values())
        return matches, times


# --- evaluation -------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    query: Query
    expected: str | None  # the true reference id, None for distractors
    matches: list[DerivativeMatch]
    times: dict[str, float]

    @property
    def hit(self) -> DerivativeMatch | None:
        return next((m for m in self.matches if m.registration_id == self.expected), None)

    @property
    def false_matches(self) -> list[DerivativeMatch]:
        return [m for m in self.matches if m.registration_id != self.expected]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def localisation_scores(outcome: Outcome, original: CanonicalImage) -> dict[str, float] | None:
    """Mask IoU (original's frame, localisation resolution) and box IoU (full-size pixels, union of regions)."""
    match = outcome.hit
    mask = outcome.query.mask
    if match is None or mask is None or match.localisation is None:
        return None
    loc = match.localisation
    h, w = loc.mask.shape
    # the ground truth is in the photo's full frame; the localisation covers the trimmed content at reduced size
    box = original.trim_box
    truth_full = mask[box.y : box.y + box.h, box.x : box.x + box.w].astype(np.uint8)
    truth = cv2.resize(truth_full, (w, h), interpolation=cv2.INTER_NEAREST) > 0
    truth &= loc.overlap
    ys, xs = np.nonzero(mask)
    truth_box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    if match.regions:
        rects = [r.original for r in match.regions]
        found = (
            min(r.x for r in rects),
            min(r.y for r in rects),
            max(r.x + r.w for r in rects),
            max(r.y + r.h for r in rects),
        )
        box_iou = _box_iou(truth_box, found)
    else:
        box_iou = 0.0
    return {"mask_iou": _iou(truth, loc.mask), "box_iou": box_iou, "share": float(mask.mean())}


def micro_average_precision(outcomes: list[Outcome]) -> float:
    """DISC21-style micro-AP: every (query, reference) prediction ranked by score over the whole set."""
    predictions = []
    for outcome in outcomes:
        for match in outcome.matches:
            hit = match.candidate.best(PDQ)
            score = match.alignment.inliers or (256 - (0 if hit is None else hit.distance))
            predictions.append((score, match.registration_id == outcome.expected))
    positives = sum(o.expected is not None for o in outcomes)
    predictions.sort(key=lambda p: -p[0])
    correct, precision_sum = 0, 0.0
    for rank, (_, ok) in enumerate(predictions, start=1):
        if ok:
            correct += 1
            precision_sum += correct / rank
    return precision_sum / positives if positives else 0.0


def summarise(outcomes: list[Outcome], originals: dict[str, CanonicalImage]) -> dict[str, object]:
    benign = [o for o in outcomes if o.query.kind == "benign"]
    edits = [o for o in outcomes if o.query.kind == "edit"]
    distractors = [o for o in outcomes if o.query.kind == "distractor"]
    per_transform: dict[str, list[bool]] = defaultdict(list)
    for o in benign:
        per_transform[o.query.transform].append(o.hit is not None)
    confusion: dict[str, Counter[str]] = {"copy": Counter(), "altered": Counter()}
    for o in benign + edits:
        truth = "copy" if o.query.kind == "benign" else "altered"
        confusion[truth][o.hit.verdict if o.hit else "no match"] += 1
    scores: dict[str, list[dict[str, float]]] = defaultdict(list)
    altered_recall: dict[str, list[bool]] = defaultdict(list)
    for o in edits:
        kind = o.query.transform
        altered_recall[kind].append(o.hit is not None and o.hit.verdict == "altered")
        score = localisation_scores(o, originals[o.expected]) if o.expected is not None else None
        if score is not None and o.hit is not None and o.hit.verdict == "altered":
            scores[kind].append(score)
    large = [s for kind, rows in scores.items() for s in rows if s["share"] >= 0.01]
    large_edits = [o for o in edits if o.query.mask is not None and o.query.mask.mean() >= 0.01]
    all_matches = [m for o in outcomes for m in o.matches]
    correct = sum(1 for o in outcomes for m in o.matches if m.registration_id == o.expected)
    return {
        "queries": {"benign": len(benign), "edits": len(edits), "distractors": len(distractors)},
        "benign_recall": float(np.mean([o.hit is not None for o in benign])) if benign else None,
        "distractor_false_matches": sum(len(o.matches) for o in distractors),
        "false_matches_on_registered_queries": sum(len(o.false_matches) for o in benign + edits),
        "precision": correct / len(all_matches) if all_matches else None,
        "micro_ap": micro_average_precision(outcomes),
        "per_transform_recall": {k: float(np.mean(v)) for k, v in per_transform.items()},
        "confusion": {k: dict(v) for k, v in confusion.items()},
        "benign_called_altered": confusion["copy"]["altered"] / max(1, len(benign)),
        "altered_recall_per_edit": {k: float(np.mean(v)) for k, v in altered_recall.items()},
        "altered_recall_edits_over_1pct": float(
            np.mean([o.hit is not None and o.hit.verdict == "altered" for o in large_edits])
        )
        if large_edits
        else None,
        "localisation_per_edit": {
            k: {
                "median_mask_iou": float(np.median([s["mask_iou"] for s in v])),
                "median_box_iou": float(np.median([s["box_iou"] for s in v])),
                "median_share": float(np.median([s["share"] for s in v])),
                "n": len(v),
            }
            for k, v in scores.items()
        },
        "localisation_edits_over_1pct": {
            "median_mask_iou": float(np.median([s["mask_iou"] for s in large])) if large else None,
            "median_box_iou": float(np.median([s["box_iou"] for s in large])) if large else None,
            "n": len(large),
        },
        "misses": sorted(o.query.name for o in benign + edits if o.hit is None),
        "benign_called_altered_list": sorted(
            o.query.name for o in benign if o.hit is not None and o.hit.verdict == "altered"
        ),
        "distractor_matches": sorted(o.query.name for o in distractors if o.matches),
    }


def latency(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    stages = outcomes[0].times.keys()
    return {
        stage: {
            "p50_ms": round(1000 * float(np.median([o.times[stage] for o in outcomes])), 2),
            "p90_ms": round(1000 * float(np.percentile([o.times[stage] for o in outcomes], 90)), 2),
        }
        for stage in stages
    }


def run_queries(registry: BenchRegistry, queries: list[Query], ids: dict[str, str], label: str) -> list[Outcome]:
    outcomes = []
    for i, query in enumerate(queries):
        matches, times = registry.check(query.data)
        outcomes.append(Outcome(query, ids.get(query.source), matches, times))
        if (i + 1) % 100 == 0:
            print(f"  {label}: {i + 1}/{len(queries)}", file=sys.stderr)
    return outcomes


def fill(registry: BenchRegistry, total: int, synthetic: list[LocalFeatures], seed: int = 0) -> None:
    """Pad the registry with synthetic originals up to `total` (features and descriptor index; no PDQ hashes)."""
    rng = np.random.default_rng(seed)
    items = []
    start = registry.descriptors.references
    for i in range(start, total):
        k = (i - start) % len(synthetic)
        features = synthetic[k] if i - start < len(synthetic) else mutated(synthetic[k], rng)
        registry.synthetic[SYNTHETIC_ID + i] = (SYNTHETIC_SEED + k, features)
        items.append((SYNTHETIC_ID + i, features))
    registry.descriptors.add_many(items)


def flat_search_ms(registry: BenchRegistry, features: LocalFeatures) -> float:
    """Exact k-NN of one query orientation over every indexed descriptor: the cost the inverted file avoids."""
    index = registry.descriptors._index  # bench-only peek, to copy the same codes into a flat index
    flat = faiss.IndexBinaryFlat(256)
    invlists = index.invlists
    for list_no in range(index.nlist):
        size = invlists.list_size(list_no)
        if size:
            codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * 32).copy().reshape(size, 32)
            flat.add(codes)
    start = time.perf_counter()
    flat.search(features.descriptors[:500], 4)
    return 1000 * (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 registered originals, no 100k run, no AugLy")
    parser.add_argument(
        "--augly",
        type=lambda text: frozenset(text.split(",")),
        help="run only these AugLy transforms (comma-separated), also with --quick",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (keep reduced runs out of the default)")
    args = parser.parse_args()
    _threads.pin()
    size = 2_000 if args.quick else 10_000
    started = time.perf_counter()

    photos, strangers = load_photos(ORIGINALS), load_photos(DISTRACTORS)
    registry = BenchRegistry()
    ids = {photo.name: registry.register(photo.data) for photo in photos}
    originals = {i: registry.original(i) for i in ids.values()}
    print(f"registered {len(ids)} real photos; building {size:,} synthetic originals' descriptors", file=sys.stderr)
    synthetic = list(synthetic_features(min(2_000, size), seed=SYNTHETIC_SEED))
    fill(registry, size, synthetic)

    queries = benign_queries(photos, "benign", 1) + benign_queries(strangers, "distractor", 2)
    queries += edit_queries(photos, strangers, 3)
    outcomes = run_queries(registry, queries, ids, "main set")
    results: dict[str, object] = {
        "registered": {"real": len(ids), "synthetic": size - len(ids), "total": size},
        "main": summarise(outcomes, originals),
        "latency_ms_at_registered": {"registered": size, "stages": latency(outcomes)},
    }
    features_bytes = float(np.mean([len(b) for b in registry.blobs]))
    index_bytes = len(registry.descriptors.to_bytes())
    results["storage"] = {
        "features_blob_bytes_per_registration": features_bytes,
        "descriptor_index_bytes_per_registration": index_bytes / registry.descriptors.references,
        "pdq_hashes_per_registration": len(registry.pdq_rows) / len(ids),
        "retrieval_features_per_registration": RETRIEVAL_FEATURES,
    }
    sample_query = extract_query_features(load_image(queries[0].data, max_pixels=MAX_PIXELS, max_side=WORKING_SIDE))
    results["flat_search_ms_one_orientation"] = round(flat_search_ms(registry, sample_query[0]), 1)

    if not args.quick or args.augly:
        augly_set, skipped = augly_queries(photos, strangers, args.augly)
        augly_outcomes = run_queries(registry, augly_set, ids, "AugLy set")
        results["augly"] = summarise(augly_outcomes, originals) | {"skipped": skipped}
        results["augly_latency_ms"] = latency(augly_outcomes)
    if not args.quick:
        print("growing the descriptor index to 100,000 originals", file=sys.stderr)
        fill(registry, 100_000, synthetic, seed=1)
        subset = queries[:: max(1, len(queries) // 150)]
        large = run_queries(registry, subset, ids, "100k latency")
        results["latency_ms_at_100k"] = {"registered": 100_000, "queries": len(subset), "stages": latency(large)}
        results["storage"]["descriptor_index_bytes_at_100k"] = len(registry.descriptors.to_bytes())
    results["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True))
    print_tables(results)


def print_tables(results: dict) -> None:
    main = results["main"]
    print(f"\nRegistered: {results['registered']}")
    print(f"Queries: {main['queries']}")
    print(
        f"Benign recall {main['benign_recall']:.3f}, false matches on distractors {main['distractor_false_matches']},"
    )
    print(f"precision {main['precision']:.3f}, micro-AP {main['micro_ap']:.3f}")
    print("\n| transform | recall |\n|---|---|")
    for name, value in main["per_transform_recall"].items():
        print(f"| {name} | {value:.2f} |")
    print("\n| truth \\ verdict | copy | altered | no match |\n|---|---|---|---|")
    for truth, row in main["confusion"].items():
        print(f"| {truth} | {row.get('copy', 0)} | {row.get('altered', 0)} | {row.get('no match', 0)} |")
    print("\n| edit | altered recall | median mask IoU | median box IoU | median share |\n|---|---|---|---|---|")
    for name, recall in main["altered_recall_per_edit"].items():
        loc = main["localisation_per_edit"].get(name, {})
        print(
            f"| {name} | {recall:.2f} | {loc.get('median_mask_iou', 0):.2f} | {loc.get('median_box_iou', 0):.2f} "
            f"| {loc.get('median_share', 0):.3f} |"
        )
    large = main["localisation_edits_over_1pct"]
    print(f"\nEdits >= 1%: altered recall {main['altered_recall_edits_over_1pct']:.3f}, localisation {large}")
    print(f"Benign called altered: {main['benign_called_altered']:.3f}")
    print(f"\nLatency at {results['latency_ms_at_registered']['registered']:,}: {results['latency_ms_at_registered']}")
    if "latency_ms_at_100k" in results:
        print(f"Latency at 100k: {results['latency_ms_at_100k']}")
    print(f"Storage: {results['storage']}")
    if "augly" in results:
        augly = results["augly"]
        print(f"\nAugLy: {augly['queries']}, benign recall {augly['benign_recall']:.3f}")
        print(f"per transform: {augly['per_transform_recall']}")
        print(f"content-adding: {augly['altered_recall_per_edit']}, confusion {augly['confusion']}")
        print(f"skipped: {augly['skipped']}")


if __name__ == "__main__":
    main()
