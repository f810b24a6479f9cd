"""The first registrant in near-duplicate floods, on real photographs, through the real registration and check path.

    python bench/first_registrant.py --label after [--photos 12] [--side 1024]

For each photograph (Debian's wallpaper photos under /usr/share/backgrounds: the `*_by_*` photographers' JPEGs and
MATE's nature photos), scaled to `--side` pixels on its long side as a newsroom's web original: a newsroom registers
it, then a second verified publisher registers 20 near-copies of it (the same bytes, 12 one-pixel edits, 7
re-saves: JPEG q55-95, PNG, WebP). Each photo's original stays in the registry while the next flood arrives, so
every check also searches past other floods. A few derivatives of the original are checked with
`registry.matching.check` (full mode; fast mode where a PDQ hash can find them) at the default
`PROVREG_MAX_MATCHES` (10) before the flood (does the check find the original at all?) and after it: is the
newsroom's registration first, and is it in the answer at all? The target (first in 100% of floods) counts the
checks that found the original before its flood. It also times the prior-registration search each registration runs
(`registry.precedence.find_priors`, when this code has it) and the whole `service.register` call.

Runs on whatever code is on PYTHONPATH: `--label before` with main's, `--label after` with this branch's (the
fields main lacks are read when present). Results under `--label` in bench/results/first_registrant.json.
One thread.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _threads
import numpy as np
from _signer import Signer
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, percentile, print_table, write_json

from api.client import PublisherClient
from registry import matching, service
from registry.runtime import Registry
from registry.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "first_registrant.json"
BACKGROUNDS = Path("/usr/share/backgrounds")
PACKAGES = ("numpy", "opencv-python-headless", "faiss-cpu", "pillow", "sqlalchemy")


def photographs(count: int, side: int) -> list[tuple[str, bytes]]:
    """The first `count` wallpaper photographs (sorted by name), each a JPEG q90 at most `side` pixels long."""
    paths = sorted(BACKGROUNDS.glob("*_by_*.jpg")) + sorted((BACKGROUNDS / "mate" / "nature").glob("*.jpg"))
    found = []
    for path in paths[:count]:
        image = Image.open(path).convert("RGB")
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
        found.append((path.name, _encode(image, "JPEG", quality=90)))
    return found


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def near_copies(original: bytes) -> list[bytes]:
    """20 near-copies: the same bytes, 12 one-pixel edits (PNG), 7 re-saves."""
    image = Image.open(io.BytesIO(original)).convert("RGB")
    pixels = np.asarray(image)
    h, w = pixels.shape[:2]
    edits = []
    for n in range(12):
        edited = pixels.copy()
        y, x = (37 + 97 * n) % h, (53 + 131 * n) % w
        edited[y, x] = 255 - edited[y, x]
        edits.append(_encode(Image.fromarray(edited), "PNG"))
    resaves = [_encode(image, "JPEG", quality=q) for q in (55, 65, 75, 85, 95)]
    resaves += [_encode(image, "PNG"), _encode(image, "WEBP", quality=80)]
    return [original, *edits, *resaves]


def _crop(image: Image.Image, keep: float) -> Image.Image:
    w, h = image.size
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return image.crop((dx, dy, w - dx, h - dy))


# name -> (how the derivative is made, whether a fast check can find it)
DERIVATIVES: dict[str, tuple[Callable[[Image.Image], bytes], bool]] = {
    "jpeg_q40": (lambda im: _encode(im, "JPEG", quality=40), True),
    "resize_0.5": (lambda im: _encode(im.resize((im.width // 2, im.height // 2)), "JPEG", quality=80), True),
    "mirrored": (lambda im: _encode(ImageOps.mirror(im), "JPEG", quality=85), True),
    "crop_80": (lambda im: _encode(_crop(im, 0.8), "JPEG", quality=85), False),
    "crop_60_small": (lambda im: _encode(_crop(im, 0.6).resize((480, 360)), "JPEG", quality=75), False),
}


def _publisher(registry: Registry, name: str) -> PublisherClient:
    return Signer.create(registry, name).client(registry)


def _timed_prior_search(samples: list[float]) -> None:
    """Time each prior-registration search `service.register` runs (absent on code from before it existed)."""
    search = getattr(service, "find_priors", None)
    if search is None:
        return

    def timed(**kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return search(**kwargs)
        finally:
            samples.append((time.perf_counter_ns() - start) / 1e6)

    service.find_priors = timed  # type: ignore[attr-defined]


def _answers(
    registry: Registry, queries: dict[str, tuple[bytes, bool]]
) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """Each query's verdict and matched registrations, in full mode and (where a hash can find it) fast mode."""
    answers = {}
    with registry.session() as session:
        for label, (content, fast) in queries.items():
            for mode in ("full", "fast") if fast else ("full",):
                view = matching.check(session=session, registry=registry, content=content, mode=mode)  # type: ignore[arg-type]
                answers[label, mode] = (view.verdict, [m.registration_id for m in view.matches])
    return answers


def _found(registry: Registry, queries: dict[str, tuple[bytes, bool]], first: str) -> dict[tuple[str, str], bool]:
    return {key: first in ids for key, (_, ids) in _answers(registry, queries).items()}


