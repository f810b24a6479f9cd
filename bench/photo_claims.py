"""Benchmark of what-was-done claims on real photographs: re-saves, benign edits, framings, composites, local edits.

    python bench/photo_claims.py [--photos N] [--out FILE] [--statistics]

Registers photographs from Debian's wallpaper packages through a real `Registry` (bench/photo_claims_corpus.py lists
them) and checks every labelled query through `registry.matching.check`, as a platform would. For each claim type
(cropped, framed, composite, scale, aspect, rotation, flipped, perspective, photometric, grayscale) it reports how
often the claim was made where it is false, and how often a claim that was due was missed; for each family of
queries the verdicts; for framings and composites how well `transform.content` finds the original's footprint; and
the `score` each verdict came with. One thread. Writes bench/results/photo_claims.json and prints the tables.

`--statistics` measures instead the two numbers the surroundings rule decides on (`fingerprint.compare.footprint`:
the band's uniformity and the error against the photo's own blurred enlargement) for every framing and composite,
on the analysis the registry runs (bench/derivatives.py's registry, one original per photo), and prints their ranges.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import _threads
from _signer import Signer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.client import PublisherClient
from bench.photo_claims_corpus import (
    CLAIMS,
    PHOTOS,
    LabelledQuery,
    benign,
    composites,
    edits,
    encode,
    framed,
    load_photo,
    resaves,
)
from registry import matching, views
from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "photo_claims.json"
SEED = 17
_ADMIN = "bench-admin-token-" + "x" * 32


def claims_of(transform: views.TransformView) -> set[str]:
    """The claims a transform makes, by the names the corpus labels them with."""
    made = {
        "cropped": transform.cropped,
        "framed": transform.framed,
        "composite": transform.composite,
        "scale": transform.scale != 1.0,
        "aspect": transform.aspect_change != 1.0,
        "rotation": transform.rotation != 0.0,
        "flipped": transform.flipped,
        "perspective": transform.perspective,
        "photometric": transform.photometric_change,
        "grayscale": transform.grayscale,
    }
    return {claim for claim, on in made.items() if on}


def _iou(a: views.RectView, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    w = max(0, min(a.x + a.w, x1) - max(a.x, x0))
    h = max(0, min(a.y + a.h, y1) - max(a.y, y0))
    union = a.w * a.h + (x1 - x0) * (y1 - y0) - w * h
    return w * h / union if union else 0.0


def _publisher_client(registry: Registry) -> PublisherClient:
    return Signer.create(registry, "Bench Newsroom").client(registry)


def queries(count: int) -> tuple[list[bytes], list[LabelledQuery]]:
    """The originals to register and the labelled queries made from them (each with another photo as donor)."""
    photos = [load_photo(path) for path in PHOTOS[:count]]
    originals = [encode(pixels, "JPEG", quality=92) for pixels in photos]
    made: list[LabelledQuery] = []
    for index, pixels in enumerate(photos):
        donor = load_photo(PHOTOS[(index + 7) % len(PHOTOS)])  # never the same photo, often an unregistered one
        made += resaves(index, pixels) + benign(index, pixels, SEED) + framed(index, pixels, SEED)
        made += composites(index, pixels, donor, SEED) + edits(index, pixels, donor, SEED)
    return originals, made


def surroundings_statistics(count: int) -> dict[str, dict[str, list[float]]]:
    """The surroundings rule's two statistics per kind of framing or composite, on the registry's own analysis."""
    from bench.derivatives import MAX_PIXELS, BenchRegistry
    from fingerprint.compare.footprint import find_surroundings
    from fingerprint.media import WORKING_SIDE, load_image

    originals, labelled = queries(count)
    registry = BenchRegistry()
    ids = [registry.register(data) for data in originals]
    measured: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for query in labelled:
        if query.family not in ("framed", "composite"):
            continue
        match = next((m for m in registry.check(query.data)[0] if m.registration_id == ids[query.source]), None)
        if match is None:
            continue
        image = load_image(query.data, max_pixels=MAX_PIXELS, max_side=WORKING_SIDE)
        found = find_surroundings(image, registry.original(ids[query.source]), match.alignment)
        kind = query.name.split("/", 1)[1]
        measured[kind]["uniformity"].append(round(found.uniformity, 3))
        measured[kind]["self_error"].append(round(min(found.self_error, 999.0), 1))
        measured[kind]["share"].append(round(found.share, 3))
        print(kind, found.kind, round(found.uniformity, 3), round(found.self_error, 1), file=sys.stderr, flush=True)
    for kind, values in sorted(measured.items()):
        ranges = " | ".join(f"{min(v)}-{max(v)} (median {statistics.median(v)})" for v in values.values())
        print(f"| {kind} | {len(values['share'])} | {ranges} |")
    return {kind: dict(values) for kind, values in measured.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=len(PHOTOS), help="register only the first N photographs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--statistics", action="store_true", help="measure the surroundings rule's statistics")
    args = parser.parse_args()
    _threads.pin()
    if args.statistics:
        args.out.write_text(json.dumps(surroundings_statistics(args.photos), indent=1) + "\n")
        return
    originals, labelled = queries(args.photos)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        registry = Registry.open(Settings(data_dir=Path(directory) / "data", admin_token=_ADMIN))
        registry.load()
        client = _publisher_client(registry)
        ids = [client.register(data, {"title": f"photo {i}"}).id for i, data in enumerate(originals)]
        for query in labelled:
            with registry.session() as session:
                view = matching.check(session=session, registry=registry, content=query.data)
            match = next((m for m in view.matches if m.registration_id == ids[query.source]), None)
            made = set() if match is None or match.transform is None else claims_of(match.transform)
            row = {
                "query": query.name,
                "family": query.family,
                "kind": query.name.split("/", 1)[1],
                "check_verdict": view.verdict,
                "verdict": "none" if match is None else match.verdict,
                "expected_verdict": query.verdict,
                "claims": sorted(made),
                "false": sorted(made - query.expected - query.allowed),
                "missed": sorted(query.expected - made) if match is not None else [],
                "score": None if match is None else match.score,
                "footprint_iou": None
                if match is None or match.transform is None or query.footprint is None
                else round(_iou(match.transform.content, query.footprint), 3),
            }
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), file=sys.stderr, flush=True)
        registry.close()
    summary = summarise(rows, labelled)
    report(summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "queries": rows}, indent=1) + "\n")


def summarise(rows: list[dict], labelled: list[LabelledQuery]) -> dict:
    by_name = {q.name: q for q in labelled}
    found = [r for r in rows if r["verdict"] != "none"]
    per_claim = {}
    for claim in CLAIMS:
        # a claim can be false only where the label does not call for it or allow it
        eligible = [r for r in found if claim not in by_name[r["query"]].expected | by_name[r["query"]].allowed]
        due = [r for r in found if claim in by_name[r["query"]].expected]
        per_claim[claim] = {
            "false": sum(claim in r["false"] for r in eligible),
            "eligible": len(eligible),
            "false_rate": round(sum(claim in r["false"] for r in eligible) / len(eligible), 4) if eligible else None,
            "missed": sum(claim in r["missed"] for r in due),
            "due": len(due),
        }
    families = defaultdict(Counter)
    kinds = defaultdict(Counter)
    for r in rows:
        families[r["family"]][r["verdict"]] += 1
        kinds[r["kind"]][r["verdict"]] += 1
    resaves = [r for r in found if r["family"] == "resave"]
    geometric = {"cropped", "framed", "composite", "scale", "aspect", "rotation", "flipped", "perspective"}
    scores = defaultdict(list)
    for r in found:
        scores[r["verdict"]].append(r["score"])
    ious = defaultdict(list)
    for r in found:
        if r["footprint_iou"] is not None:
            ious[r["family"]].append(r["footprint_iou"])
    composites_rows = [r for r in rows if r["family"] == "composite"]
    return {
        "queries": len(rows),
        "photos": len({by_name[r["query"]].source for r in rows}),
        "claims": per_claim,
        "resave_geometric_claims": sum(bool(set(r["claims"]) & geometric) for r in resaves),
        "resave_any_claims": sum(bool(r["claims"]) for r in resaves),
        "resaves": len(resaves),
        "verdicts_by_family": {k: dict(v) for k, v in sorted(families.items())},
        "verdicts_by_kind": {k: dict(v) for k, v in sorted(kinds.items())},
        "composites_called_copy": sum(r["verdict"] == "copy" for r in composites_rows),
        "composites_altered": sum(r["verdict"] == "altered" for r in composites_rows),
        "composites_altered_with_claim": sum(
            r["verdict"] == "altered" and "composite" in r["claims"] for r in composites_rows
        ),
        "composites": len(composites_rows),
        "score": {
            verdict: {"n": len(v), "min": min(v), "median": statistics.median(v), "max": max(v)}
            for verdict, v in sorted(scores.items())
        },
        "footprint_iou_median": {family: round(statistics.median(v), 3) for family, v in sorted(ious.items())},
    }


def report(summary: dict) -> None:
    print(f"\n{summary['queries']} queries on {summary['photos']} photographs\n")
    print("| claim | false / eligible | false rate | missed / due |\n|---|---|---|---|")
    for claim, c in summary["claims"].items():
        rate = "-" if c["false_rate"] is None else f"{100 * c['false_rate']:.1f}%"
        print(f"| {claim} | {c['false']} / {c['eligible']} | {rate} | {c['missed']} / {c['due']} |")
    print(
        f"\nre-saves with a geometric claim: {summary['resave_geometric_claims']} / {summary['resaves']} "
        f"(any claim: {summary['resave_any_claims']})"
    )
    print(
        f"composites: {summary['composites_called_copy']} called copy, {summary['composites_altered']} altered "
        f"({summary['composites_altered_with_claim']} with `composite`) of {summary['composites']}"
    )
    print("\n| kind | verdicts |\n|---|---|")
    for kind, counts in summary["verdicts_by_kind"].items():
        print(f"| {kind} | {', '.join(f'{v} {n}' for v, n in sorted(counts.items()))} |")
    print(f"\nscore by verdict: {summary['score']}")
    print(f"footprint IoU (median): {summary['footprint_iou_median']}")


if __name__ == "__main__":
    main()
