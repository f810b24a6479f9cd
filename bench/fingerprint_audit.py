"""Audited fingerprints: what committing to fingerprint rows costs a registration and an audit, against the other
way to audit them, recomputing every registration's rows from its stored original.

A registry of `--photos` real photographs (crops of the Debian wallpapers, at most 1600 pixels on the long side,
JPEG; each its own original) and `--videos` videos (`--video-seconds` of 640x360 footage panning over those
wallpapers, with synthetic speech) is registered through `service.register`, one at a time on one thread, as a
newsroom's desk would. Measured:

- registration: seconds per `register` call, and within it the commitment (hashing the flushed rows), and the
  bytes it adds to each entry;
- audits, each in a fresh process as a server start: the full audit and the start-up (incremental) audit with
  nothing new and after `--new` more photos, in wall and CPU seconds (this machine is shared: CPU seconds are
  the steadier figure), with the fingerprint-and-nonce part (`registry.log.fingerprints`) apart;
- recomputing: `work.reference_fingerprint` on a sample of stored originals per kind (seconds each, extrapolated
  to the registry), and whether it gives back the stored rows byte for byte.

    PYTHONPATH=$PWD python bench/fingerprint_audit.py [--photos 2000] [--videos 3] [--keep DIR]

`--keep DIR` builds the registry there once and reuses it. Figures go to bench/results/fingerprint_audit.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import _threads
import cv2
import numpy as np
from _signer import Signer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import machine_info, print_table, write_json
from audioclips import speech
from sqlmodel import select
from videoclips import Clip, encode, pan

import registry.log.fingerprints as fingerprints
from registry import service, work, writes
from registry.log import store as log
from registry.media import limits as media_limits
from registry.models import LocalFeatureSet, MediaHash, Registration, VideoTrack
from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "fingerprint_audit.json"
WALLPAPERS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
CROPS_PER_PHOTO = 16
LONG_SIDE = 1600
SHOT_SECONDS = 4.0


def _settings(data_dir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, database_url=None)  # no pool: media work on this thread


def _wallpapers() -> list[Path]:
    found = sorted(
        path for root in WALLPAPERS for path in root.rglob("*") if path.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    if not found:
        raise SystemExit("no wallpapers under /usr/share/backgrounds or /usr/share/wallpapers")
    return found


def photos(count: int, seed: int = 0) -> Iterator[bytes]:
    """`count` distinct photographs: random crops (55-95% of each side) of the wallpapers, JPEG quality 88."""
    rng = np.random.default_rng(seed)
    sources = _wallpapers()
    made = 0
    for round_no in range(CROPS_PER_PHOTO * 4):
        for path in sources:
            pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if pixels is None or min(pixels.shape[:2]) < 400:
                continue
            h, w = pixels.shape[:2]
            ch, cw = (int(side * rng.uniform(0.55, 0.95)) for side in (h, w))
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = pixels[y : y + ch, x : x + cw]
            scale = min(1.0, LONG_SIDE / max(ch, cw))
            crop = cv2.resize(crop, (round(cw * scale), round(ch * scale)), interpolation=cv2.INTER_AREA)
            yield cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()
            made += 1
            if made == count:
                return
        if round_no > CROPS_PER_PHOTO * 2 and made == 0:
            break
    raise SystemExit(f"made only {made} photos")


def videos(count: int, seconds: float) -> Iterator[bytes]:
    """Footage of 4 s shots, each panning and zooming over one wallpaper, with speech; one seed per video."""
    sources = _wallpapers()
    for k in range(count):
        rng = np.random.default_rng(100 + k)
        shots = []
        for _ in range(int(seconds // SHOT_SECONDS) + 1):
            pixels = cv2.imread(str(sources[int(rng.integers(len(sources)))]), cv2.IMREAD_COLOR)
            small = cv2.resize(pixels, (960, round(960 * pixels.shape[0] / pixels.shape[1])))
            shots.append((cv2.cvtColor(small, cv2.COLOR_BGR2RGB), *(tuple(rng.uniform(0.3, 0.7, 2)) for _ in "ab")))

        def footage(t: float, shots: list[Any] = shots) -> np.ndarray:
            photo, start, end = shots[min(int(t // SHOT_SECONDS), len(shots) - 1)]
            return pan(photo, start, end, (0.9, 0.6), (t % SHOT_SECONDS) / SHOT_SECONDS, 640, 360)

        clip = Clip(duration=seconds, width=640, height=360, footage=footage)
        yield encode(clip, speech(seconds, seed=k))


class Desk:
    """One verified publisher registering through `service.register`, timing each call and its commitment."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.signer = Signer.create(registry, f"Benchmark Photo Desk {writes.new_id('desk')}")
        self.register_s: list[float] = []
        self.commitment_s: list[float] = []
        self.field_bytes: list[int] = []
        commit = fingerprints.commitment

        def timed(rows: Any) -> dict[str, Any]:
            start = time.perf_counter()
            result = commit(rows)
            self.commitment_s.append(time.perf_counter() - start)
            self.field_bytes.append(len(json.dumps({fingerprints.FIELD: result}, separators=(",", ":"))) - 2)
            return result

        service.commitment = timed  # type: ignore[assignment]

    def register(self, content: bytes) -> str:
        request = self.signer.signed(content, "bench")
        start = time.perf_counter()
        with self.registry.session() as session:
            view = service.register(
                session=session,
                registry=self.registry,
                statement=request.text,
                signature=request.signature,
                content=content,
            )
        self.register_s.append(time.perf_counter() - start)
        return view.id


