"""The picture of a video match: a timeline strip of the frame distances with the spans marked (audio spans as a band
along its foot), then, for each altered span, its worst frame beside the original frame it stands for (original |
clip aligned | differences)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fingerprint.audio import AudioSpan
from fingerprint.compare import Localisation
from fingerprint.video.align import MATCH_DISTANCE, Span, Timeline
from fingerprint.visualize import aligned_panel, differences_panel, draw_text

_WIDTH = 960
_STRIP = 160  # plot height
_PANEL = 300
_GAP = 8
_HEADER = 40
_BACKGROUND = (245, 245, 245)
_LINE = (30, 60, 200)
_THRESHOLD = (120, 120, 120)
_SPAN_COLOURS = {"altered": (255, 190, 190), "inserted": (255, 220, 150)}
_AUDIO_COLOURS = {"audio_altered": (150, 60, 200), "audio_missing": (90, 90, 90)}
_AUDIO_BAND = 14  # pixels: the audio spans' band along the foot of the plot
_MAX_DISTANCE = 128  # the plot's top: unrelated frames sit about here


def render_timeline(
    timeline: Timeline,
    pictures: Sequence[tuple[Span, Localisation]],
    *,
    label: str,
    audio_spans: Sequence[AudioSpan] = (),
) -> bytes:
    """PNG bytes: the timeline strip, then one row of frame panels per altered span (in time order)."""
    rows = [_strip(timeline, label, audio_spans)]
    for span, localisation in pictures:
        rows.append(_span_row(span, localisation))
    width = max(row.shape[1] for row in rows)
    canvas = np.full((sum(row.shape[0] for row in rows), width, 3), _BACKGROUND, np.uint8)
    y = 0
    for row in rows:
        canvas[y : y + row.shape[0], : row.shape[1]] = row
        y += row.shape[0]
    ok, png = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the timeline as PNG")
    return png.tobytes()


def _strip(timeline: Timeline, label: str, audio_spans: Sequence[AudioSpan]) -> np.ndarray:
    height = _HEADER + _STRIP + 40
    strip = np.full((height, _WIDTH, 3), _BACKGROUND, np.uint8)
    end = max(float(timeline.times[-1]) if len(timeline.times) else 1.0, *(s.end for s in timeline.segments), 1e-3)
    left, right = 40, _WIDTH - 16

    def x_of(t: float) -> int:
        return round(left + (right - left) * t / end)

    def y_of(distance: float) -> int:
        return round(_HEADER + _STRIP * (1 - min(distance, _MAX_DISTANCE) / _MAX_DISTANCE))

    for span in timeline.spans:
        corners = (x_of(span.start), _HEADER), (x_of(span.end), _HEADER + _STRIP)
        cv2.rectangle(strip, *corners, _SPAN_COLOURS[span.kind], -1)
    for audio in audio_spans:
        corners = (x_of(audio.start), _HEADER + _STRIP - _AUDIO_BAND), (x_of(audio.end), _HEADER + _STRIP)
        cv2.rectangle(strip, *corners, _AUDIO_COLOURS[audio.kind], -1)
    cv2.line(strip, (left, y_of(MATCH_DISTANCE)), (right, y_of(MATCH_DISTANCE)), _THRESHOLD, 1)
    points = [
        (x_of(float(t)), y_of(float(d))) for t, d in zip(timeline.times, timeline.distances, strict=True) if d >= 0
    ]
    if len(points) > 1:
        cv2.polylines(strip, [np.array(points, np.int32)], False, _LINE, 2, cv2.LINE_AA)
    for point in points:
        cv2.circle(strip, point, 3, _LINE, -1)
    segments = ", ".join(
        f"{s.start:.2f}-{s.end:.2f}s = original {s.original_start:.2f}-{s.original_end:.2f}s x{s.speed:.2f}"
        for s in timeline.segments
    )
    marked: list[Span | AudioSpan] = [*timeline.spans, *audio_spans]
    spans = ", ".join(f"{s.kind} {s.start:.2f}-{s.end:.2f}s" for s in marked) or "no altered spans"
    draw_text(strip, f"{label}  matched {100 * timeline.matched_share:.0f}% of frames  {spans}", (8, 16), 0.45, 1)
    draw_text(strip, segments, (8, 34), 0.4, 1)
    draw_text(strip, "0 s", (left, _HEADER + _STRIP + 18), 0.4, 1)
    draw_text(strip, f"{end:.1f} s", (right - 48, _HEADER + _STRIP + 18), 0.4, 1)
    draw_text(strip, f"PDQ distance per frame (line: {MATCH_DISTANCE})", (left + 200, _HEADER + _STRIP + 18), 0.4, 1)
    return strip


def _span_row(span: Span, localisation: Localisation) -> np.ndarray:
    panels = [localisation.original, aligned_panel(localisation), differences_panel(localisation)]
    h, w = localisation.original.shape[:2]
    factor = min(1.0, _PANEL / w, _PANEL / h)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    row = np.full((size[1] + 30, 3 * size[0] + 4 * _GAP, 3), _BACKGROUND, np.uint8)
    for i, panel in enumerate(panels):
        x = _GAP + i * (size[0] + _GAP)
        row[24 : 24 + size[1], x : x + size[0]] = cv2.resize(panel, size, interpolation=cv2.INTER_AREA)
    draw_text(
        row,
        f"{span.kind} {span.start:.2f}-{span.end:.2f}s (frame at {span.peak:.2f}s, distance {span.distance}): "
        "original | clip aligned | differences",
        (_GAP, 16),
        0.42,
        1,
    )
    return row
