"""Sound-only media at the kind level: clips found in 1-10 min originals, spliced-in speech caught, unrelated sound not.

    python bench/sound_only.py [--quick] [--registry] [--cache DIR] [--out FILE]

Originals (1-10 min) are speech read by espeak-ng in several voices and languages (sentences composed here from
phrases, so a long original does not repeat itself), songs fluidsynth renders from General MIDI files written for
the seed (bench/truth_media.py's), and speech over a song; each is registered as WAV, FLAC, MP3 128 kb/s, M4A (AAC
128 kb/s) or Ogg Opus 64 kb/s, by ffmpeg. Queries are 5-30 s clips of the original sound made by ffmpeg as a
platform or an editor would: MP3 64 kb/s or Ogg Opus 24 kb/s, at 0.9-1.1x speed (`atempo`, pitch kept, or
resampled, pitch moved); faithful ones, ones with 2 s of another voice spliced in (the clip grows by 2 s), ones
with 2 s replaced by another voice, and ones with 1.5 s of words cut out. Negatives are unrelated speech (other
voices and texts) and unrelated songs.

Measured at the kind level, with no ground truth handed to any stage: each original is decoded and fingerprinted by
`SoundKind.reference` (its landmarks stored and read back as bytes, as the registry would), each query by
`SoundKind.query`, and `SoundKind.analyse` verifies it against every original (the candidate list is the whole
set). `--registry` runs the same corpus end to end instead: each original registered in a real `Registry` (a
temporary one), each query checked by `registry.matching.check` (its candidate search, analysis and view), and the
findings read back from the check's JSON view (`MatchView.facts`). One thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import truth_media
from bench._common import machine_info, print_table, write_json
from fingerprint.audio import AudioFingerprint
from fingerprint.kinds import DecodeLimits, Fingerprint, MatchCandidate
from fingerprint.kinds.sound import SoundKind, shared
from fingerprint.sound import SoundMatch, SoundMedia, SoundSegment, SoundSpan

RESULTS = Path(__file__).parent / "results" / "sound_only.json"
REGISTRY_RESULTS = Path(__file__).parent / "results" / "sound_only_registry.json"
RATE = 44_100
FFMPEG = truth_media.FFMPEG
CORPUS_VERSION = 1
LIMITS = DecodeLimits(max_pixels=50_000_000)
# (name, kind, voice, seconds, registered as)
ORIGINALS = (
    ("speech-en-us", "speech", "en-us", 60, "wav"),
    ("speech-en-gb", "speech", "en-gb+f3", 90, "flac"),
    ("speech-de", "speech", "de+m2", 120, "mp3"),
    ("music-a", "music", None, 150, "m4a"),
    ("speech-fr", "speech", "fr+f1", 180, "opus"),
    ("speech-es", "speech", "es+m6", 240, "wav"),
    ("music-b", "music", None, 300, "flac"),
    ("speech-en-us-m3", "speech", "en-us+m3", 420, "mp3"),
    ("report-scotland", "speech_over_music", "en-gb-scotland+m1", 600, "m4a"),
    ("music-c", "music", None, 75, "opus"),
)
QUICK = ("speech-en-us", "speech-en-gb", "music-a", "music-c")
# Other voices for spliced-in, replacing and unrelated speech: none reads an original's text
OTHER_VOICES = ("en-us+f4", "en-gb-x-rp+m7", "de+f3", "es+f5", "it+m5", "nl+f2", "en-us+klatt2", "fr+m4")
ENCODINGS = {"mp3": ("libmp3lame", "64k", "mp3"), "opus": ("libopus", "24k", "ogg")}
SPEEDS = (0.9, 0.95, 1.05, 1.1)
OFFSET_TOLERANCE = 0.1
MIN_IOU = 0.8

# Phrases composed into sentences: subject, action, object, when/where (a long original never repeats a sentence).
_PHRASES = {
    "en": (
        (
            "The council",
            "A spokesperson for the hospital",
            "The regional authority",
            "Local volunteers",
            "The minister of transport",
            "Residents of the northern district",
            "The head of the fire service",
            "A group of farmers",
            "The university's research team",
            "Police officers",
            "The museum's director",
            "Two witnesses",
        ),
        (
            "confirmed plans for",
            "raised concerns about",
            "voted against",
            "published a report on",
            "asked for more money for",
            "described the damage to",
            "promised a full inquiry into",
            "celebrated the opening of",
            "warned of delays to",
            "called for an end to",
            "inspected the remains of",
            "refused to comment on",
        ),
        (
            "the new bridge across the river",
            "the old railway line",
            "the flooded car park",
            "the harbour's eastern pier",
            "the grain harvest",
            "the hospital's new wing",
            "the closed primary school",
            "the wind farm off the coast",
            "the market in the central square",
            "the damaged water main",
            "the mountain road",
            "the library's rare books",
        ),
        (
            "on Tuesday evening",
            "after a long meeting",
            "late last night",
            "early this morning",
            "before the storm arrived",
            "despite the heavy rain",
            "in front of a crowd of reporters",
            "for the third time this year",
            "in a statement on Friday",
            "while the roads were still closed",
            "at a press conference",
            "three weeks ahead of schedule",
        ),
    ),
    "de": (
        ("Der Stadtrat", "Die Feuerwehr", "Eine Sprecherin der Klinik", "Die Anwohner", "Der Minister", "Die Polizei"),
        ("beriet über", "kritisierte", "lobte", "untersuchte", "forderte Geld für", "sprach über"),
        ("die neue Brücke", "den alten Bahnhof", "die Hafenmauer", "das Museum", "die Landstraße", "den Markt"),
        ("am Dienstagabend", "nach langer Sitzung", "am frühen Morgen", "trotz des Regens", "vor der Presse", "erneut"),
    ),
    "fr": (
        ("Le conseil municipal", "Les pompiers", "Une porte-parole", "Les habitants", "Le ministre", "La police"),
        ("a discuté de", "a critiqué", "a salué", "a inspecté", "a demandé des fonds pour", "a parlé de"),
        ("du nouveau pont", "de la vieille gare", "du port", "du musée", "de la route nationale", "du marché"),
        ("mardi soir", "après une longue réunion", "tôt ce matin", "malgré la pluie", "devant la presse", "encore"),
    ),
    "es": (
        ("El ayuntamiento", "Los bomberos", "Una portavoz", "Los vecinos", "El ministro", "La policía"),
        ("habló sobre", "criticó", "celebró", "inspeccionó", "pidió dinero para", "discutió"),
        ("el nuevo puente", "la vieja estación", "el puerto", "el museo", "la carretera", "el mercado"),
        ("el martes por la noche", "tras una larga reunión", "esta mañana", "a pesar de la lluvia", "ante la prensa"),
    ),
    "it": (
        ("Il consiglio comunale", "I vigili del fuoco", "Una portavoce", "Gli abitanti"),
        ("ha discusso", "ha criticato", "ha visitato", "ha chiesto fondi per"),
        ("il nuovo ponte", "la vecchia stazione", "il porto", "il museo"),
        ("martedì sera", "dopo una lunga riunione", "stamattina", "nonostante la pioggia"),
    ),
    "nl": (
        ("De gemeenteraad", "De brandweer", "Een woordvoerster", "De bewoners"),
        ("sprak over", "bekritiseerde", "bezocht", "vroeg geld voor"),
        ("de nieuwe brug", "het oude station", "de haven", "het museum"),
        ("dinsdagavond", "na een lange vergadering", "vanochtend", "ondanks de regen"),
    ),
}


@dataclass(frozen=True)
class Query:
    name: str
    original: str | None  # None: unrelated sound
    category: str  # faithful, spliced, replaced, deleted, unrelated
    encoding: str
    speed: float  # original seconds per query second
    resampled: bool
    offset: float | None  # original seconds at the clip's first sample
    truth: tuple[float, float] | None  # clip seconds: spliced-in or replaced sound; a deletion's point (start == end)
    path: str


def sentence(rng: np.random.Generator, language: str) -> str:
    return " ".join(str(rng.choice(part)) for part in _PHRASES[language]) + "."


def speech(seed: int, seconds: float, voice: str) -> np.ndarray:
    """Mono speech at RATE: composed sentences in one voice, each at its own pace, with pauses between them."""
    rng = np.random.default_rng(seed)
    language = voice.split("+")[0].split("-")[0]
    parts, total = [], 0
    while total < seconds * RATE:
        said = truth_media.speak(sentence(rng, language), voice, int(rng.integers(140, 185)), RATE)
        pause = np.zeros(round(float(rng.uniform(0.2, 0.7)) * RATE), np.float32)
        parts += [said, pause]
        total += len(said) + len(pause)
    return np.concatenate(parts)[: round(seconds * RATE)]


def music(seed: int, seconds: float) -> np.ndarray:
    return truth_media.music(np.random.default_rng(seed), seconds, RATE).mean(axis=1)


def source(kind: str, voice: str | None, seed: int, seconds: float) -> np.ndarray:
    if kind == "speech":
        samples = speech(seed, seconds, str(voice))
    elif kind == "music":
        samples = music(seed, seconds)
    else:
        words = speech(seed, seconds, str(voice))
        bed = music(seed + 1, seconds)
        samples = words / (np.abs(words).max() + 1e-9) + 0.35 * bed / (np.abs(bed).max() + 1e-9)
    return truth_media.normalised(samples)


_CODECS = {
    "wav": ["-c:a", "pcm_s16le"],
    "flac": ["-c:a", "flac"],
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "m4a": ["-c:a", "aac", "-b:a", "128k"],
    "opus": ["-c:a", "libopus", "-b:a", "64k"],
    "mp3-64k": ["-c:a", "libmp3lame", "-b:a", "64k"],
    "opus-24k": ["-c:a", "libopus", "-b:a", "24k"],
}


def ffmpeg_encode(samples: np.ndarray, out: Path, *, fmt: str, speed: float = 1.0, resampled: bool = False) -> None:
    """`samples` (mono at RATE) as `fmt`, played `speed` times faster (atempo, or resampled: pitch moves too)."""
    with tempfile.TemporaryDirectory() as scratch:
        wav = Path(scratch) / "in.wav"
        truth_media.write_wav(wav, samples, RATE)
        transcode(wav, out, fmt=fmt, speed=speed, resampled=resampled)


def transcode(source: Path, out: Path, *, fmt: str, speed: float = 1.0, resampled: bool = False) -> None:
    """The sound file `source` as `fmt` at `speed`, by ffmpeg, on one thread, with no metadata."""
    change = f"asetrate={RATE * speed:.3f},aresample={RATE}" if resampled else f"atempo={speed:.6f}"
    command = [FFMPEG, *truth_media._QUIET, "-threads", "1", "-i", str(source)]
    command += ["-af", change, *_CODECS[fmt], "-map_metadata", "-1", "-fflags", "+bitexact", str(out)]
    subprocess.run(command, check=True, capture_output=True)


def build(cache: Path, names: tuple[str, ...]) -> tuple[dict[str, Path], list[Query]]:
    """The originals and queries under `cache` (made once; the manifest says what they are)."""
    manifest = cache / f"manifest-v{CORPUS_VERSION}-{'-'.join(names)}.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        return {k: Path(v) for k, v in saved["originals"].items()}, [
            Query(**{**q, "truth": None if q["truth"] is None else tuple(q["truth"])}) for q in saved["queries"]
        ]
    cache.mkdir(parents=True, exist_ok=True)
    originals: dict[str, Path] = {}
    queries: list[Query] = []
    for k, (name, kind, voice, seconds, fmt) in enumerate(o for o in ORIGINALS if o[0] in names):
        print(f"original {name} ({seconds} s of {kind})", flush=True)
        sound = source(kind, voice, 100 + k, seconds)
        path = cache / f"{name}.{fmt}"
        ffmpeg_encode(sound, path, fmt=fmt)
        originals[name] = path
        queries += _queries(cache, name, sound, np.random.default_rng(1000 + k))
    for k in range(12):
        rng = np.random.default_rng(5000 + k)
        seconds = float(rng.uniform(5, 30))
        if k % 2 == 0:
            sound = truth_media.normalised(speech(6000 + k, seconds, OTHER_VOICES[k // 2 % len(OTHER_VOICES)]))
        else:
            sound = truth_media.normalised(music(7000 + k, seconds))
        queries.append(_query(cache, f"unrelated-{k}", None, "unrelated", sound, rng, 1.0, False, None, None))
    manifest.write_text(
        json.dumps({"originals": {k: str(v) for k, v in originals.items()}, "queries": [asdict(q) for q in queries]})
    )
    return originals, queries


def _queries(cache: Path, name: str, sound: np.ndarray, rng: np.random.Generator) -> list[Query]:
    total = len(sound) / RATE
    out = []
    plan = [("faithful", speed, resampled) for resampled in (False, True) for speed in (1.0, *rng.choice(SPEEDS, 2))]
    plan += [("spliced", 1.0, False), ("spliced", 1.0, False), ("spliced", float(rng.choice(SPEEDS)), False)]
    plan += [("replaced", 1.0, False), ("deleted", 1.0, False)]
    for q, (category, speed, resampled) in enumerate(plan):
        seconds = float(rng.uniform(5, 30))  # of the query, before the edit
        take = seconds * speed + (1.5 if category == "deleted" else 0.0)
        offset = float(rng.uniform(0, total - take))
        clip = sound[round(offset * RATE) : round((offset + take) * RATE)]
        truth = None
        if category in ("spliced", "replaced", "deleted"):
            at = float(rng.uniform(1.0, seconds * speed - 3.0))  # source seconds into the clip
            cut = round(at * RATE)
            if category == "deleted":
                clip = np.concatenate([clip[:cut], clip[cut + round(1.5 * RATE) :]])
                truth = (at / speed, at / speed)
            else:
                voice = OTHER_VOICES[int(rng.integers(len(OTHER_VOICES)))]
                other = speech(int(rng.integers(1 << 30)), 2.0, voice)
                other = 0.3 * other / (np.abs(other).max() + 1e-9)
                tail = clip[cut + (len(other) if category == "replaced" else 0) :]
                clip = np.concatenate([clip[:cut], other, tail])
                truth = (at / speed, (at + 2.0) / speed)
        out.append(_query(cache, f"{name}-{q}", name, category, clip, rng, speed, resampled, offset, truth))
    return out


def _query(
    cache: Path,
    name: str,
    original: str | None,
    category: str,
    clip: np.ndarray,
    rng: np.random.Generator,
    speed: float,
    resampled: bool,
    offset: float | None,
    truth: tuple[float, float] | None,
) -> Query:
    encoding = str(rng.choice(list(ENCODINGS)))
    path = cache / f"{name}.{ENCODINGS[encoding][2]}"
    ffmpeg_encode(clip, path, fmt=f"{encoding}-{ENCODINGS[encoding][1]}", speed=speed, resampled=resampled)
    return Query(name, original, category, encoding, speed, resampled, offset, truth, str(path))


class Stored:
    """The originals' landmarks as the registry keeps them (bytes, read back), by registration id."""

    def __init__(self, fingerprints: dict[str, Fingerprint]) -> None:
        self.blobs = {rid: fp.audio.to_bytes() for rid, fp in fingerprints.items() if fp.audio is not None}

    def features(self, registration_id: str) -> None:
        return None

    def original(self, registration_id: str) -> SoundMedia:
        raise LookupError("the stored landmarks are all the analysis needs")

    def sound(self, registration_id: str) -> AudioFingerprint | None:
        return AudioFingerprint.from_bytes(self.blobs[registration_id])


