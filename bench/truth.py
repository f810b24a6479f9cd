"""Is every claim true? Checks a labelled corpus of real media end to end and counts each claim that is false.

    python bench/truth.py [--quick [--every-query]] [--only photos|video|floods] [--corpus DIR] [--seed N] [--out FILE]

Every query goes through the real check path: `registry.matching.check` on a real `Registry` (SQLite, content store,
indexes, transparency log) in a temporary data directory, whose originals were registered by a verified publisher
with signed statements (`api.client.LocalTransport`, as the CLI does). No stage is handed the ground truth: the
labels are what was done to make each query, recorded when it was made, and are compared with the JSON the check
answers (`view.model_dump(mode="json")`). A claim is only counted from fields that exist, so the benchmark runs on
registries that have added fields (`transform.composite`, per-segment sound similarity, `prior_registrations`).

The corpus (bench/truth_corpus.py, bench/truth_media.py) is built from real sources, deterministically from the
seed, and kept in a cache outside git (`--corpus`, default `$XDG_CACHE_HOME/provreg-truth`):
- photos: photographs from Debian's wallpaper packages (bench/truth_photos.json: each file, its package, author
  and licence); re-saves, benign transforms with known parameters, framed copies (a page, an app window),
  composites (the original or its centre pasted into another photograph), pasted patches, different photographs
  of one scene (bench/same_scene.py's renders and scikit-image's stereo pair) and unrelated photographs;
- video: camera moves over the wallpapers at 23.976, 24, 25, 29.97, 30, 50 and 60 fps and a variable rate, 720p and
  1080p H.264 (some with B-frames), with speech from espeak-ng over music fluidsynth renders from General MIDI songs;
  faithful excerpts re-encoded like a platform (H.264/VP9, AAC/Opus 24-128 kb/s, resized, mirrored, portrait,
  0.8-1.25x, frame-rate converted, the whole original), and doctored ones (painted boxes, replaced sound, inserted
  footage, sound stripped or muted);
- floods: a newsroom's photo, then 20 near-copies registered by a second verified publisher.

Writes bench/results/truth.json (with the machine's load) and prints the targets of issue 17 and the false rate of
every claim. One thread. --quick: every frame rate once, a few minutes once the corpus is cached.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import _threads

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.client import LocalTransport, registration_statement, sign_statement
from bench._common import machine_info, percentile, print_table, write_json
from bench._signer import Signer
from bench.check_e2e import open_registry
from bench.truth_corpus import Corpus, VideoQuery, originals, video_queries
from bench.truth_photo_corpus import PhotoQuery, floods, photo_originals, photo_queries
from registry import matching
from registry.errors import RegistryError
from registry.runtime import Registry

RESULTS = Path(__file__).resolve().parent / "results" / "truth.json"
PACKAGES = ("numpy", "opencv-python-headless", "pillow", "av", "imageio-ffmpeg", "faiss-cpu", "pdqhash")
SECTIONS = ("photos", "video", "floods")
View = dict[str, Any]

# What the web card (api/web/words.py) turns into words, and so what a newsroom would read as a claim.
SCALE_CLAIM = 0.02  # "resized to N%" when the scale is further than this from 1
ASPECT_CLAIM = 0.02  # "stretched" / "squeezed"
ROTATION_CLAIM = 0.5  # degrees: "rotated N°"
ROTATIONS = {"rotate_90_cw", "rotate_180", "rotate_90_ccw", "transpose", "transverse"}
FLIPS = {"flip_horizontal", "flip_vertical", "transpose", "transverse"}
GEOMETRIC = ("cropped", "framed", "scale", "rotation", "flipped", "perspective", "aspect_change")
WORDS = (*GEOMETRIC, "photometric_change", "grayscale", "composite")
SCALE_RIGHT = 0.05  # a reported scale within 5% of the true one is right
SEGMENT_SECONDS = 0.3  # a segment's original start within this of the truth is right
SEGMENT_SPEED = 0.05  # and its speed within 5%
CAUGHT_IOU = 0.5  # a span is caught when the reported spans cover it with this temporal IoU


def _progress(message: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)


@contextmanager
def fresh_registry() -> Iterator[Registry]:
    """A real registry in a temporary data directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="provreg-truth-") as scratch:
        registry, _ = open_registry(Path(scratch))
        try:
            yield registry
        finally:
            registry.close()


