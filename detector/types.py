"""What an assessment says, and the shape of the learned model it may consult.

An `Assessment` is what the registry can still say about media that matches no registered original. Its verdict is
never "authentic": only a registry match supports that. `Scorer` is the learned model's interface (the model lives
in `detector.model`); everything here works without one, from the classical signals alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

AssessmentVerdict = Literal["likely_manipulated", "no_evidence_found", "inconclusive"]

# What every assessment says it was (and was not) validated on: a reader of the JSON alone must see it.
CAVEAT = (
    "Validated only on synthetic stand-ins made from real photos (self-blends, colour-matched splices, local warps, "
    "region re-synthesis, generator passes) and on classical splices of bundled sample photos, not on real "
    "deepfakes; detectors lose much of their accuracy on media unlike what they were validated on. "
    "'likely_manipulated' is a reason to look closer, not proof; 'no_evidence_found' is not 'authentic': only a "
    "match with a registered original supports that."
)


class ModelScore(Protocol):
    """One image's score from the learned model."""

    @property
    def p_manipulated(self) -> float: ...  # calibrated probability

    @property
    def interval(self) -> tuple[float, float]: ...  # uncertainty interval around p_manipulated

    @property
    def heatmap(self) -> np.ndarray: ...  # float32 HxW in [0, 1]: where blending was found


class Scorer(Protocol):
    """The learned manipulation model (`detector.model.ManipulationModel`), or anything with its shape."""

    @property
    def version(self) -> str: ...

    @property
    def threshold(self) -> float: ...  # operating point: 5% false positives on held-out real photos

    def score(self, rgb: np.ndarray) -> ModelScore: ...


@dataclass(frozen=True, slots=True)
class Signal:
    """One explainable cue; `score` is on the signal's own scale, `fired` when it passed its measured threshold."""

    name: str
    score: float
    fired: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "score": round(self.score, 4), "fired": self.fired, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Face:
    """A detected face in the assessed image's pixels."""

    x: int
    y: int
    w: int
    h: int
    score: float

    def placed(self, scale_x: float, scale_y: float, dx: int, dy: int) -> Face:
        """The same face in another frame: scaled, then shifted (e.g. from a bounded copy into the full image)."""
        x, y = dx + round(self.x * scale_x), dy + round(self.y * scale_y)
        return Face(x, y, round(self.w * scale_x), round(self.h * scale_y), self.score)

    def to_json(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "score": round(self.score, 4)}


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: AssessmentVerdict
    p_manipulated: float | None  # calibrated, from the model; None when no model was consulted
    interval: tuple[float, float] | None
    signals: tuple[Signal, ...]
    heatmap: np.ndarray | None  # float32 HxW in [0, 1] over the assessed image; None when nothing points anywhere
    faces: tuple[Face, ...]
    face_detector: str  # "blazeface", "lbp_cascade" (the classical fallback) or "none"
    ood_flags: tuple[str, ...]  # why the media is outside what the assessment was validated on
    model_version: str | None  # None: classical signals only
    reason: str  # one sentence: why this verdict
    size: tuple[int, int]  # (height, width) of the assessed image, the pixels `faces` and `heatmap` refer to
    caveat: str = CAVEAT
    frames: int = 1  # images assessed: 1 for a still, the sampled frames of a video

    def to_json(self) -> dict[str, Any]:
        """Everything but the heat-map's pixels (served as a picture), as JSON-able values."""
        return {
            "verdict": self.verdict,
            "p_manipulated": None if self.p_manipulated is None else round(self.p_manipulated, 4),
            "interval": None if self.interval is None else [round(v, 4) for v in self.interval],
            "signals": [signal.to_json() for signal in self.signals],
            "faces": [face.to_json() for face in self.faces],
            "face_detector": self.face_detector,
            "ood_flags": list(self.ood_flags),
            "model_version": self.model_version,
            "reason": self.reason,
            "caveat": self.caveat,
            "frames": self.frames,
        }