def registered(kind: SoundKind, data: bytes) -> Fingerprint:
    """What registering `data` stores."""
    return kind.reference(kind.decode(data, LIMITS), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def iou(spans: list[tuple[float, float]], truth: tuple[float, float]) -> float:
    inter = sum(max(0.0, min(e, truth[1]) - max(s, truth[0])) for s, e in spans)
    union = sum(e - s for s, e in spans) + (truth[1] - truth[0]) - inter
    return inter / union if union > 0 else 0.0


def evaluate(query: Query, matches: list[SoundMatch], seconds: float) -> dict[str, object]:
    best = matches[0] if matches else None
    right = next((m for m in matches if m.registration_id == query.original), None)
    row: dict[str, object] = {
        "query": query.name,
        "original": query.original,
        "category": query.category,
        "encoding": query.encoding,
        "speed": query.speed,
        "resampled": query.resampled,
        "seconds": round(seconds, 3),
        "top": None if best is None else best.registration_id,
        "matches": [m.registration_id for m in matches],
        "found": right is not None and best is right,
        "verdict": None if right is None else right.verdict,
        "offset_error": None if right is None or query.offset is None else round(abs(right.offset - query.offset), 3),
        "also_at": [] if right is None else list(right.also_at),
        "speed_found": None if right is None else right.speed,
        "matched_share": None if right is None else right.matched_share,
        "similarity": None if right is None else right.similarity,
        "segments": [] if right is None else [asdict(s) for s in right.segments],
        "spans": [] if right is None else [(s.kind, s.start, s.end) for s in right.spans],
        "truth": query.truth,
    }
    if query.truth is not None and right is not None:
        if query.category == "deleted":
            row["caught"] = any(k == "deleted" and abs(s - query.truth[0]) <= 0.3 for k, s, _ in row["spans"])  # type: ignore[attr-defined]
        else:
            kinds = ("inserted",) if query.category == "spliced" else ("replaced", "inserted")
            spans = [(s, e) for k, s, e in row["spans"] if k in kinds]  # type: ignore[attr-defined]
            row["iou"] = round(iou(spans, query.truth), 3)
            row["caught"] = row["iou"] >= MIN_IOU
            row["overlapping"] = any(min(e, query.truth[1]) > max(s, query.truth[0]) for s, e in spans)
    return row


def summarise(rows: list[dict[str, object]]) -> dict[str, object]:
    def rate(chosen: list[dict[str, object]], key: str) -> float | None:
        return round(float(np.mean([bool(r.get(key)) for r in chosen])), 3) if chosen else None

    faithful = [r for r in rows if r["category"] == "faithful"]
    found = [r for r in faithful if r["found"]]
    errors = [float(r["offset_error"]) for r in found if r["offset_error"] is not None]  # type: ignore[arg-type]
    summary: dict[str, object] = {
        "faithful": len(faithful),
        "faithful_recall": rate(faithful, "found"),
        "faithful_recall_offset_within_0.1s": round(
            sum(1 for r in found if float(r["offset_error"]) <= OFFSET_TOLERANCE) / max(1, len(faithful)),
            3,  # type: ignore[arg-type]
        ),
        "faithful_offset_error_median": round(float(np.median(errors)), 3) if errors else None,
        "faithful_offset_error_max": round(max(errors), 3) if errors else None,
        "faithful_false_altered": sum(r["verdict"] == "altered" for r in found),
        # a wrong offset the match does not flag as one of several (`also_at` empty): the claim that matters
        "faithful_offset_wrong_unflagged": sum(
            1
            for r in found
            if float(r["offset_error"]) > OFFSET_TOLERANCE and not r["also_at"]  # type: ignore[arg-type]
        ),
        "faithful_offset_flagged_repeating": sum(1 for r in found if r["also_at"]),
        "faithful_similarity_min": min((float(r["similarity"]) for r in found if r["similarity"]), default=None),  # type: ignore[arg-type]
    }
    for category in ("spliced", "replaced", "deleted"):
        chosen = [r for r in rows if r["category"] == category]
        summary[f"{category}"] = len(chosen)
        summary[f"{category}_found"] = rate(chosen, "found")
        summary[f"{category}_altered"] = rate(chosen, "found") and round(
            float(np.mean([r["verdict"] == "altered" for r in chosen])), 3
        )
        summary[f"{category}_caught"] = rate(chosen, "caught")
        if category != "deleted":
            ious = [float(r["iou"]) for r in chosen if "iou" in r]  # type: ignore[arg-type]
            summary[f"{category}_iou_median"] = round(float(np.median(ious)), 3) if ious else None
    unrelated = [r for r in rows if r["category"] == "unrelated"]
    summary["unrelated"] = len(unrelated)
    summary["unrelated_false_matches"] = sum(bool(r["matches"]) for r in unrelated)
    summary["wrong_original_top"] = sum(
        1 for r in rows if r["original"] is not None and r["top"] is not None and r["top"] != r["original"]
    )
    right = [float(r["shared_right"]) for r in rows if r["shared_right"] is not None]  # type: ignore[arg-type]
    resampled = [
        float(r["shared_right"])  # type: ignore[arg-type]
        for r in rows
        if r["resampled"] and r["speed"] != 1.0 and r["shared_right"] is not None
    ]
    summary["shared_hashes_right_min"] = min(right)
    summary["shared_hashes_right_resampled_min"] = min(resampled, default=None)
    summary["shared_hashes_other_max"] = max(float(r["shared_other_max"]) for r in rows)  # type: ignore[arg-type]
    times = [float(r["seconds"]) for r in rows]  # type: ignore[arg-type]
    summary["analyse_seconds_median"] = round(float(np.median(times)), 3)
    summary["analyse_seconds_max"] = round(max(times), 3)
    return summary


def soundhash_distances(
    kind: SoundKind, originals: dict[str, Path], stored: dict[str, Fingerprint], cache: Path
) -> dict[str, object]:
    """`soundhash` of each whole original re-encoded (MP3 64 kb/s; Opus 24 kb/s at 1.05x) against every stored one."""
    same, other = [], []
    for name, path in originals.items():
        for label, fmt, speed in (("mp3", "mp3-64k", 1.0), ("opus-1.05x", "opus-24k", 1.05)):
            out = cache / f"whole-{name}-{label}.{'mp3' if fmt.startswith('mp3') else 'ogg'}"
            if not out.exists():
                transcode(path, out, fmt=fmt, speed=speed)
            value = registered(kind, out.read_bytes()).hashes[0].value
            for registration_id, stored_fp in stored.items():
                (same if registration_id == name else other).append(value.distance(stored_fp.hashes[0].value))
    return {
        "whole_reencode_distance_max": max(same),
        "whole_reencode_distances": same,
        "unrelated_distance_min": min(other),
        "unrelated_distance_median": float(np.median(other)),
    }


def registry_matches(names: dict[str, Path], queries: list[Query]) -> list[tuple[Query, list[SoundMatch], float]]:
    """Every query checked by a real registry holding every original: the matches as its views report them."""
    from bench._signer import Signer
    from registry import matching
    from registry.runtime import Registry
    from registry.settings import Settings

    found = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp), database_url=None, sync_video_seconds=3600)
        registry = Registry.open(settings)
        registry.load()
        try:
            client = Signer.create(registry, "Bench Newsroom").client(registry)
            original_of = {
                client.register(path.read_bytes(), {"title": name}).id: name for name, path in sorted(names.items())
            }
            for query in queries:
                started = time.perf_counter()
                with registry.session() as session:
                    view = matching.check(session=session, registry=registry, content=Path(query.path).read_bytes())
                matches = [
                    _from_view(original_of[m.registration_id], m.verdict, m.matched_share, m.model_dump()["facts"])
                    for m in view.matches
                    if m.facts is not None
                ]
                found.append((query, matches, time.perf_counter() - started))
        finally:
            registry.close()
    return found


