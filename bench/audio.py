"""Sound of videos through the real check: false sound spans on faithful clips, replaced sound caught, its spans.

    python bench/audio.py [--originals 12] [--quick] [--out FILE]

Originals are 45 s videos with real sound (bench/_sound.py): speech read by espeak-ng (English, German, French and
Spanish voices), songs rendered by fluidsynth from General MIDI files written for the seed (melody, chords, bass,
drums; instruments vary), and speech over a song; the picture is footage panning over scikit-image's photos
(bench/video.py's `Footage`) at 24, 25 or 30 fps, the sound AAC 128 kb/s at 44.1 kHz stereo. Each is registered
through the real service (SQLite, content store, indexes) and every query goes through `registry.matching.check`, so
the sound is compared at whatever alignment the picture gives it: no stage is handed the truth.

Queries are 8-15 s excerpts at random offsets, the picture re-encoded with H.264, the sound re-encoded as
platforms do: AAC or Opus at 24-128 kb/s, 44.1 or 48 kHz, stereo or mono, -10 to +10 dB, and 0.8-1.25x speed
(picture and sound together; the sound with its pitch kept by `atempo`, or moved by resampling). Faithful ones keep
the original's sound; doctored ones replace 2-5 s of it with another espeak-ng voice (speech originals) or another
song (music originals), with silence (expected `audio_missing`), or replace the whole track; a dubbed one puts the
original's sound under other footage (found by sound alone). One thread.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import _threads
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from videoclips import Clip, encode

from bench import _sound
from bench._common import machine_info, print_table, write_json
from bench._signer import Signer
from bench.video import PHOTOS, Footage
from fingerprint.audio import AudioFingerprint, extract_audio, fingerprint_audio, match_audio
from registry import matching, views
from registry.runtime import Registry
from registry.settings import Settings

_threads.pin()
RESULTS = Path(__file__).parent / "results" / "audio.json"
ORIGINAL_SECONDS = 45.0
KINDS = ("speech", "music", "speech", "music", "speech_over_music", "speech")
FPS = (25, 30, 24)
# The faithful re-encodes, cycled over the originals: codec, bitrate (kb/s), rate, channels, gain (dB), speed
FAITHFUL = (
    _sound.Encoding("aac", 64, 44_100, 2),
    _sound.Encoding("aac", 96, 48_000, 1, gain_db=-10),
    _sound.Encoding("libopus", 24, 48_000, 2),
    _sound.Encoding("aac", 24, 44_100, 1, gain_db=6),
    _sound.Encoding("libopus", 64, 48_000, 1, gain_db=10),
    _sound.Encoding("aac", 64, 44_100, 2, tempo=1.1),
    _sound.Encoding("libopus", 32, 48_000, 2, tempo=0.8),
    _sound.Encoding("aac", 128, 48_000, 2, tempo=1.25, gain_db=-6),
    _sound.Encoding("aac", 64, 44_100, 2, resample=1.1),
    _sound.Encoding("libopus", 48, 48_000, 2, resample=0.9),
    _sound.Encoding("aac", 32, 48_000, 1, tempo=0.9),
    _sound.Encoding("libopus", 128, 48_000, 2, gain_db=-10),
)
DOCTORED = ("replaced", "silenced", "whole_track")
# Photos under the originals' footage, and those under the footage a dubbed copy puts over the original's sound (none
# of the originals', so that its frames match nothing)
ORIGINAL_PHOTOS, DUBBED_PHOTOS = PHOTOS[:-3], PHOTOS[-3:]


@dataclass(frozen=True)
class Original:
    name: str
    kind: str
    seed: int
    sound: np.ndarray  # at _sound.RATE
    clip: Clip
    registration_id: str


@dataclass(frozen=True)
class Query:
    original: Original
    category: str  # faithful, replaced, silenced, whole_track, dubbed
    encoding: _sound.Encoding
    duration: float
    offset: float  # original seconds at query time 0
    truth: tuple[float, float] | None  # query seconds whose sound is not the original's
    data: bytes


def sound_for(kind: str, seed: int, seconds: float) -> np.ndarray:
    """`seconds` of stereo sound at _sound.RATE."""
    if kind == "speech":
        voice = _sound.speech(seconds, seed=seed)[: round(seconds * _sound.RATE)]
        return np.repeat(voice[:, None], 2, axis=1)
    if kind == "music":
        return _sound.music(seconds, seed=seed)
    return _sound.mix(_sound.speech(seconds, seed=seed), _sound.music(seconds, seed=500 + seed), bed_gain=0.35)


def other_sound(kind: str, seed: int, seconds: float) -> np.ndarray:
    """What a doctored copy puts in: another voice over speech, another song over music."""
    return sound_for("music" if kind == "music" else "speech", 9000 + seed, seconds)


def register_originals(registry: Registry, count: int) -> list[Original]:
    client = Signer.create(registry, "Bench Newsroom").client(registry)
    groups = [ORIGINAL_PHOTOS[k::count] or ORIGINAL_PHOTOS for k in range(count)]
    originals = []
    for k in range(count):
        kind = KINDS[k % len(KINDS)]
        sound = sound_for(kind, k, ORIGINAL_SECONDS)
        footage = Footage(groups[k], seed=k, duration=ORIGINAL_SECONDS, size=(320, 180))
        clip = Clip(duration=ORIGINAL_SECONDS, footage=footage, fps=FPS[k % len(FPS)], crf=20)
        data = _sound.encode_sound(encode(clip), sound, _sound.Encoding("aac", 128, 44_100, 2))
        registration = client.register(data, {"title": f"bench audio original {k} ({kind})"})
        originals.append(Original(f"original-{k}", kind, k, sound, clip, registration.id))
    return originals


def make_queries(originals: list[Original], per_original: int) -> list[Query]:
    queries = []
    for k, original in enumerate(originals):
        rng = np.random.default_rng(100 + k)
        for q in range(per_original):
            encoding = FAITHFUL[(k * per_original + q) % len(FAITHFUL)]
            queries.append(_query(original, "faithful", encoding, rng))
        for category in DOCTORED:
            encoding = FAITHFUL[int(rng.integers(len(FAITHFUL)))]
            queries.append(_query(original, category, encoding, rng))
        queries.append(_query(original, "dubbed", FAITHFUL[k % len(FAITHFUL)], rng))
    return queries


def _query(original: Original, category: str, encoding: _sound.Encoding, rng: np.random.Generator) -> Query:
    speed = encoding.tempo * encoding.resample
    duration = float(rng.uniform(8, 15))
    offset = float(rng.uniform(1, ORIGINAL_SECONDS - duration * speed - 1))
    rate = _sound.RATE
    sound = original.sound[round(offset * rate) : round((offset + duration * speed) * rate)].copy()
    truth: tuple[float, float] | None = None
    if category in ("replaced", "silenced"):
        length = float(rng.uniform(2, 5))
        start = float(rng.uniform(0.5, duration - length - 0.5))
        truth = (start, start + length)
        lo, hi = round(start * speed * rate), round((start + length) * speed * rate)
        donor = other_sound(original.kind, original.seed, duration * speed + 1)
        if category == "silenced":
            donor = np.zeros_like(donor)
        sound[lo:hi] = donor[lo:hi]
    elif category == "whole_track":
        truth = (0.0, duration)
        sound = other_sound(original.kind, original.seed, duration * speed + 1)[: len(sound)]
    clip = replace(original.clip, duration=duration, offset=offset, speed=speed, crf=26)
    if category == "dubbed":
        clip = replace(clip, footage=Footage(DUBBED_PHOTOS, seed=7000 + original.seed, duration=40, size=(320, 180)))
    data = _sound.encode_sound(encode(clip), sound, encoding)
    return Query(original, category, encoding, duration, offset, truth, data)


def iou(spans: list[tuple[float, float]], truth: tuple[float, float]) -> float:
    """Temporal IoU of the union of disjoint `spans` with `truth`."""
    inter = sum(max(0.0, min(e, truth[1]) - max(s, truth[0])) for s, e in spans)
    union = sum(e - s for s, e in spans) + (truth[1] - truth[0]) - inter
    return inter / union if union > 0 else 0.0


def evaluate(registry: Registry, query: Query) -> dict[str, object]:
    with registry.session() as session:
        view = matching.check(session=session, registry=registry, content=query.data)
    match = next((m for m in view.matches if m.registration_id == query.original.registration_id), None)
    audio: views.AudioView | None = None if match is None else match.audio
    spans = [] if audio is None else [(s.kind, s.start, s.end) for s in audio.spans]
    expected = "audio_missing" if query.category == "silenced" else "audio_altered"
    row: dict[str, object] = {
        "original": query.original.name,
        "kind": query.original.kind,
        "fps": query.original.clip.fps,
        "category": query.category,
        "encoding": query.encoding.label(),
        "duration": round(query.duration, 2),
        "offset": round(query.offset, 3),
        "truth": query.truth,
        "found": match is not None,
        "verdict": None if match is None else match.verdict,
        "picture_spans": 0 if match is None else len(match.spans),
        "segments": [] if match is None else [(s.start, s.end, s.original_start, s.speed) for s in match.segments],
        "matched_by": None if audio is None else audio.matched_by,
        "similarity": None if audio is None else audio.similarity,
        "sound_segments": []
        if audio is None
        else [(s.start, s.end, s.original_start, s.lag, s.similarity) for s in getattr(audio, "segments", [])],
        "audio_spans": spans,
    }
    if query.truth is not None:
        hits = [(s, e) for kind, s, e in spans if kind == expected and min(e, query.truth[1]) > max(s, query.truth[0])]
        row["caught"] = bool(hits)
        row["iou"] = round(iou([(s, e) for kind, s, e in spans if kind == expected], query.truth), 3)
        row["spans_outside_truth"] = sum(1 for _, s, e in spans if min(e, query.truth[1]) <= max(s, query.truth[0]))
    return row


def share(rows: list[dict[str, object]], key: str) -> float | None:
    return round(float(np.mean([bool(r[key]) for r in rows])), 3) if rows else None


def median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 3) if values else None


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    faithful = [r for r in rows if r["category"] == "faithful" and r["found"]]
    kinds = [[str(kind) for kind, _, _ in r["audio_spans"]] for r in faithful]  # type: ignore[attr-defined]
    similarities = [float(r["similarity"]) for r in faithful if r["similarity"] is not None]  # type: ignore[arg-type]
    summary: dict[str, object] = {
        "faithful": sum(r["category"] == "faithful" for r in rows),
        "faithful_found": len(faithful),
        "faithful_with_audio_span": sum(bool(k) for k in kinds),
        "faithful_with_audio_altered": sum("audio_altered" in k for k in kinds),
        "faithful_with_audio_missing": sum("audio_missing" in k for k in kinds),
        "faithful_audio_span_rate": round(sum(bool(k) for k in kinds) / len(faithful), 3) if faithful else None,
        "faithful_similarity_min": min(similarities, default=None),
        "faithful_similarity_median": median(similarities),
        "faithful_verdict_copy": sum(r["verdict"] == "copy" for r in faithful),
    }
    groups = {category: [r for r in rows if r["category"] == category] for category in DOCTORED}
    for kind in ("speech", "music", "speech_over_music"):
        groups[f"replaced_{kind}"] = [r for r in groups["replaced"] if r["kind"] == kind]
    for name, chosen in groups.items():
        chosen = [r for r in chosen if r["found"]]
        summary[f"{name}_n"] = len(chosen)
        summary[f"{name}_caught_rate"] = share(chosen, "caught")
        summary[f"{name}_iou_median"] = median([float(r["iou"]) for r in chosen])  # type: ignore[arg-type]
        summary[f"{name}_spans_outside_truth"] = sum(int(r["spans_outside_truth"]) for r in chosen)  # type: ignore[call-overload]
    dubbed = [r for r in rows if r["category"] == "dubbed"]
    summary["dubbed"] = len(dubbed)
    summary["dubbed_found_by_sound"] = sum(r["matched_by"] == "audio" for r in dubbed)
    return summary


def speed_figures(original: Original) -> dict[str, float]:
    """Decode and fingerprint times of the 45 s original's sound; match time of a 10 s excerpt against it."""
    clip = _sound.encode_sound(None, original.sound, _sound.Encoding("aac", 128, 44_100, 2))
    excerpt = original.sound[10 * _sound.RATE : 20 * _sound.RATE]
    query = extract_audio(_sound.encode_sound(None, excerpt, _sound.Encoding("libopus", 32, 48_000, 2)), max_seconds=60)
    assert query is not None
    query_fp = fingerprint_audio(query)
    decode_s, fingerprint_s, match_s = [], [], []
    reference: AudioFingerprint | None = None
    for _ in range(5):
        t0 = time.perf_counter()
        audio = extract_audio(clip, max_seconds=600)
        t1 = time.perf_counter()
        assert audio is not None
        reference = fingerprint_audio(audio)
        t2 = time.perf_counter()
        match_audio(AudioFingerprint.from_bytes(reference.to_bytes()), query_fp)
        match_s.append(time.perf_counter() - t2)
        decode_s.append(t1 - t0)
        fingerprint_s.append(t2 - t1)
    assert reference is not None
    decode, fingerprint, match = (float(np.median(v)) for v in (decode_s, fingerprint_s, match_s))
    return {
        "decode_x_realtime": round(ORIGINAL_SECONDS / decode, 1),
        "fingerprint_x_realtime": round(ORIGINAL_SECONDS / fingerprint, 1),
        "match_10s_excerpt_ms": round(match * 1000, 1),
        "stored_bytes_per_second": round(len(reference.to_bytes()) / ORIGINAL_SECONDS, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=12)
    parser.add_argument("--faithful", type=int, default=6, help="faithful excerpts per original")
    parser.add_argument("--quick", action="store_true", help="4 originals, 3 faithful excerpts each")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not _sound.available():
        sys.exit("needs espeak-ng, fluidsynth and /usr/share/sounds/sf2/FluidR3_GM.sf2 (Debian packages)")
    count, per_original = (4, 3) if args.quick else (args.originals, args.faithful)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry.open(Settings(_env_file=None, data_dir=Path(tmp), database_url=None))
        registry.load()
        try:
            originals = register_originals(registry, count)
            queries = make_queries(originals, per_original)
            check_started = time.perf_counter()
            rows = []
            for number, query in enumerate(queries, 1):
                rows.append(evaluate(registry, query))
                print(f"{number}/{len(queries)} {query.original.name} {query.category}", file=sys.stderr, flush=True)
            check_seconds = time.perf_counter() - check_started
        finally:
            registry.close()
    summary = summarise(rows)
    summary["check_seconds_mean"] = round(check_seconds / len(rows), 2)
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    speed = speed_figures(originals[0])
    print_table(
        "audio: per query",
        ["original", "kind", "category", "encoding", "sim", "spans", "caught", "iou"],
        [
            [
                r["original"],
                r["kind"],
                r["category"],
                r["encoding"],
                r["similarity"],
                len(r["audio_spans"]),
                r.get("caught", ""),
                r.get("iou", ""),
            ]  # type: ignore[arg-type]
            for r in rows
        ],
    )
    print_table("audio: summary", ["figure", "value"], [[k, v] for k, v in {**summary, **speed}.items()])
    write_json(
        args.out,
        {
            "machine": machine_info(["av", "numpy", "opencv-python-headless"]),
            "corpus": "espeak-ng speech (en, de, fr, es voices), fluidsynth FluidR3_GM songs, speech over songs",
            "summary": summary,
            "speed": speed,
            "queries": rows,
        },
    )


if __name__ == "__main__":
    main()
