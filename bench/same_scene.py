"""Evaluation of the `related` verdict: different photographs of one scene must never be a `copy` or `altered`.

    python bench/same_scene.py [--out FILE]

Same-scene pairs: the scikit-image stereo pair (both ways round) and scenes rendered here from two camera positions:
a background photo far away and cards cut from other photos nearer the camera, so the second view has parallax
(the cards slide over the background); some scenes also move a card between the shots, as people move between two
photographs. The first view is registered, the second is checked. Derivatives of the same registered views (crops,
rescales, recompression, a pasted patch) are checked too, so the figures show that nothing real is lost. One thread.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import _threads
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.derivatives import BenchRegistry
from bench.derivatives_corpus import encode, load_photos

RESULTS = Path(__file__).parent / "results" / "same_scene.json"
BACKGROUNDS = ("astronaut", "coffee", "chelsea", "rocket", "china", "grace_hopper", "retina", "camera", "coins")
CARDS = ("brick", "page", "moon", "hubble_deep_field", "flower", "color", "text", "ihc", "gravel")
_SIZE = (960, 720)  # rendered frame, width x height
_FOCAL = 900.0


@dataclass(frozen=True, slots=True)
class Pair:
    name: str
    original: bytes  # registered
    query: bytes  # checked
    kind: str  # "same_scene" or "derivative"


def _camera(position: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera rotation and translation for a camera at `position` turned by `yaw` degrees."""
    a = np.radians(yaw)
    rotation = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    return rotation, -rotation @ position


def _project(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    camera = points @ rotation.T + translation
    return np.column_stack(
        [_FOCAL * camera[:, 0] / camera[:, 2] + _SIZE[0] / 2, _FOCAL * camera[:, 1] / camera[:, 2] + _SIZE[1] / 2]
    )


def _render(layers: list[tuple[np.ndarray, np.ndarray]], rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Paint fronto-parallel textured rectangles far to near; each layer is (texture, 4 world corners)."""
    frame = np.zeros((_SIZE[1], _SIZE[0], 3), np.uint8)
    for texture, corners in sorted(layers, key=lambda layer: -layer[1][0, 2]):
        h, w = texture.shape[:2]
        source = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        homography = cv2.getPerspectiveTransform(source, _project(corners, rotation, translation).astype(np.float32))
        painted = cv2.warpPerspective(texture, homography, _SIZE, flags=cv2.INTER_LINEAR)
        cover = cv2.warpPerspective(np.full((h, w), 255, np.uint8), homography, _SIZE) > 127
        frame[cover] = painted[cover]
    return frame


def _rect(centre: tuple[float, float], depth: float, width: float, aspect: float) -> np.ndarray:
    x, y = centre
    half_w, half_h = width / 2, width * aspect / 2
    return np.array(
        [[x - half_w, y - half_h, depth], [x + half_w, y - half_h, depth], [x + half_w, y + half_h, depth],
         [x - half_w, y + half_h, depth]]
    )  # fmt: skip


def rendered_scene(seed: int, background: np.ndarray, cards: list[np.ndarray], moved: bool) -> tuple[bytes, bytes]:
    """Two photographs of one rendered scene: the camera moves sideways and turns a little between them."""
    rng = np.random.default_rng(seed)
    depth = 10.0
    bh, bw = background.shape[:2]
    layers = [(background, _rect((0.0, 0.0), depth, 1.6 * depth * _SIZE[0] / _FOCAL, bh / bw))]
    for card in cards:
        h, w = card.shape[:2]
        z = rng.uniform(2.5, 5.5)
        centre = (rng.uniform(-0.35, 0.35) * z, rng.uniform(-0.25, 0.25) * z)
        layers.append((card, _rect(centre, z, rng.uniform(0.18, 0.3) * z, h / w)))
    first = _render(layers, *_camera(np.zeros(3), 0.0))
    if moved:  # someone moved a thing between the two shots
        texture, corners = layers[-1]
        layers[-1] = (texture, corners + np.array([rng.choice([-1, 1]) * 0.12 * corners[0, 2], 0, 0]))
    baseline = rng.uniform(0.25, 0.6) * rng.choice([-1, 1])
    second = _render(layers, *_camera(np.array([baseline, rng.uniform(-0.1, 0.1), 0.0]), rng.uniform(-3, 3)))
    gain = rng.uniform(0.9, 1.1)
    noisy = second.astype(np.float32) * gain + rng.normal(0, 2.0, second.shape)
    return encode(first, 92), encode(np.clip(noisy, 0, 255).astype(np.uint8), 85)


def _derivatives(name: str, original: bytes, seed: int) -> list[Pair]:
    """Copies and one alteration of a registered view: the verdicts `related` must not take away."""
    rng = np.random.default_rng(seed)
    pixels = cv2.imdecode(np.frombuffer(original, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    h, w = pixels.shape[:2]
    x, y = int(rng.uniform(0, 0.15) * w), int(rng.uniform(0, 0.15) * h)
    cropped = pixels[y : y + int(0.8 * h), x : x + int(0.8 * w)]
    small = cv2.resize(pixels, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    patched = pixels.copy()
    py, px = int(rng.uniform(0.2, 0.6) * h), int(rng.uniform(0.2, 0.6) * w)
    patched[py : py + h // 6, px : px + w // 6] = rng.integers(0, 255, 3, dtype=np.uint8)
    return [
        Pair(f"{name}/crop", original, encode(cropped, 80), "derivative"),
        Pair(f"{name}/half", original, encode(small, 75), "derivative"),
        Pair(f"{name}/patch", original, encode(patched, 85), "edit"),
    ]


def pairs() -> list[Pair]:
    """At least 20 same-scene pairs, and derivatives of the same originals."""
    photos = {p.name: p for p in load_photos((*BACKGROUNDS, *CARDS, "motorcycle_left", "motorcycle_right"))}
    left, right = photos["motorcycle_left"].data, photos["motorcycle_right"].data
    found = [
        Pair("stereo/motorcycle_left->right", left, right, "same_scene"),
        Pair("stereo/motorcycle_right->left", right, left, "same_scene"),
    ]
    for index in range(22):
        background = photos[BACKGROUNDS[index % len(BACKGROUNDS)]].pixels
        cards = [photos[CARDS[(index + k) % len(CARDS)]].pixels for k in range(2 + index % 3)]
        moved = index % 3 == 2
        first, second = rendered_scene(index, background, cards, moved)
        name = f"rendered/{index:02d}{'-moved' if moved else ''}"
        found.append(Pair(name, first, second, "same_scene"))
        if index % 2 == 0:
            found += _derivatives(name, first, index)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    _threads.pin()
    rows = []
    for pair in pairs():
        registry = BenchRegistry()  # one original each: the pair is judged on its own
        expected = registry.register(pair.original)
        matches, _ = registry.check(pair.query)
        match = next((m for m in matches if m.registration_id == expected), None)
        verdict = match.verdict if match else "none"
        rows.append({"pair": pair.name, "kind": pair.kind, "verdict": verdict,
                     "inliers": match.alignment.inliers if match else 0,
                     "matches": match.alignment.matches if match else 0,
                     "altered_fraction": match.altered_fraction if match else 0.0,
                     "regions": len(match.regions) if match else 0})  # fmt: skip
        print(" ".join(f"{k}={v}" for k, v in rows[-1].items()), file=sys.stderr)
    summary = {
        kind: dict(Counter(r["verdict"] for r in rows if r["kind"] == kind))
        for kind in sorted({r["kind"] for r in rows})
    }
    print(json.dumps(summary, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "pairs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