def _from_view(name: str, verdict: str, share: float | None, facts: dict[str, object]) -> SoundMatch:
    """A match as the check's JSON view reports it, in the kind's own record for `evaluate`."""
    return SoundMatch(
        registration_id=name,
        verdict=verdict,  # type: ignore[arg-type]
        offset=facts["offset"],  # type: ignore[arg-type]
        speed=facts["speed"],  # type: ignore[arg-type]
        pitch=facts["pitch"],  # type: ignore[arg-type]
        similarity=facts["similarity"],  # type: ignore[arg-type]
        matched_share=share or 0.0,
        segments=tuple(SoundSegment(**s) for s in facts["segments"]),  # type: ignore[attr-defined]
        spans=tuple(SoundSpan(**s) for s in facts["spans"]),  # type: ignore[attr-defined]
        also_at=tuple(facts["also_at"]),  # type: ignore[arg-type]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "provreg-sound-only")
    parser.add_argument("--registry", action="store_true", help="register and check through a real Registry")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.out = args.out or (REGISTRY_RESULTS if args.registry else RESULTS)
    names = QUICK if args.quick else tuple(o[0] for o in ORIGINALS)
    cache = args.cache / ("quick" if args.quick else "full")
    originals, queries = build(cache, names)
    kind = SoundKind()
    stored = {name: registered(kind, path.read_bytes()) for name, path in originals.items()}
    references = Stored(stored)
    candidates = [MatchCandidate(name) for name in sorted(originals)]
    rows = []
    checked = registry_matches(originals, queries) if args.registry else None
    for number, query in enumerate(queries):
        started = time.perf_counter()
        data = Path(query.path).read_bytes()
        media = kind.decode(data, LIMITS)
        fp = kind.query(media, sha256=hashlib.sha256(data).hexdigest(), size=len(data), local=True)
        if checked is None:
            matches = kind.analyse(media, fp, candidates, references, strong=0, limit=3)
            row = evaluate(query, matches, time.perf_counter() - started)
        else:
            row = evaluate(query, checked[number][1], checked[number][2])
        # what a registry-side candidate search ranking by shared landmark hashes would see
        assert fp.audio is not None
        shares = {name: shared(references.sound(name), fp.audio) for name in originals}  # type: ignore[arg-type]
        row["shared_right"] = None if query.original is None else round(shares[query.original], 4)
        row["shared_other_max"] = round(max(v for k, v in shares.items() if k != query.original), 4)
        rows.append(row)
        print(
            f"{query.name:24} {query.category:9} {query.encoding:4} x{query.speed:<4} {query.resampled:d}"
            f" top={row['top']} verdict={row['verdict']} off_err={row['offset_error']} spans={row['spans']}"
            f" truth={query.truth} {row['seconds']:.2f}s",
            flush=True,
        )
    summary = summarise(rows)
    summary.update(soundhash_distances(kind, originals, stored, cache))
    print_table(
        "sound-only kind", ["measure", "value"], [(k, v) for k, v in summary.items() if k != "whole_reencode_distances"]
    )
    write_json(
        args.out,
        {
            "benchmark": "sound_only",
            "level": "registry (registered in a Registry, checked by registry.matching.check; its JSON view)"
            if args.registry
            else "kind (SoundKind.reference / query / analyse over every original; no registry)",
            "originals": {
                name: {"seconds": o[3], "kind": o[1], "voice": o[2], "registered_as": o[4]}
                for o in ORIGINALS
                if (name := o[0]) in names
            },
            "summary": summary,
            "queries": rows,
            "machine": machine_info(["av", "numpy"]),
        },
    )


if __name__ == "__main__":
    main()
