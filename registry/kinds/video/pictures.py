"""Video frame pairs for the result card's timeline: the original's frame, the query's frame and the changed regions.

These are the video kind's pictures (`KindAdapter.picture_plans`, `draw_picture`). The page keeps what drawing a
pair needs (the query's bytes and, per span, the two times and the regions: see `api/web/kept.py`) under an
unguessable id for as long as its pictures; a pair is drawn only when someone opens it, in the media worker pool
(`Registry.run_media`), under the same decode limits as the check: one frame of each video, at most `PANEL_SIDE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fingerprint.kinds import DecodeLimits
from fingerprint.video.decode import VideoMedia
from fingerprint.video.match import frame_at
from fingerprint.visualize import draw_text
from registry import views
from registry.errors import CorruptMedia, NotFound
from registry.kinds.base import MAX_PICTURES_PER_MATCH
from registry.media import decode_as, media_errors

PANEL_SIDE = 360
_GAP, _HEADER, _FOOTER = 8, 36, 28
_OUTLINE = (255, 40, 40)
_ABSENT = (128, 128, 128)


@dataclass(frozen=True, slots=True)
class Pair:
    """One span's frame pair: `query_t` of the query against `original_t` (None: footage the original lacks)."""

    registration_id: str
    original_sha256: str
    kind: str
    query_t: float
    original_t: float | None
    regions: list[tuple[int, int, int, int]]  # x, y, w, h in query pixels

    def plan(self) -> dict[str, Any]:
        """As the page keeps it (JSON)."""
        return asdict(self)

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> Pair:
        return cls(**{**plan, "regions": [tuple(r) for r in plan["regions"]]})


def pairs_of(view: views.CheckView, registrations: Mapping[str, views.RegistrationView]) -> dict[str, list[Pair]]:
    """Each detailed video match's spans as pairs, by registration id."""
    found: dict[str, list[Pair]] = {}
    for match in view.matches:
        registration = registrations.get(match.registration_id)
        if registration is None or not match.spans:
            continue
        found[match.registration_id] = [
            Pair(
                match.registration_id,
                registration.content.sha256,
                span.kind,
                span.frame,
                _original_time(match, span),
                [(r.x, r.y, r.w, r.h) for r in span.regions],
            )
            for span in match.spans[:MAX_PICTURES_PER_MATCH]
        ]
    return found


def _original_time(match: views.MatchView, span: views.SpanView) -> float | None:
    """The original's time aligned with the span's reported frame: the profile's nearest sample, if aligned."""
    if span.kind == "inserted" or not match.profile:
        return None
    nearest = min(match.profile, key=lambda sample: abs(sample.t - span.frame))
    return nearest.original_t


def render_pair(query: bytes, original: Path, limits: DecodeLimits, pair: Pair) -> bytes:
    """Three panels, original frame | query frame | query frame with the changed regions outlined, as PNG.

    A top-level function of picklable arguments: it runs in a media worker."""
    media = decode_as(query, limits, VideoMedia)
    try:
        with media_errors():
            shown = frame_at(media, pair.query_t, max_side=PANEL_SIDE).pixels
            source: np.ndarray | None = None
            if pair.original_t is not None:
                source_media = decode_as(original.read_bytes(), limits, VideoMedia)
                source = frame_at(source_media, pair.original_t, max_side=PANEL_SIDE).pixels
    except CorruptMedia as exc:  # no frame at that time: the file is not what the check saw
        raise NotFound(f"the frame pair cannot be drawn: {exc}") from None
    except FileNotFoundError:  # the original left the store (never a path in the answer)
        raise NotFound("the frame pair cannot be drawn: the original is no longer stored") from None
    height, width = shown.shape[:2]
    if source is None:
        source = np.full_like(shown, _ABSENT)
        draw_text(source, "not in the original", (_GAP, height // 2), 0.5, 1)
    else:
        source = cv2.resize(
            source, (width, round(source.shape[0] * width / source.shape[1])), interpolation=cv2.INTER_AREA
        )
    outlined = shown.copy()
    factor = width / media.width
    for x, y, w, h in pair.regions:
        corner = (round(x * factor), round(y * factor))
        cv2.rectangle(outlined, corner, (round((x + w) * factor), round((y + h) * factor)), _OUTLINE, 2)
    panels = [
        (f"original at {pair.original_t:.2f} s" if pair.original_t is not None else "original: none", source),
        (f"this file at {pair.query_t:.2f} s", shown),
        ("changed regions", outlined),
    ]
    tallest = max(image.shape[0] for _, image in panels)
    canvas = np.full((_HEADER + tallest + _FOOTER, 3 * width + 4 * _GAP, 3), 245, np.uint8)
    draw_text(canvas, f"{pair.kind.upper()}  {pair.registration_id}", (_GAP, 24), 0.55, 1)
    for i, (label, image) in enumerate(panels):
        x = _GAP + i * (width + _GAP)
        canvas[_HEADER : _HEADER + image.shape[0], x : x + width] = image
        draw_text(canvas, label, (x, _HEADER + tallest + 20), 0.45, 1)
    ok, png = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the frame pair as PNG")
    return png.tobytes()
