"""The sound kind's candidate ranking at scale: one inverted landmark index against the per-original scan it replaced.

    python bench/sound_index.py [--distractors N] [--cache DIR] [--out FILE]

Stored sounds are bench/sound_only.py's 10 real originals (espeak-ng speech and fluidsynth songs, 37 min) and N
distractors made from them: each is one original's landmarks at a speed far outside the ones a clip is ranked under
(0.35-0.75x or 1.35-2.8x, each distractor its own), so it has the landmark density and structure of real sound but
hashes of its own (N = 1,000 is about 60 h of sound). Queries are that benchmark's faithful clips (MP3 64 kb/s or
Opus 24 kb/s, 0.9-1.1x), fingerprinted by `SoundKind.query`. For each query: the rank of its original and the time
of `LandmarkIndex.rank` over everything, and (on the first few queries, it is slow) the time of the scan it
replaced, `offset_votes` on every stored blob read back. One thread.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bench._threads  # noqa: F401  (first: one thread per numeric library)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine_info, write_json
from bench.sound_only import LIMITS, ORIGINALS, build
from fingerprint.audio import AudioFingerprint
from fingerprint.kinds.sound import SoundKind
from fingerprint.sound.rank import ClipHashes, LandmarkIndex, offset_votes

RESULTS = Path(__file__).parent / "results" / "sound_index.json"
SCANNED_QUERIES = 5


def distractor(original: AudioFingerprint, number: int, count: int) -> AudioFingerprint:
    """`original`'s landmarks played at a speed far outside the hypotheses a clip is ranked under (0.35-0.75x or
    1.35-2.8x, a different one for each `number` of `count`, its pitch moved by the square root of it): the density
    and structure of real sound, with hashes of its own."""
    step = (number + 0.5) / count
    speed = 1.35 * (2.8 / 1.35) ** step if number % 2 else 0.75 * (0.35 / 0.75) ** step
    frames = np.round(original.frames.astype(np.float64) * speed).astype(np.uint32)
    bins = np.clip(np.round(original.bins.astype(np.float64) * speed**0.5), 0, 255).astype(np.uint8)
    return AudioFingerprint(
        original.rate, original.hop, original.n_fft, original.start, frames, bins, original.loudness
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "provreg-sound-only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    originals, queries = build(args.cache / "full", tuple(o[0] for o in ORIGINALS))
    kind = SoundKind()
    stored: dict[str, AudioFingerprint] = {}
    for name, path in sorted(originals.items()):
        data = path.read_bytes()
        fp = kind.reference(kind.decode(data, LIMITS), sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        assert fp.audio is not None
        stored[name] = fp.audio
    names = sorted(stored)
    per_original = -(-args.distractors // len(names))
    for n in range(args.distractors):
        stored[f"distractor-{n:05d}"] = distractor(stored[names[n % len(names)]], n // len(names), per_original)
    blobs = {name: fp.to_bytes() for name, fp in stored.items()}
    started = time.perf_counter()
    index = LandmarkIndex()
    owners = sorted(stored)
    for owner, name in enumerate(owners):
        index.add(owner, AudioFingerprint.from_bytes(blobs[name]))
    index.rank(ClipHashes(np.zeros(0, np.uint32), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1)), limit=1)
    build_seconds = time.perf_counter() - started
    rows = []
    for number, query in enumerate(q for q in queries if q.category == "faithful"):
        data = Path(query.path).read_bytes()
        fp = kind.query(kind.decode(data, LIMITS), sha256=hashlib.sha256(data).hexdigest(), size=len(data), local=True)
        assert fp.audio is not None
        clip = ClipHashes.of(fp.audio)
        started = time.perf_counter()
        ranked = index.rank(clip, limit=6)
        rank_ms = (time.perf_counter() - started) * 1000
        top = [owners[owner] for owner, _ in ranked]
        row = {"query": query.name, "original": query.original, "rank_ms": round(rank_ms, 2), "top": top[:3]}
        row["position"] = top.index(query.original) if query.original in top else None
        if number < SCANNED_QUERIES:
            started = time.perf_counter()
            scores = {name: offset_votes(AudioFingerprint.from_bytes(blob), clip) for name, blob in blobs.items()}
            row["scan_ms"] = round((time.perf_counter() - started) * 1000, 1)
            row["scan_top"] = sorted(scores, key=lambda name: (-scores[name], name))[:3]
        rows.append(row)
        print(row, flush=True)
    rank_times = [r["rank_ms"] for r in rows]
    scan_times = [r["scan_ms"] for r in rows if "scan_ms" in r]
    summary = {
        "stored": len(stored),
        "stored_hours": round(_hours(stored), 1),
        "pair_hashes": len(index),
        "build_seconds": round(build_seconds, 1),
        "queries": len(rows),
        "original_first": sum(r["position"] == 0 for r in rows),
        "original_in_candidates": sum(r["position"] is not None for r in rows),
        "rank_ms_median": round(float(np.median(rank_times)), 1),
        "rank_ms_p95": round(float(np.percentile(rank_times, 95)), 1),
        "scan_ms_median": round(float(np.median(scan_times)), 1) if scan_times else None,
        "scan_and_index_agree_on_top": sum(r["scan_top"][0] == r["top"][0] for r in rows if "scan_top" in r),
    }
    print(summary)
    write_json(
        args.out, {"benchmark": "sound_index", "summary": summary, "queries": rows, "machine": machine_info(["numpy"])}
    )


def _hours(stored: dict[str, AudioFingerprint]) -> float:
    return sum(float(fp.frames[-1]) * fp.hop / fp.rate for fp in stored.values() if len(fp.frames)) / 3600


if __name__ == "__main__":
    main()