def build(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    registry = Registry.open(_settings(data_dir))
    registry.load()
    try:
        desk = Desk(registry)
        started = time.perf_counter()
        for n, content in enumerate(photos(args.photos), start=1):
            desk.register(content)
            if n % 200 == 0:
                print(f"  {n} photos registered, {time.perf_counter() - started:.0f} s", flush=True)
        photo_s, photo_commit = desk.register_s[:], desk.commitment_s[:]
        for content in videos(args.videos, args.video_seconds):
            desk.register(content)
        print(f"  {args.videos} videos registered", flush=True)
        video_s, video_commit = desk.register_s[len(photo_s) :], desk.commitment_s[len(photo_commit) :]
    finally:
        registry.close()
    return {
        "photos": args.photos,
        "videos": args.videos,
        "video_seconds": args.video_seconds,
        "register_photo_median_s": round(statistics.median(photo_s), 4),
        "register_video_median_s": round(statistics.median(video_s), 2) if video_s else None,
        "commitment_photo_median_ms": round(statistics.median(photo_commit) * 1000, 3),
        "commitment_video_median_ms": round(statistics.median(video_commit) * 1000, 3) if video_commit else None,
        "entry_bytes_added": round(statistics.mean(desk.field_bytes)),
    }


def _timed(fn: Callable[..., Any], seconds: list[tuple[float, float]]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds.append((time.perf_counter() - start, time.process_time() - cpu))

    return wrapper


def timed_audit(data_dir: str, full: bool) -> dict[str, Any]:
    """One audit as a server start (full=False) or `provreg audit --full` runs it, in this fresh process."""
    part: list[tuple[float, float]] = []
    fingerprints.check_all = _timed(fingerprints.check_all, part)  # type: ignore[assignment]
    fingerprints.check_since = _timed(fingerprints.check_since, part)  # type: ignore[assignment]
    registry = Registry.open(_settings(Path(data_dir)))
    try:
        start, cpu = time.perf_counter(), time.process_time()
        report = registry.audit_log(full=full)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        registry.engine.dispose()
    ((part_s, part_cpu),) = part
    return {
        "ok": report.ok,
        "entries_read": report.size - report.start,
        "registrations_rechecked": report.fingerprinted,
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu, 3),
        "fingerprint_part_s": round(part_s, 3),
        "fingerprint_part_cpu_s": round(part_cpu, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def recompute(data_dir: str, sample: int) -> dict[str, Any]:
    """Recompute the rows of `sample` photos and every video from their stored originals; compare with the rows."""
    registry = Registry.open(_settings(Path(data_dir)))
    limits = media_limits(registry.settings)
    out: dict[str, Any] = {}
    try:
        with registry.session() as session:
            chosen = {
                kind: session.exec(
                    select(Registration).where(Registration.kind == kind).order_by(Registration.log_index).limit(count)
                ).all()
                for kind, count in (("image", sample), ("video", 1000))
            }
            totals = {
                kind: len(session.exec(select(Registration.id).where(Registration.kind == kind)).all())
                for kind in chosen
            }
            for kind, registrations in chosen.items():
                if not registrations:
                    continue
                seconds, same = [], 0
                for registration in registrations:
                    content = registry.store.get(registration.content_sha256)
                    start = time.perf_counter()
                    fp = work.reference_fingerprint(content, limits, registration.content_sha256)
                    seconds.append(time.perf_counter() - start)
                    same += _same_rows(session, registration.id, fp)
                mean = statistics.fmean(seconds)
                out[kind] = {
                    "sampled": len(registrations),
                    "seconds_each_mean": round(mean, 3),
                    "rows_identical": same,
                    "registry_total_s_extrapolated": round(mean * totals[kind], 1),
                }
    finally:
        registry.engine.dispose()
    out["registry_total_s_extrapolated"] = round(sum(part["registry_total_s_extrapolated"] for part in out.values()), 1)
    return out


def _same_rows(session: Any, registration_id: str, fp: Any) -> bool:
    hashes = session.exec(select(MediaHash).where(MediaHash.registration_id == registration_id)).all()
    stored = sorted((row.alg, row.variant, row.value, row.quality) for row in hashes)
    fresh = sorted((r.alg, r.variant, r.value.data, r.quality) for r in fp.hashes)
    features = session.exec(
        select(LocalFeatureSet.data).where(LocalFeatureSet.registration_id == registration_id)
    ).all()
    track = session.exec(select(VideoTrack).where(VideoTrack.registration_id == registration_id)).first()
    return (
        stored == fresh
        and list(features) == [feature.to_bytes() for feature in fp.features]
        and (track is None) == (fp.frames is None)
        and (track is None or (track.data == fp.frames.to_bytes() and track.audio == _audio(fp)))
    )


def _audio(fp: Any) -> bytes | None:
    return None if fp.audio is None else fp.audio.to_bytes()


def sizes(data_dir: Path) -> dict[str, Any]:
    registry = Registry.open(_settings(data_dir))
    try:
        with registry.session() as session:
            rows = {
                table: len(session.exec(select(spec.model.id)).all()) for table, spec in fingerprints.ROW_TABLES.items()
            }
            size = log.size(session)
        database = data_dir / "registry.sqlite3"
        blob_mb = sum(path.stat().st_size for path in database.parent.glob(database.name + "*")) / 2**20
    finally:
        registry.engine.dispose()
    return {"log_entries": size, "rows": rows, "database_mb": round(blob_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--video-seconds", type=float, default=60.0)
    parser.add_argument("--new", type=int, default=20, help="photos registered after the mark")
    parser.add_argument("--sample", type=int, default=40, help="photos recomputed from their originals")
    parser.add_argument("--keep", type=Path, help="build the registry here once, and reuse it")
    args = parser.parse_args()
    _threads.pin()
    with tempfile.TemporaryDirectory(prefix="provreg-bench-") as tmp:
        data_dir = args.keep or Path(tmp) / "data"
        results: dict[str, Any] = {"machine": machine_info(("sqlalchemy", "opencv-python-headless"))}
        if not (data_dir / "registry.sqlite3").exists():
            print(f"registering {args.photos} photos and {args.videos} videos in {data_dir}", flush=True)
            results["registration"] = build(data_dir, args)
        results["registry"] = sizes(data_dir)
        audits = [
            {"audit": "full", **in_fresh_process(timed_audit, str(data_dir), True)},
            {"audit": "start-up, nothing new", **in_fresh_process(timed_audit, str(data_dir), False)},
        ]
        registry = Registry.open(_settings(data_dir))
        registry.load(audit_log=False)
        try:
            desk = Desk(registry)
            for content in photos(args.new, seed=1):
                desk.register(content)
        finally:
            registry.close()
        audits.append(
            {"audit": f"start-up, {args.new} new photos", **in_fresh_process(timed_audit, str(data_dir), False)}
        )
        results["audits"] = audits
        results["recompute"] = in_fresh_process(recompute, str(data_dir), args.sample)
    write_json(RESULTS, results)
    print(json.dumps({key: results[key] for key in results if key != "audits" and key != "machine"}, indent=2))
    print_table("Audits", list(audits[0]), [list(run.values()) for run in audits])
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