def check(registry: Registry, path: Path) -> tuple[View, dict[str, float]]:
    """The check's JSON view of the file at `path` (or `{"error": ...}`), its wall-clock and CPU seconds (this
    process's: on a shared machine the wall clock also counts other people's work)."""
    data = path.read_bytes()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        with registry.session() as session:
            view = matching.check(session=session, registry=registry, content=data).model_dump(mode="json")
    except Exception as exc:  # a refusal or a crash is a finding about this query, not the end of the run
        view = {"error": f"{type(exc).__name__}: {exc}", "verdict": "error", "matches": []}
    return view, {"check_s": round(time.perf_counter() - started, 3), "cpu_s": round(time.process_time() - cpu, 3)}


def _match(view: View, registration_id: str | None) -> View | None:
    return next((m for m in view["matches"] if m["registration_id"] == registration_id), None)


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _latency(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-check seconds: wall clock and this process's CPU time, p50, p95 and max."""
    figures: dict[str, Any] = {"n": len(rows)}
    for key in ("check_s", "cpu_s"):
        values = [r[key] for r in rows]
        if values:
            figures |= {
                f"{key}_p50": round(statistics.median(values), 3),
                f"{key}_p95": round(percentile(values, 95), 3),
                f"{key}_max": round(max(values), 3),
            }
    return figures


# --- photos -------------------------------------------------------------------------------------------------------


def claims(match: View) -> set[str]:
    """The transform words a photo match claims, from the fields it has."""
    transform = match.get("transform") or {}
    variant = match.get("variant", "identity")
    said = {
        word
        for word in ("cropped", "framed", "perspective", "photometric_change", "grayscale", "composite")
        if transform.get(word)
    }
    if abs(transform.get("scale", 1.0) - 1) > SCALE_CLAIM:
        said.add("scale")
    if abs(transform.get("aspect_change", 1.0) - 1) > ASPECT_CLAIM:
        said.add("aspect_change")
    if (abs(transform.get("rotation", 0.0)) >= ROTATION_CLAIM and variant == "identity") or variant in ROTATIONS:
        said.add("rotation")
    if (transform.get("flipped") and variant == "identity") or variant in FLIPS:
        said.add("flipped")
    return said


def _overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return w * h / union if union else 0.0


def judge_photo(query: PhotoQuery, view: View, ids: dict[str, str]) -> dict[str, Any]:
    expected = ids.get(query.original) if query.original else None
    match = _match(view, expected)
    row: dict[str, Any] = {
        "name": query.name,
        "kind": query.kind,
        "transform": query.transform,
        "label": query.label,
        "done": sorted(query.done),
        "tolerated": sorted(query.tolerated),
        "verdict": view["verdict"],
        "matches": len(view["matches"]),
        "named": match is not None,
        "match_verdict": match["verdict"] if match else None,
        "score": match.get("score") if match else None,
    }
    if "error" in view:
        row["error"] = view["error"]
    if match is not None and match.get("transform") is not None:
        said = claims(match)
        row["claims"] = sorted(said)
        row["false_claims"] = sorted(said - query.done - query.tolerated)
        row["composite_field"] = "composite" in match["transform"]
        if query.scale is not None and "scale" in query.done:
            row["scale_right"] = abs(match["transform"]["scale"] / query.scale - 1) <= SCALE_RIGHT
        if query.box is not None:
            regions = [(r["x"], r["y"], r["w"], r["h"]) for r in match.get("regions", [])]
            row["region_on_edit"] = any(_overlap(r, query.box) > 0 for r in regions)
            content = match["transform"]["content"]
            row["footprint_iou"] = round(
                _overlap((content["x"], content["y"], content["w"], content["h"]), query.box), 3
            )
    return row


def photos_section(corpus: Corpus, quick: bool, started: float) -> dict[str, Any]:
    registered = photo_originals(quick)
    firsts, queries = photo_queries(corpus, registered, quick)
    _progress(f"photos: {len(registered) + len(firsts)} originals, {len(queries)} queries ready", started)
    rows = []
    with fresh_registry() as registry:
        desk = Signer.create(registry, "Truth Bench Photo Desk")
        ids = {o.name: desk.register(registry, o.path.read_bytes(), o.name)[0] for o in [*registered, *firsts]}
        _progress("photos: registered", started)
        for query in queries:
            view, seconds = check(registry, query.path)
            rows.append({**judge_photo(query, view, ids), **seconds})
    _progress("photos: checked", started)
    return {"originals": len(registered), "scene_originals": len(firsts), **photo_summary(rows), "queries": rows}


def photo_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_kind[row["kind"]].append(row)
    copies = [r for r in rows if r["label"] == "copy"]
    composites, patches = by_kind["composite"], by_kind["patch"]
    resaves = by_kind["resave"]
    # each transform word: claimed where it was not done, over the copies and patch edits that name their original
    judged = [r for r in rows if r["kind"] in ("resave", "benign", "framed", "patch") and "claims" in r]
    words = {}
    for word in WORDS:
        pool = [r for r in judged if word not in r["done"] and word not in r["tolerated"]]
        if word == "composite" and not any(r["composite_field"] for r in judged):
            continue  # the registry does not say `composite` at all
        false = sum(word in r["false_claims"] for r in pool)
        words[word] = {"false": false, "n": len(pool), "rate": _rate(false, len(pool))}
    scale_rows = [r for r in rows if "scale_right" in r]
    flags = [r for r in composites if r.get("composite_field")]
    return {
        "verdicts": {kind: dict(Counter(r["verdict"] for r in group)) for kind, group in sorted(by_kind.items())},
        "copies_called_copy_of_original": _rate(
            sum(r["verdict"] == "copy" and r["named"] for r in copies), len(copies)
        ),
        "copies_per_transform": {
            t: _rate(sum(r["verdict"] == "copy" and r["named"] for r in group), len(group))
            for t, group in sorted(_group(copies, "transform", lambda t: t.split("_q")[0]).items())
        },
        "resaves": len(resaves),
        "resaves_with_geometric_claims": sum(any(w in GEOMETRIC for w in r.get("false_claims", [])) for r in resaves),
        "resaves_with_any_false_claim": sum(bool(r.get("false_claims")) for r in resaves),
        "claim_false_rates": words,
        "scale_right": _rate(sum(r["scale_right"] for r in scale_rows), len(scale_rows)),
        "composites": len(composites),
        "composites_called_copy": sum(r["verdict"] == "copy" for r in composites),
        "composites_altered_naming_original": _rate(
            sum(r["verdict"] == "altered" and r["match_verdict"] == "altered" for r in composites), len(composites)
        ),
        "composites_flagged_composite": _rate(sum("composite" in r["claims"] for r in flags), len(flags))
        if flags
        else None,
        "composite_footprint_iou_median": _median([r["footprint_iou"] for r in composites if "footprint_iou" in r]),
        "patches_altered": _rate(sum(r["verdict"] == "altered" and r["named"] for r in patches), len(patches)),
        "patches_region_on_edit": _rate(sum(bool(r.get("region_on_edit")) for r in patches), len(patches)),
        # `score` as a similarity: a doctored photo at 100%, or a different photograph of the scene near it
        "doctored_scored_100pct": sum((r["score"] or 0) >= 0.995 for r in [*composites, *patches] if r["named"]),
        "same_scene_max_score": max((r["score"] or 0.0 for r in by_kind["same_scene"]), default=None),
        "same_scene": len(by_kind["same_scene"]),
        "same_scene_called_copy_or_altered": sum(r["verdict"] in ("copy", "altered") for r in by_kind["same_scene"]),
        "unrelated": len(by_kind["unrelated"]),
        "unrelated_with_any_match": sum(r["matches"] > 0 for r in by_kind["unrelated"]),
        "errors": sum("error" in r for r in rows),
        "latency": _latency(rows),
    }


def _group(rows: list[dict[str, Any]], key: str, name: Callable[[str], str] = str) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[name(str(row[key]))].append(row)
    return grouped


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# --- video --------------------------------------------------------------------------------------------------------


def _union_iou(spans: Sequence[tuple[float, float]], truth: tuple[float, float]) -> float:
    """Temporal IoU of the union of `spans` with `truth`."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    inter = sum(max(0.0, min(e, truth[1]) - max(s, truth[0])) for s, e in merged)
    union = sum(e - s for s, e in merged) + truth[1] - truth[0] - inter
    return inter / union if union > 0 else 0.0


def _touches(span: tuple[float, float], truth: tuple[float, float] | None) -> bool:
    return truth is not None and span[0] < truth[1] and span[1] > truth[0]


def judge_video(query: VideoQuery, view: View, ids: dict[str, str]) -> dict[str, Any]:
    expected = ids.get(query.original) if query.original else None
    match = _match(view, expected)
    best = view["matches"][0] if view["matches"] else None
    truth = (query.truth.start, query.truth.end) if query.truth else None
    row: dict[str, Any] = {
        "name": query.name,
        "kind": query.kind,
        "transform": query.transform,
        "rate": query.rate,
        "verdict": view["verdict"],
        "named": match is not None,
        "best_is_original": best is not None and best["registration_id"] == expected,
        "other_originals": sum(m["registration_id"] != expected for m in view["matches"]),
        "truth": list(truth) if truth else None,
    }
    if "error" in view:
        row["error"] = view["error"]
    if match is None:
        return row
    picture = [(s["start"], s["end"]) for s in match.get("spans", [])]
    audio = match.get("audio") or {}
    sound = [(s["kind"], s["start"], s["end"]) for s in audio.get("spans", [])]
    row["spans"] = [(s["kind"], s["start"], s["end"], s.get("frame")) for s in match.get("spans", [])]
    row["audio_spans"] = sound
    row["audio_similarity"] = audio.get("similarity")
    picture_truth = truth if query.kind in ("painted", "inserted") else None
    row["false_picture_spans"] = sum(not _touches(span, picture_truth) for span in picture)
    allowed = truth if query.kind in ("sound", "inserted", "muted") else None
    row["false_audio_altered"] = sum(k == "audio_altered" and not _touches((s, e), allowed) for k, s, e in sound)
    missing_ok = query.kind == "stripped" or query.kind == "muted"
    row["false_audio_missing"] = sum(
        k == "audio_missing" and not (missing_ok and (query.kind == "stripped" or _touches((s, e), truth)))
        for k, s, e in sound
    )
    segments = match.get("segments", [])
    if segments and query.kind in ("faithful", "painted", "sound", "stripped", "muted"):
        longest = max(segments, key=lambda s: s["end"] - s["start"])
        start = query.edit.start or 0.0
        speed = query.edit.speed
        row["segment_offset_error_s"] = round(abs(longest["original_start"] - (start + speed * longest["start"])), 3)
        row["segment_speed"] = longest["speed"]
        row["segment_right"] = (
            row["segment_offset_error_s"] <= SEGMENT_SECONDS and abs(longest["speed"] / speed - 1) <= SEGMENT_SPEED
        )
        row["segment_flags_right"] = all(
            s["mirrored"] == query.edit.mirror and s["portrait"] == query.edit.portrait for s in segments
        )
    if query.kind == "faithful":
        row["clean_copy"] = row["verdict"] == "copy" and row["best_is_original"] and not picture and not sound
    elif query.kind == "painted" and truth and query.box:
        on_truth = [s for s in match.get("spans", []) if _touches((s["start"], s["end"]), truth)]
        row["iou"] = round(_union_iou(picture, truth), 3)
        row["iou_of_touching_spans"] = round(_union_iou([(s["start"], s["end"]) for s in on_truth], truth), 3)
        row["shows_change"] = any(
            _overlap((r["x"], r["y"], r["w"], r["h"]), query.box) > 0 for s in on_truth for r in s.get("regions", [])
        )
        row["frame_in_span"] = any(truth[0] <= (s.get("frame") or -1) <= truth[1] for s in on_truth)
    elif query.kind == "sound" and truth:
        row["iou"] = round(_union_iou([(s, e) for k, s, e in sound if k == "audio_altered"], truth), 3)
    elif query.kind == "inserted" and truth:
        row["iou"] = round(_union_iou(picture, truth), 3)
        row["called_inserted"] = any(
            s["kind"] == "inserted" and _touches((s["start"], s["end"]), truth) for s in match.get("spans", [])
        )
    elif query.kind == "muted" and truth:
        row["iou"] = round(_union_iou([(s, e) for k, s, e in sound if k == "audio_missing"], truth), 3)
    elif query.kind == "stripped":
        row["said_missing"] = audio.get("query_has_audio") is False or any(k == "audio_missing" for k, _, _ in sound)
    return row


def video_section(corpus: Corpus, quick: bool, started: float, *, every_query: bool = False) -> dict[str, Any]:
    """`every_query`: the full run's queries of the originals taken (with --quick: of the 30 s ones)."""
    footage = originals(corpus, quick)
    queries = video_queries(corpus, footage, quick and not every_query)
    _progress(f"video: {len(footage)} originals, {len(queries)} queries ready", started)
    rows = []
    with fresh_registry() as registry:
        desk = Signer.create(registry, "Truth Bench Video Desk")
        ids, registered = {}, []
        for original in footage:
            cpu = time.process_time()
            ids[original.name], seconds = desk.register(registry, original.path.read_bytes(), original.name)
            registered.append({"check_s": round(seconds, 3), "cpu_s": round(time.process_time() - cpu, 3)})
        _progress("video: registered", started)
        for query in queries:
            view, seconds = check(registry, query.path)
            rows.append({**judge_video(query, view, ids), **seconds})
            print(f"  {query.name}: {rows[-1]['verdict']} ({seconds['check_s']:.1f} s)", file=sys.stderr, flush=True)
    _progress("video: checked", started)
    described = [
        {
            "name": f.name,
            "rate": f.rate,
            "size": list(f.size),
            "seconds": f.seconds,
            "bframes": f.bframes,
            "audio_rate": f.audio_rate,
            "voices": list(f.voices),
            "shots": len(f.shots),
            "pan_speed_max": max(shot["speed"] for shot in f.shots),  # frame widths per second
            "pan_speed_median": round(statistics.median(shot["speed"] for shot in f.shots), 3),
        }
        for f in footage
    ]
    return {
        "originals": described,
        "register_latency": _latency(registered),  # check_s: wall seconds of the registration
        **video_summary(rows),
        "queries": rows,
    }


def video_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    kinds = _group(rows, "kind")
    faithful = kinds["faithful"]
    audio_judged = [r for r in rows if r["kind"] in ("faithful", "painted") and r["named"]]

    def clean(group: list[dict[str, Any]]) -> dict[str, Any]:
        return {"n": len(group), "clean_copy": _rate(sum(bool(r.get("clean_copy")) for r in group), len(group))}

    def caught(group: list[dict[str, Any]]) -> float | None:
        return _rate(sum(r.get("iou", 0.0) >= CAUGHT_IOU for r in group), len(group))

    painted = kinds["painted"]
    segmented = [r for r in rows if "segment_right" in r]
    return {
        "verdicts": {kind: dict(Counter(r["verdict"] for r in group)) for kind, group in sorted(kinds.items())},
        "faithful": clean(faithful),
        "faithful_per_rate": {rate: clean(group) for rate, group in sorted(_group(faithful, "rate").items())},
        "faithful_per_transform": {t: clean(group) for t, group in sorted(_group(faithful, "transform").items())},
        "faithful_found": _rate(sum(r["named"] for r in faithful), len(faithful)),
        "faithful_with_picture_span": sum(bool(r.get("spans")) for r in faithful),
        "faithful_with_audio_span": _rate(sum(bool(r.get("audio_spans")) for r in faithful), len(faithful)),
        "segment_right": _rate(sum(r["segment_right"] for r in segmented), len(segmented)),
        "segment_flags_right": _rate(sum(r["segment_flags_right"] for r in segmented), len(segmented)),
        "painted": len(painted),
        "painted_iou_median": _median([r.get("iou", 0.0) for r in painted]),  # every picture span counts
        "painted_iou_of_touching_spans_median": _median([r.get("iou_of_touching_spans", 0.0) for r in painted]),
        "painted_shows_change": _rate(sum(bool(r.get("shows_change")) for r in painted), len(painted)),
        "painted_frame_in_span": _rate(sum(bool(r.get("frame_in_span")) for r in painted), len(painted)),
        "painted_called_altered": _rate(sum(r["verdict"] == "altered" for r in painted), len(painted)),
        "sound_replaced": len(kinds["sound"]),
        "sound_replaced_caught": caught(kinds["sound"]),
        "sound_iou_median": _median([r.get("iou", 0.0) for r in kinds["sound"]]),
        "inserted": len(kinds["inserted"]),
        "inserted_caught": caught(kinds["inserted"]),
        "inserted_called_inserted": _rate(
            sum(bool(r.get("called_inserted")) for r in kinds["inserted"]), len(kinds["inserted"])
        ),
        "stripped_said_missing": _rate(
            sum(bool(r.get("said_missing")) for r in kinds["stripped"]), len(kinds["stripped"])
        ),
        "muted_caught": caught(kinds["muted"]),
        "false_audio_altered_spans": sum(r.get("false_audio_altered", 0) for r in rows),
        "false_audio_missing_spans": sum(r.get("false_audio_missing", 0) for r in rows),
        "false_picture_spans": sum(r.get("false_picture_spans", 0) for r in rows),
        "queries_with_false_picture_span": _rate(sum(r.get("false_picture_spans", 0) > 0 for r in rows), len(rows)),
        "queries_with_false_audio_span": _rate(
            sum(r.get("false_audio_altered", 0) + r.get("false_audio_missing", 0) > 0 for r in audio_judged),
            len(audio_judged),
        ),
        "unrelated": len(kinds["unrelated"]),
        "unrelated_with_any_match": sum(r["other_originals"] > 0 for r in kinds["unrelated"]),
        "wrong_original_named": sum(r["other_originals"] > 0 for r in rows if r["kind"] != "unrelated"),
        "errors": sum("error" in r for r in rows),
        "latency": _latency(rows),
    }


# --- floods -------------------------------------------------------------------------------------------------------


def floods_section(corpus: Corpus, quick: bool, started: float) -> dict[str, Any]:
    plans = floods(corpus, quick)
    _progress(f"floods: {len(plans)} ready", started)
    rows, registrations = [], []
    with fresh_registry() as registry:
        newsroom = Signer.create(registry, "Truth Bench Newsroom")
        copier = Signer.create(registry, "Truth Bench Second Publisher")
        for plan in plans:
            first, _ = newsroom.register(registry, plan.original.path.read_bytes(), plan.original.name)
            for what, path in plan.copies:
                registrations.append(_register_copy(registry, copier, path, what, first))
            for what, path in plan.checks:
                view, seconds = check(registry, path)
                ids = [m["registration_id"] for m in view["matches"]]
                later = [m for m in view["matches"] if m["registration_id"] != first]
                rows.append(
                    {
                        "original": plan.original.name,
                        "check": what,
                        "verdict": view["verdict"],
                        "first_is_first": bool(ids) and ids[0] == first,
                        "first_in_answer": first in ids,
                        "position": ids.index(first) if first in ids else None,
                        "matches": len(ids),
                        # later near-copies whose match names the first registration (None: no such field)
                        "later_naming_first": _rate(sum(_names(m, first) for m in later), len(later))
                        if later and any("prior_registrations" in m for m in later)
                        else None,
                        **seconds,
                    }
                )
    _progress("floods: checked", started)
    accepted = [r for r in registrations if r["accepted"]]
    with_field = [r for r in accepted if r["prior_registrations"] is not None]
    return {
        "floods": len(plans),
        "checks": len(rows),
        "first_is_first": _rate(sum(r["first_is_first"] for r in rows), len(rows)),
        "first_in_answer": _rate(sum(r["first_in_answer"] for r in rows), len(rows)),
        "copies_accepted": len(accepted),
        "copies_refused": len(registrations) - len(accepted),
        "copies_naming_first_registration": _rate(sum(r["prior_registrations"] for r in with_field), len(with_field))
        if with_field
        else None,
        "checks_whose_later_matches_all_name_first": sum(r["later_naming_first"] == 1.0 for r in rows)
        if any(r["later_naming_first"] is not None for r in rows)
        else None,
        "latency": _latency(rows),
        "checks_detail": rows,
        "registrations": registrations,
    }


def _register_copy(registry: Registry, signer: Signer, path: Path, what: str, first: str) -> dict[str, Any]:
    """Register a near-copy as the second publisher; whether it was accepted and whether its receipt names the
    first registration under `prior_registrations` (None: the field does not exist)."""
    data = path.read_bytes()
    statement = registration_statement(
        publisher_id=signer.publisher_id,
        key_id=signer.key_id,
        content=data,
        metadata={"title": what},
    )
    try:
        receipt = LocalTransport(registry).register(sign_statement(signer.key, statement), data)
    except RegistryError as exc:
        return {"copy": what, "accepted": False, "reason": type(exc).__name__, "prior_registrations": None}
    dumped = receipt.model_dump(mode="json")
    named = _names(dumped, first) if "prior_registrations" in dumped else None
    return {"copy": what, "accepted": True, "prior_registrations": named}


def _names(view: View, first: str) -> bool:
    """Whether a registration or match view lists `first` among its `prior_registrations`."""
    return any(first in str(entry) for entry in view.get("prior_registrations") or [])


# --- targets and report -------------------------------------------------------------------------------------------


def _meets(value: float, goal: str) -> bool:
    """Whether `value` meets a goal written as "<op> <bound>" (">= 0.98", "<= 0.02", "== 0"); "-" has none."""
    if goal == "-":
        return True
    op, bound = goal.split()
    return {">=": value >= float(bound), "<=": value <= float(bound), "==": value == float(bound)}[op]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 17's targets, and the figures the issue asks for beside them ("-": no target)."""
    found: list[dict[str, Any]] = []

    def add(name: str, value: Any, goal: str, n: int | None) -> None:
        found.append(
            {"target": name, "value": value, "goal": goal, "n": n, "met": value is not None and _meets(value, goal)}
        )

    video, photos, flood = results.get("video"), results.get("photos"), results.get("floods")
    if video:
        faithful = video["faithful"]
        add("faithful video excerpts: copy, no altered or audio span", faithful["clean_copy"], ">= 0.98", faithful["n"])
        for group in ("faithful_per_rate", "faithful_per_transform"):
            for key, figures in video[group].items():
                add(
                    f"  {key} fps" if group == "faithful_per_rate" else f"  {key}",
                    figures["clean_copy"],
                    ">= 0.98",
                    figures["n"],
                )
        add("painted spans: median temporal IoU", video["painted_iou_median"], ">= 0.85", video["painted"])
        add("painted spans: a region of the span on the box", video["painted_shows_change"], "== 1", video["painted"])
        add(
            "replaced sound (2-5 s) caught, IoU >= 0.5",
            video["sound_replaced_caught"],
            ">= 0.95",
            video["sound_replaced"],
        )
        add("faithful clips with an audio span", video["faithful_with_audio_span"], "<= 0.02", faithful["n"])
        add("inserted footage caught, IoU >= 0.5", video["inserted_caught"], "-", video["inserted"])
        add("unrelated clips with any match", video["unrelated_with_any_match"], "== 0", video["unrelated"])
    if photos:
        add("composites called copy", photos["composites_called_copy"], "== 0", photos["composites"])
        add(
            "composites altered, naming the original",
            photos["composites_altered_naming_original"],
            ">= 0.9",
            photos["composites"],
        )
        add("plain re-saves with a geometric claim", photos["resaves_with_geometric_claims"], "== 0", photos["resaves"])
        for word, figures in photos["claim_false_rates"].items():
            add(f"  '{word}' claimed when not done", figures["rate"], "<= 0.02", figures["n"])
        add(
            "same scene called copy or altered",
            photos["same_scene_called_copy_or_altered"],
            "== 0",
            photos["same_scene"],
        )
        add("unrelated photos with any match", photos["unrelated_with_any_match"], "== 0", photos["unrelated"])
    if flood:
        add("first registrant first after a flood", flood["first_is_first"], "== 1", flood["checks"])
    for name in SECTIONS:
        if name in results:
            latency = results[name]["latency"]
            seconds = f"{latency.get('check_s_p50')} / {latency.get('cpu_s_p50')}"
            add(f"{name}: check seconds p50, wall / this process's CPU", seconds, "-", latency["n"])
    return found


def _flat(figures: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Scalar figures, one row each, nested ones under dotted names (per-query lists are left to the JSON)."""
    for key, value in figures.items():
        if key == "claim_false_rates" or isinstance(value, list):
            continue
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", "-" if value is None else value


def report(results: dict[str, Any]) -> None:
    rows = [
        [t["target"], "-" if t["value"] is None else t["value"], t["goal"], t["n"], "yes" if t["met"] else "NO"]
        for t in results["targets"]
    ]
    print_table("truth: issue 17 targets", ["claim", "value", "target", "n", "met"], rows, digits=3)
    for section in SECTIONS:
        figures = results.get(section)
        if figures:
            print_table(f"truth: {section}", ["figure", "value"], list(_flat(figures)))
    photos = results.get("photos")
    if photos:
        print_table(
            "truth: photo transform words claimed when not done",
            ["word", "false", "n", "rate"],
            [[w, f["false"], f["n"], f["rate"]] for w, f in photos["claim_false_rates"].items()],
        )
    video = results.get("video")
    if video:
        print_table(
            "truth: video queries",
            ["query", "verdict", "picture spans", "audio spans", "s"],
            [
                [r["name"], r["verdict"], len(r.get("spans", [])), len(r.get("audio_spans", [])), r["check_s"]]
                for r in video["queries"]
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small subset: every frame rate once")
    parser.add_argument(
        "--every-query", action="store_true", help="with --quick: every video query of the full run, 30 s originals"
    )
    parser.add_argument("--only", choices=SECTIONS, help="one section")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "provreg-truth",
        help="where the corpus is kept between runs",
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    _threads.pin()
    started = time.perf_counter()
    corpus = Corpus(args.corpus, args.seed)
    video = partial(video_section, every_query=args.every_query)
    runners = {"photos": photos_section, "video": video, "floods": floods_section}
    results: dict[str, Any] = {
        "machine": machine_info(PACKAGES),
        "quick": args.quick,
        "every_query": args.every_query,
        "seed": args.seed,
        "corpus": str(corpus.root),
    }
    timings = {}
    for section in [args.only] if args.only else SECTIONS:
        section_started = time.perf_counter()
        results[section] = runners[section](corpus, args.quick, started)
        timings[section] = round(time.perf_counter() - section_started, 1)
    results["targets"] = targets(results)
    results["runtime_s"] = {
        **timings,
        "total": round(time.perf_counter() - started, 1),
        "of_which_making_corpus": round(corpus.made_s, 1),
    }
    results["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    report(results)
    write_json(args.out, results)


if __name__ == "__main__":
    main()
