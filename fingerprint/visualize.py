"""A picture a person can check a verdict with: original, query aligned to it, and what differs.

Three panels side by side, each at most `MAX_PANEL` pixels wide: the original; the query warped into the original's
frame (grey where the query does not cover it); the original with a heat-map of the difference and the altered
regions outlined. A header line states the verdict, the original's label and the transform.
"""

from __future__ import annotations

import cv2
import numpy as np

from fingerprint.compare import PDQ, DerivativeMatch, Localisation, Transform

MAX_PANEL = 640
_HEADER = 64
_GAP = 8
_OUTLINE = (255, 40, 40)
_TEXT = (20, 20, 20)
_BACKGROUND = (245, 245, 245)
_UNCOVERED = (128, 128, 128)


def render_comparison(match: DerivativeMatch, *, label: str, max_panel: int = MAX_PANEL) -> bytes:
    """PNG bytes of the three-panel comparison for one analysed match; the title names the original by `label`
    (the registry passes the registration id a reader can look up, not its internal reference key)."""
    if match.localisation is None:
        raise ValueError("this match carries no localisation to draw")
    if max_panel < 64:
        raise ValueError("max_panel must be at least 64 pixels")
    localisation = match.localisation
    panels = [
        ("original", localisation.original),
        ("query, aligned", aligned_panel(localisation)),
        ("differences", differences_panel(localisation)),
    ]
    height, width = localisation.original.shape[:2]
    factor = min(1.0, max_panel / width, max_panel / height)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    scaled = [(label, cv2.resize(image, size, interpolation=cv2.INTER_AREA)) for label, image in panels]
    canvas = np.full((_HEADER + size[1] + 28, 3 * size[0] + 4 * _GAP, 3), _BACKGROUND, np.uint8)
    verdict = f"{match.verdict.upper()}  {label}  ({_alignment_text(match)})"
    draw_text(canvas, verdict, (_GAP, 24), 0.6, 2)
    draw_text(canvas, _transform_text(match.transform, localisation), (_GAP, 50), 0.45, 1)
    for i, (label, image) in enumerate(scaled):
        x = _GAP + i * (size[0] + _GAP)
        canvas[_HEADER : _HEADER + size[1], x : x + size[0]] = image
        draw_text(canvas, label, (x, _HEADER + size[1] + 20), 0.5, 1)
    ok, png = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the comparison as PNG")
    return png.tobytes()


def aligned_panel(localisation: Localisation) -> np.ndarray:
    aligned = localisation.warped.copy()
    aligned[~localisation.overlap] = _UNCOVERED
    return aligned


def differences_panel(localisation: Localisation) -> np.ndarray:
    """The original, dimmed, with the difference score as a heat-map and each altered region outlined."""
    heat = np.clip(localisation.heat, 0.0, 2.0) / 2.0
    colours = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    weight = (0.7 * heat)[..., None]  # unchanged areas keep their own colours
    base = localisation.original.astype(np.float32) * 0.85
    blended = (base * (1 - weight) + colours.astype(np.float32) * weight).astype(np.uint8)
    thickness = max(2, round(max(blended.shape[:2]) / 300))
    contours, _ = cv2.findContours(localisation.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(blended, contours, -1, _OUTLINE, thickness)
    return blended


def _alignment_text(match: DerivativeMatch) -> str:
    if match.alignment.method == "pdq":
        hit = match.candidate.best(PDQ)
        return f"aligned by PDQ distance {None if hit is None else hit.distance}"
    return f"{match.alignment.inliers} keypoint inliers"


def _transform_text(transform: Transform, localisation: Localisation) -> str:
    parts = [f"scale {transform.scale:.2f}", f"rotation {transform.rotation:+.1f} deg"]
    if transform.flipped:
        parts.append("mirrored")
    if transform.cropped:
        parts.append(f"crop {transform.crop.w}x{transform.crop.h} at {transform.crop.x},{transform.crop.y}")
    if transform.framed:
        parts.append("padded/framed")
    if transform.composite:
        parts.append("composite: put into another picture")
    if transform.grayscale:
        parts.append("grayscale")
    elif transform.photometric_change:
        parts.append("colour changed")
    parts.append(f"altered {100 * localisation.altered_fraction:.1f}% in {len(localisation.regions)} region(s)")
    return ", ".join(parts)


def draw_text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float, thickness: int) -> None:
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, thickness, cv2.LINE_AA)
