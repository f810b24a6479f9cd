"""Audio of videos: voice-swap detection, audio-only matching, false matches and fingerprint speed.

    python bench/audio.py [--cases 20] [--out FILE]

Each case is a generated speech-like original of 60-90 s (its own voice: pitch, intonation, syllable rate), muxed
as MP4/AAC and registered; the queries are 8-15 s excerpts at random offsets, re-encoded with a different codec and
bitrate (AAC 24-32 kb/s, Opus 16-24 kb/s), at another volume, every third one sped up 0.8-1.25x with pitch kept,
and in the doctored copy 2 s replaced by another voice. The comparison gets the true alignment, as the video check
passes it the frames' alignment; audio-only matching has to find it. One thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from audioclips import RATE, Voice, change_tempo, mux, speech, swap

from bench._common import machine_info, print_table, write_json
from fingerprint.audio import AudioFingerprint, compare_segment, extract_audio, fingerprint_audio, match_audio

RESULTS = Path(__file__).parent / "results" / "audio.json"
CODECS = (
    {"container": "mp4", "codec": "aac", "bitrate": 32_000},
    {"container": "webm", "codec": "libopus", "codec_rate": 48_000, "bitrate": 24_000},
    {"container": "mp4", "codec": "aac", "bitrate": 24_000},
    {"container": "webm", "codec": "libopus", "codec_rate": 48_000, "bitrate": 16_000},
)
SWAP_SECONDS = 2.0


@dataclass(frozen=True)
class Case:
    reference: AudioFingerprint
    original_seconds: float
    genuine: AudioFingerprint
    swapped: AudioFingerprint
    silenced: AudioFingerprint
    excerpt_start: float  # original seconds at query time 0
    speed: float  # original seconds per query second
    query_seconds: float
    swap: tuple[float, float]  # query seconds
    codec: str


def fingerprint_clip(data: bytes) -> AudioFingerprint:
    audio = extract_audio(data, max_seconds=600)
    assert audio is not None
    return fingerprint_audio(audio)


def random_voice(rng: np.random.Generator) -> Voice:
    return Voice(
        pitch=float(rng.uniform(90, 230)),
        pitch_range=float(rng.uniform(10, 45)),
        syllable_rate=float(rng.uniform(3.4, 5)),
    )


def make_case(index: int) -> Case:
    rng = np.random.default_rng(1000 + index)
    seconds = float(rng.uniform(60, 90))
    samples = speech(seconds, seed=index, voice=random_voice(rng))
    reference = fingerprint_clip(mux(samples))
    length = float(rng.uniform(8, 15))
    start = float(rng.uniform(0, seconds - length * 1.25 - 1))
    speed = float(rng.uniform(0.8, 1.25)) if index % 3 == 2 else 1.0
    excerpt = samples[round(start * RATE) : round((start + length) * RATE)] * float(rng.uniform(0.3, 1.8))
    excerpt = np.clip(excerpt, -1, 1).astype(np.float32)
    donor = speech(length, seed=5000 + index, voice=random_voice(rng))
    swap_at = float(rng.uniform(1, length - SWAP_SECONDS - 1))
    swapped = swap(excerpt, donor, swap_at, swap_at + SWAP_SECONDS)
    silenced = swap(excerpt, np.zeros_like(donor), swap_at, swap_at + SWAP_SECONDS)
    codec = CODECS[index % len(CODECS)]

    def query(x: np.ndarray) -> AudioFingerprint:
        return fingerprint_clip(mux(change_tempo(x, speed) if speed != 1.0 else x, **codec))  # type: ignore[arg-type]

    return Case(
        reference=reference,
        original_seconds=seconds,
        genuine=query(excerpt),
        swapped=query(swapped),
        silenced=query(silenced),
        excerpt_start=start,
        speed=speed,
        query_seconds=length / speed,
        swap=(swap_at / speed, (swap_at + SWAP_SECONDS) / speed),
        codec=f"{codec['codec']} {int(codec['bitrate']) // 1000}k",
    )


def iou(span: tuple[float, float], truth: tuple[float, float]) -> float:
    overlap = max(0.0, min(span[1], truth[1]) - max(span[0], truth[0]))
    return overlap / (max(span[1], truth[1]) - min(span[0], truth[0]))


def evaluate(case: Case) -> dict[str, object]:
    def compare(query: AudioFingerprint) -> list[tuple[float, float, str]]:
        comparison = compare_segment(
            case.reference,
            query,
            query_start=0.0,
            query_end=case.query_seconds,
            original_start=case.excerpt_start,
            speed=case.speed,
        )
        return [(s.start, s.end, s.kind) for s in comparison.spans]

    def best_iou(spans: list[tuple[float, float, str]], kind: str) -> float:
        return max((iou((s, e), case.swap) for s, e, k in spans if k == kind), default=0.0)

    row: dict[str, object] = {"codec": case.codec, "speed": round(case.speed, 3), "swap": case.swap}
    genuine, swapped, silenced = compare(case.genuine), compare(case.swapped), compare(case.silenced)
    row["genuine_spans"] = genuine
    row["swap_iou"] = round(best_iou(swapped, "audio_altered"), 3)
    row["swap_extra_spans"] = sum(1 for s, e, _ in swapped if iou((s, e), case.swap) == 0)
    row["silenced_iou"] = round(best_iou(silenced, "audio_missing"), 3)
    for name, query in (("genuine", case.genuine), ("swapped", case.swapped)):
        match = match_audio(case.reference, query)
        row[f"{name}_offset_error"] = None if match is None else round(abs(match.offset - case.excerpt_start), 3)
        row[f"{name}_speed_error"] = None if match is None else round(abs(match.speed - case.speed), 4)
    return row


def speed_figures() -> dict[str, float]:
    """Decode and fingerprint times of a 60 s clip; match times of a 10 s excerpt and of unrelated 10 s against it."""
    samples = speech(60, seed=7, voice=Voice(130, 30, 4))
    clip = mux(samples)
    query = fingerprint_clip(mux(samples[20 * RATE : 30 * RATE], **CODECS[1]))  # type: ignore[arg-type]
    unrelated = fingerprint_clip(mux(speech(10, seed=8, voice=Voice(190, 30, 4))))
    decode_s, fingerprint_s, match_s, miss_s = [], [], [], []
    for _ in range(5):
        t0 = time.perf_counter()
        audio = extract_audio(clip, max_seconds=600)
        t1 = time.perf_counter()
        assert audio is not None
        reference = fingerprint_audio(audio)
        t2 = time.perf_counter()
        match_audio(AudioFingerprint.from_bytes(reference.to_bytes()), query)
        t3 = time.perf_counter()
        match_audio(reference, unrelated)
        miss_s.append(time.perf_counter() - t3)
        decode_s.append(t1 - t0)
        fingerprint_s.append(t2 - t1)
        match_s.append(t3 - t2)
    decode, fingerprint, match, miss = (float(np.median(v)) for v in (decode_s, fingerprint_s, match_s, miss_s))
    return {
        "decode_x_realtime": round(60 / decode, 1),
        "fingerprint_x_realtime": round(60 / fingerprint, 1),
        "decode_and_fingerprint_x_realtime": round(60 / (decode + fingerprint), 1),
        "match_10s_excerpt_against_60s_ms": round(match * 1000, 1),
        "match_10s_unrelated_against_60s_ms": round(miss * 1000, 1),
        "stored_bytes_per_second": round(len(reference.to_bytes()) / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cases = [make_case(i) for i in range(args.cases)]
    rows = [evaluate(case) for case in cases]
    # False matches: every genuine query against every other case's original (other voice, other words).
    false_matches = sum(
        match_audio(other.reference, case.genuine) is not None
        for i, case in enumerate(cases)
        for j, other in enumerate(cases)
        if i != j
    )
    pairs = len(cases) * (len(cases) - 1)
    swap_ious = [float(r["swap_iou"]) for r in rows]  # type: ignore[arg-type]
    offsets = [r["swapped_offset_error"] for r in rows]
    summary = {
        "cases": len(cases),
        "swap_detected_rate": round(float(np.mean([v >= 0.5 for v in swap_ious])), 3),
        "swap_iou_median": round(float(np.median(swap_ious)), 3),
        "swap_iou_at_least_0_8_rate": round(float(np.mean([v >= 0.8 for v in swap_ious])), 3),
        "swap_extra_spans": sum(int(r["swap_extra_spans"]) for r in rows),  # type: ignore[call-overload]
        "genuine_with_any_span": sum(bool(r["genuine_spans"]) for r in rows),
        "silenced_detected_rate": round(float(np.mean([float(r["silenced_iou"]) >= 0.5 for r in rows])), 3),  # type: ignore[arg-type]
        "audio_only_found_rate_swapped": round(float(np.mean([o is not None and o <= 0.1 for o in offsets])), 3),  # type: ignore[operator]
        "audio_only_offset_error_max": max((float(o) for o in offsets if o is not None), default=None),  # type: ignore[arg-type]
        "false_matches": false_matches,
        "unrelated_pairs": pairs,
    }
    speed = speed_figures()
    print_table(
        "audio: per case",
        ["case", "codec", "speed", "swap IoU", "offset err", "genuine spans"],
        [
            [i, r["codec"], r["speed"], r["swap_iou"], r["swapped_offset_error"], len(r["genuine_spans"])]  # type: ignore[arg-type]
            for i, r in enumerate(rows)
        ],
    )
    print_table("audio: summary", ["figure", "value"], [[k, v] for k, v in {**summary, **speed}.items()])
    write_json(
        args.out,
        {
            "machine": machine_info(["av", "numpy", "opencv-python-headless"]),
            "summary": summary,
            "speed": speed,
            "cases": rows,
        },
    )


if __name__ == "__main__":
    main()