def run(count: int, side: int) -> dict[str, Any]:
    photos = photographs(count, side)
    prior_ms: list[float] = []
    register_ms: list[float] = []
    _timed_prior_search(prior_ms)
    checks: list[dict[str, Any]] = []
    named: dict[str, int] = {}  # photo -> copies whose prior_registrations name the newsroom's first
    with tempfile.TemporaryDirectory(prefix="provreg-first-") as tmp:
        registry = Registry.open(Settings(_env_file=None, data_dir=Path(tmp) / "data", database_url=None))
        registry.load()
        try:
            newsroom, copier = _publisher(registry, "Newsroom"), _publisher(registry, "Copy Desk")
            for name, original in photos:
                start = time.perf_counter_ns()
                first = newsroom.register(original, {"title": name}).id
                register_ms.append((time.perf_counter_ns() - start) / 1e6)
                image = Image.open(io.BytesIO(original)).convert("RGB")
                queries = {"original": (original, True)} | {
                    label: (make(image), fast) for label, (make, fast) in DERIVATIVES.items()
                }
                alone = _found(registry, queries, first)  # before the flood: what the check finds at all
                named[name] = 0
                for n, content in enumerate(near_copies(original)):
                    start = time.perf_counter_ns()
                    copy = copier.register(content, {"title": f"{name} copy {n}"})
                    register_ms.append((time.perf_counter_ns() - start) / 1e6)
                    priors = getattr(copy, "prior_registrations", [])
                    named[name] += bool(priors) and priors[0].registration_id == first
                for (label, mode), (verdict, ids) in _answers(registry, queries).items():
                    checks.append(
                        {
                            "photo": name,
                            "query": label,
                            "mode": mode,
                            "found_alone": alone[label, mode],
                            "verdict": verdict,
                            "first_is_first": bool(ids) and ids[0] == first,
                            "first_present": first in ids,
                            "first_at": ids.index(first) if first in ids else None,
                            "matches": len(ids),
                        }
                    )
                mine = [c for c in checks if c["photo"] == name and c["found_alone"]]
                print(
                    f"  {name}: first first in {sum(c['first_is_first'] for c in mine)}/{len(mine)} checks that "
                    f"found it before the flood; {named[name]}/20 copies name it",
                    flush=True,
                )
        finally:
            registry.close()
    # The target is over the checks that find the original at all before its flood (a 60% crop often is not found)
    counted = [c for c in checks if c["found_alone"]]
    floods = sorted({c["photo"] for c in checks})
    per_flood = [all(c["first_is_first"] for c in counted if c["photo"] == photo) for photo in floods]
    return {
        "photos": len(floods),
        "side": side,
        "checks": len(checks),
        "checks_found_before_the_flood": len(counted),
        "floods_first_always_first": sum(per_flood),
        "floods_first_always_first_share": round(sum(per_flood) / len(floods), 4),
        "checks_first_first_share": round(sum(c["first_is_first"] for c in counted) / len(counted), 4),
        "checks_first_present_share": round(sum(c["first_present"] for c in counted) / len(counted), 4),
        "by_query": {
            f"{label}/{mode}": {
                "first_first": sum(c["first_is_first"] for c in chosen),
                "first_present": sum(c["first_present"] for c in chosen),
                "found_before_the_flood": sum(c["found_alone"] for c in chosen),
                "checks": len(chosen),
            }
            for label in ["original", *DERIVATIVES]
            for mode in ("full", "fast")
            if (chosen := [c for c in checks if c["query"] == label and c["mode"] == mode])
        },
        "copies_naming_first": sum(named.values()),
        "copies": 20 * len(floods),
        "prior_search_ms": _stats(prior_ms),
        "register_ms": _stats(register_ms),
        "checks_detail": checks,
    }


def _stats(samples: list[float]) -> dict[str, float] | None:
    if not samples:
        return None
    return {
        "n": len(samples),
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(percentile(samples, 95), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", required=True, help="store the results under this name (e.g. before, after)")
    parser.add_argument("--photos", type=int, default=12, help="floods, one per photograph")
    parser.add_argument("--side", type=int, default=1024, help="the originals' long side in pixels")
    args = parser.parse_args()
    _threads.pin()
    results = run(args.photos, args.side)
    print_table(
        f"First registrant in {results['photos']} floods of 20 near-copies ({results['checks']} checks)",
        ["query/mode", "first first", "first present", "found before", "checks"],
        [
            [key, v["first_first"], v["first_present"], v["found_before_the_flood"], v["checks"]]
            for key, v in results["by_query"].items()
        ],
    )
    print(
        f"\nfloods with the first registrant first in every check that found it before the flood: "
        f"{results['floods_first_always_first']}/"
        f"{results['photos']}; copies naming it: {results['copies_naming_first']}/{results['copies']}"
    )
    print(f"prior search: {results['prior_search_ms']}; whole registration: {results['register_ms']}")
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored[args.label] = {"machine": machine_info(PACKAGES), "results": results}
    write_json(RESULTS, stored)
    print(f"\nwrote {RESULTS} (label {args.label!r})")


if __name__ == "__main__":
    main()
