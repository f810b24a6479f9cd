"""Measure the classical manipulation signals (`detector/signals.py`) on clean photos and on splices of them.

    python bench/detector_signals.py [--out FILE] [--seeds 0 1]

Clean: every bundled natural photo (scikit-image, scikit-learn, matplotlib), saved as JPEG at qualities 70, 85 and
95, once and after a first save at quality 88 (a re-posted JPEG). Spliced: each photo with a rectangle (18-32% of
its shorter side) cut from another photo pasted in; the rectangle is first rescaled (x0.6-1.5) or re-encoded at
another JPEG quality (60-95) at an arbitrary offset, as a pasted piece of another picture would be; the result is
saved at the same qualities. Reported per signal: its largest clean score (where its threshold must sit above),
the share of clean images it fires on, and the share of splices it fires on. The thresholds were chosen on seed 0's
splices (above every clean score, with a margin); seed 1's splices are new ones, not seen when choosing. One
thread; deterministic (seeded).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import _threads
import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.derivatives_corpus import load_photos
from detector import signals

_threads.pin()
RESULTS = Path(__file__).parent / "results" / "detector_signals.json"
PHOTOS = (
    "astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "motorcycle_left", "retina", "brick", "grass",
    "gravel", "china", "flower", "grace_hopper", "hubble_deep_field", "ihc", "horse", "moon",
)  # fmt: skip
QUALITIES = (70, 85, 95)
_SIDE = 1024  # the registry's working side: larger photos are assessed at this size


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def splice(target: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`target` with a rectangle of `donor` pasted in, rescaled or re-encoded off-grid on the way."""
    h, w = target.shape[:2]
    side = int(min(h, w) * rng.uniform(0.18, 0.32))
    rw, rh = side, int(side * rng.uniform(0.7, 1.3))
    if rng.random() < 0.5:
        factor = rng.uniform(0.6, 1.5)
        sy, sx = int(rh / factor), int(rw / factor)
        sy, sx = min(sy, donor.shape[0] - 1), min(sx, donor.shape[1] - 1)
        y0, x0 = rng.integers(0, donor.shape[0] - sy), rng.integers(0, donor.shape[1] - sx)
        piece = cv2.resize(donor[y0 : y0 + sy, x0 : x0 + sx], (rw, rh), interpolation=cv2.INTER_LINEAR)
    else:
        shifted = jpeg(donor, int(rng.integers(60, 96)))
        y0, x0 = rng.integers(0, donor.shape[0] - rh), rng.integers(0, donor.shape[1] - rw)
        piece = shifted[y0 : y0 + rh, x0 : x0 + rw]
    out = target.copy()
    ty, tx = rng.integers(0, h - rh), rng.integers(0, w - rw)
    out[ty : ty + rh, tx : tx + rw] = piece
    return out


def corpus(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    photos = []
    for photo in load_photos(PHOTOS):
        pixels = photo.pixels
        factor = _SIDE / max(pixels.shape[:2])
        if factor < 1:
            pixels = cv2.resize(pixels, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        photos.append(pixels)
    clean, spliced = [], []
    for i, target in enumerate(photos):
        donor = photos[(i + 1 + int(rng.integers(0, len(photos) - 1))) % len(photos)]
        doctored = splice(target, donor, rng)
        for quality in QUALITIES:
            clean += [jpeg(target, quality), jpeg(jpeg(target, 88), quality)]  # saved once, and re-saved
            spliced.append(jpeg(doctored, quality))
    return clean, spliced


def measure(seed: int) -> dict[str, object]:
    clean, spliced = corpus(seed)
    clean_results = [_by_name(signals.compute_signals(image)) for image in clean]
    spliced_results = [_by_name(signals.compute_signals(image)) for image in spliced]
    report: dict[str, object] = {
        "seed": seed,
        "clean_images": len(clean),
        "spliced_images": len(spliced),
        "signals": {},
    }
    for name in signals.THRESHOLDS:
        clean_scores = [r[name].signal.score for r in clean_results]
        report["signals"][name] = {  # type: ignore[index]
            "threshold": {"z": signals.THRESHOLDS[name].z, "share": signals.THRESHOLDS[name].share},
            "clean_max_score": round(max(clean_scores), 4),
            "clean_fired": round(float(np.mean([r[name].signal.fired for r in clean_results])), 4),
            "spliced_fired": round(float(np.mean([r[name].signal.fired for r in spliced_results])), 4),
        }
    report["any_clean_fired"] = _any_fired(clean_results)
    report["any_spliced_fired"] = _any_fired(spliced_results)
    return report


def _by_name(results: list[signals.SignalResult]) -> dict[str, signals.SignalResult]:
    return {result.signal.name: result for result in results}


def _any_fired(results: list[dict[str, signals.SignalResult]]) -> float:
    return round(float(np.mean([any(s.signal.fired for s in r.values()) for r in results])), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="0 chose the thresholds; others test")
    args = parser.parse_args()
    report = {"runs": [measure(seed) for seed in args.seeds]}
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
