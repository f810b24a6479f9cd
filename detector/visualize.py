"""The heat-map a reviewer looks at: the image, and over it where blending or manipulation was found.

Two panels side by side: the image with its detected faces outlined, and the same image under the heat-map (the
hotter, the more the fired signals and the model point there). When the verdict is `likely_manipulated`, the suspect
region (where the heat-map reaches SUSPECT) is outlined on both. A header states the verdict and its flags, so the
picture is never read without them.
"""

from __future__ import annotations

import cv2
import numpy as np

from detector.types import Assessment

MAX_PANEL = 640
_HEADER = 56
_GAP = 8
SUSPECT = 0.5  # heat at or above which a pixel belongs to the suspect region
_FACE = (40, 200, 40)
_REGION = (255, 0, 255)
_TEXT = (20, 20, 20)
_BACKGROUND = (245, 245, 245)


def heatmap_png(rgb: np.ndarray, assessment: Assessment) -> bytes:
    """PNG bytes: image with faces | image under the heat-map. `rgb` is the image `assessment` was made on."""
    if assessment.heatmap is None:
        raise ValueError("this assessment has no heat-map to draw")
    h, w = rgb.shape[:2]
    scale = min(1.0, MAX_PANEL / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    left = image.copy()
    # the assessment may have been made at a bounded size: faces are drawn in its proportions
    heat = cv2.resize(assessment.heatmap, size, interpolation=cv2.INTER_LINEAR)
    fx, fy = size[0] / assessment.heatmap.shape[1], size[1] / assessment.heatmap.shape[0]
    for face in assessment.faces:
        top_left = (round(face.x * fx), round(face.y * fy))
        bottom_right = (round((face.x + face.w) * fx), round((face.y + face.h) * fy))
        cv2.rectangle(left, top_left, bottom_right, _FACE, 2)
    colours = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    alpha = (0.15 + 0.6 * heat)[..., None]
    right = (image * (1 - alpha) + colours * alpha).astype(np.uint8)
    if assessment.verdict == "likely_manipulated":
        outline, _ = cv2.findContours((heat >= SUSPECT).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for panel in (left, right):
            cv2.drawContours(panel, outline, -1, _REGION, 2)
    canvas = np.full((_HEADER + size[1], 2 * size[0] + _GAP, 3), _BACKGROUND, np.uint8)
    canvas[_HEADER:, : size[0]] = left
    canvas[_HEADER:, size[0] + _GAP :] = right
    flags = f"  flags: {', '.join(assessment.ood_flags)}" if assessment.ood_flags else ""
    probability = "" if assessment.p_manipulated is None else f"  p={assessment.p_manipulated:.2f}"
    _text(canvas, f"{assessment.verdict}{probability}{flags}", (8, 22), 0.55)
    _text(canvas, "not proof: see the assessment's caveat", (8, 44), 0.45)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return encoded.tobytes()


def _text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT, 1, cv2.LINE_AA)
