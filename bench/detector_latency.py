"""Latency of the committed manipulation model on one thread: `score` per image (issue 11 target: <= 50 ms at
224 px) and a whole video assessment per 10 s of video (target: <= 1 s).

    python bench/detector_latency.py [--rounds N] [--video-rounds N] [--out FILE]

Inputs: crops of the bundled test photos at 224 px, plus a 1024 px photo (resizing to the model's input is part of
`score`). The model runs two views (the image and its mirror) per call. Video: 10 s test clips (tests/videoclips.py,
H.264 at 15 fps) at 360p and 720p, assessed as `check` does (`registry.assessment.DetectorAssessor`: decoding the
default 16 evenly spread frames in one streaming pass, then `detector.assess_video`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _threads
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from videoclips import Clip, encode

from bench._common import interleaved, machine_info, print_table, summarize, write_json
from detector.model import load_default
from fingerprint.video.decode import VideoLimits, probe
from registry.assessment import DetectorAssessor, committed_model

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
TARGET_MS = 50.0
TARGET_VIDEO_MS_PER_10S = 1000.0
VIDEO_SIZES = {"360p": (640, 360), "720p": (1280, 720)}


def _photo(name: str, side: int) -> np.ndarray:
    with Image.open(DATA / name) as image:
        return np.asarray(image.convert("RGB").resize((side, side)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--video-rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detector.json")
    args = parser.parse_args()
    _threads.pin()
    model = load_default()
    if model is None:
        raise SystemExit("no committed weights under detector/weights: run `provreg detector train` first")
    names = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")
    photos = [{side: _photo(name, side) for side in (224, 1024)} for name in names]
    samples = interleaved(
        {
            "score_224px": lambda photo: model.score(photo[224]),
            "score_1024px": lambda photo: model.score(photo[1024]),
        },
        photos,
        rounds=args.rounds,
    )
    results = {name: summarize(values) for name, values in samples.items()}
    # On a shared machine wall time counts the waits for a core; the process's CPU time per call does not.
    cpu_ms = []
    for _ in range(args.rounds):
        for photo in photos:
            started = time.process_time_ns()
            model.score(photo[224])
            cpu_ms.append((time.process_time_ns() - started) / 1e6)
    results["score_224px_cpu_time"] = summarize(cpu_ms)
    results |= _video_latency(args.video_rounds)
    result = {
        "model_version": model.version,
        "input_size": model.input_size,
        "threads": torch.get_num_threads(),
        "target_ms_224px": TARGET_MS,
        "target_met_wall": results["score_224px"]["median_ms"] <= TARGET_MS,
        "target_met_cpu_time": results["score_224px_cpu_time"]["median_ms"] <= TARGET_MS,
        "target_ms_per_10s_video": TARGET_VIDEO_MS_PER_10S,
        "target_met_video_cpu_time": all(
            results[f"assess_video_10s_{name}_cpu_time"]["median_ms"] <= TARGET_VIDEO_MS_PER_10S for name in VIDEO_SIZES
        ),
        "latency": results,
        "note": "score: per call, resize to the input size, two views (image and mirror), heat-map at full size, no "
        "decoding; assess_video_10s: per 10 s clip, decoding and sampling 16 frames, faces, signals and the model on "
        "each, and the aggregation",
        "machine": machine_info(["torch", "efficientnet-lite-pytorch", "opencv-python-headless", "numpy"]),
    }
    write_json(args.out, result)
    print_table(
        f"detector {model.version} on {torch.get_num_threads()} thread",
        ("case", "median ms", "p95 ms"),
        [(name, r["median_ms"], r["p95_ms"]) for name, r in results.items()],
    )


def _video_latency(rounds: int) -> dict[str, dict[str, float]]:
    """Wall and CPU milliseconds of one whole video assessment per 10 s clip, as `check` runs it."""
    assessor = DetectorAssessor(committed_model)
    results = {}
    for name, (width, height) in VIDEO_SIZES.items():
        video = probe(encode(Clip(duration=10.0, width=width, height=height)), VideoLimits())
        assessor(video, None)  # warm-up: loads the model and the face detector
        wall, cpu = [], []
        for _ in range(rounds):
            started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
            assessment = assessor(video, None)
            wall.append((time.perf_counter_ns() - started) / 1e6)
            cpu.append((time.process_time_ns() - started_cpu) / 1e6)
            assert assessment is not None and assessment.frames == assessor.video_frames
        results[f"assess_video_10s_{name}"] = summarize(wall)
        results[f"assess_video_10s_{name}_cpu_time"] = summarize(cpu)
    return results


if __name__ == "__main__":
    main()
