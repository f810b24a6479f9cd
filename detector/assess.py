"""`assess`: what can be said about manipulation of media that matches no registered original.

    >>> from detector import assess
    >>> assessment = assess(rgb, scorer=None)        # classical signals only
    >>> assessment.verdict, [s.name for s in assessment.signals if s.fired]

The verdict is one of three, and never "authentic":

- `likely_manipulated`: only with the learned model, when its calibrated probability is at or above its operating
  threshold (5% false positives on held-out real photos) and either the whole uncertainty interval is, or a
  classical signal agrees; and no out-of-distribution flag is raised. The classical signals alone never give it: on
  their own they point a reviewer at a region, they do not convict a photo.
- `inconclusive`: a flag says the media is unlike what this was validated on, or the model and the signals
  disagree, or the model is above its threshold but unsure.
- `no_evidence_found`: nothing fired. That is not evidence of authenticity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detector import ood
from detector.faces import detect_faces, detector_name
from detector.signals import SignalResult, analyse
from detector.types import Assessment, AssessmentVerdict, Face, ModelScore, Scorer, Signal

MAX_SIDE = 1024  # larger images are assessed at this size (the registry's working size)
MAX_VIDEO_FRAMES = 16  # frames sampled evenly from a video, however long: a bounded cost per video
VIDEO_TOP_K = 3  # the video's probability: the mean of its k most suspicious frames
VIDEO_FLAGGED_SHARE = 0.25  # share of sampled frames that must be flagged for a signal to fire for the video


@dataclass(frozen=True, slots=True)
class _Frame:
    """Everything examined on one image, before any verdict."""

    shape: tuple[int, int]
    signals: list[SignalResult]
    faces: tuple[Face, ...]
    flags: list[str]
    model: ModelScore | None

    @property
    def suspicion(self) -> float:
        """How suspicious this frame is, to choose a video's most telling one."""
        classical = max((r.signal.score for r in self.signals if r.signal.fired), default=0.0)
        return self.model.p_manipulated if self.model is not None else classical


def assess(rgb: np.ndarray, *, scorer: Scorer | None = None) -> Assessment:
    """Assess one RGB uint8 image (HxWx3); deterministic for a given image and scorer."""
    frame = _examine(_bounded(rgb), scorer)
    p, interval = (None, None) if frame.model is None else (frame.model.p_manipulated, frame.model.interval)
    signals = tuple(r.signal for r in frame.signals)
    verdict, reason = _decide(p, interval, scorer, signals, frame.flags)
    return _assessment(frame, verdict, reason, p, interval, signals, frame.flags, scorer, frames=1)


def assess_video(
    frames: Sequence[np.ndarray], *, scorer: Scorer | None = None, max_frames: int = MAX_VIDEO_FRAMES
) -> Assessment:
    """Assess a video from at most `max_frames` of its frames, sampled evenly.

    The probability is the mean of the VIDEO_TOP_K highest frame probabilities (a manipulation often shows in part
    of a clip only); a signal fires for the video when it fired on at least VIDEO_FLAGGED_SHARE of the frames, and
    `flagged_frames` reports the share of frames the model (or, without one, any signal) flagged.
    """
    if not frames:
        raise ValueError("a video assessment needs at least one frame")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_frames)).round().astype(int))
    examined = [_examine(_bounded(frames[i]), scorer) for i in picks]
    top = sorted(examined, key=lambda f: -f.suspicion)[:VIDEO_TOP_K]
    p = interval = None
    if scorer is not None:
        models = [f.model for f in top if f.model is not None]
        if models:
            p = float(np.mean([m.p_manipulated for m in models]))
            lows, highs = zip(*(m.interval for m in models), strict=True)
            interval = (float(np.mean(lows)), float(np.mean(highs)))
    flagged = [
        (f.model.p_manipulated >= scorer.threshold)
        if scorer is not None and f.model is not None
        else any(r.signal.fired for r in f.signals)
        for f in examined
    ]
    share = float(np.mean(flagged))
    per_frame = [{r.signal.name: r.signal for r in f.signals} for f in examined]  # each signal by name, not position
    signals = (
        *(_video_signal([frame[name] for frame in per_frame]) for name in per_frame[0]),
        Signal(
            "flagged_frames",
            share,
            share >= VIDEO_FLAGGED_SHARE,
            f"{sum(flagged)} of {len(examined)} sampled frames flagged by the {'model' if scorer else 'signals'}",
        ),
    )
    # a flag counts for the video when it holds on at least half of the frames (one dark frame is no reason)
    flags = [flag for flag in _ordered_flags(examined) if sum(flag in f.flags for f in examined) * 2 >= len(examined)]
    flags += ood.video_flags(len(examined))
    verdict, reason = _decide(p, interval, scorer, signals, flags)
    return _assessment(top[0], verdict, reason, p, interval, signals, flags, scorer, frames=len(examined))


def _bounded(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (HxWx3), got {rgb.dtype} {rgb.shape}")
    factor = MAX_SIDE / max(rgb.shape[:2])
    if factor >= 1:
        return rgb
    size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _examine(rgb: np.ndarray, scorer: Scorer | None) -> _Frame:
    faces = detect_faces(rgb)
    analysis = analyse(rgb)
    flags = ood.image_flags(rgb.shape, analysis, faces, face_detector=detector_name())
    # a tiny image is too small for the model's input to mean anything: it is not consulted
    model = scorer.score(rgb) if scorer is not None and "tiny_image" not in flags else None
    return _Frame((rgb.shape[0], rgb.shape[1]), analysis.results, faces, flags, model)


def _decide(
    p: float | None,
    interval: tuple[float, float] | None,
    scorer: Scorer | None,
    signals: Sequence[Signal],
    flags: Sequence[str],
) -> tuple[AssessmentVerdict, str]:
    fired = [s.name for s in signals if s.fired and s.name != "flagged_frames"]
    cues = f"signals fired: {', '.join(fired)}" if fired else "no classical signal fired"
    if flags:
        return "inconclusive", f"outside what this was validated on ({', '.join(flags)}); {cues}"
    if scorer is None or p is None or interval is None:
        if fired:
            return "inconclusive", f"{cues}; without the learned model the signals alone give no verdict"
        return "no_evidence_found", "no classical signal fired (no learned model consulted)"
    above = p >= scorer.threshold
    if above and (interval[0] >= scorer.threshold or fired):
        return "likely_manipulated", f"model p={p:.2f} at or above its threshold {scorer.threshold:.2f}; {cues}"
    if above:
        return "inconclusive", (
            f"model p={p:.2f} above its threshold {scorer.threshold:.2f} but its interval reaches below it, "
            "and no classical signal agrees"
        )
    if fired:
        return "inconclusive", f"model p={p:.2f} below its threshold {scorer.threshold:.2f}, but {cues}"
    return "no_evidence_found", f"model p={p:.2f} below its threshold {scorer.threshold:.2f}; {cues}"


def _heatmap(frame: _Frame, verdict: AssessmentVerdict) -> np.ndarray | None:
    """Where the fired signals and the model point, at the assessed size; None when nothing points anywhere or no
    evidence was found (the picture must not say more than the words)."""
    if verdict == "no_evidence_found":
        return None
    layers = [r.heat for r in frame.signals if r.signal.fired]
    if frame.model is not None:
        h, w = frame.shape
        model_map = np.clip(np.asarray(frame.model.heatmap, np.float32), 0.0, 1.0)
        layers.append(cv2.resize(model_map, (w, h), interpolation=cv2.INTER_LINEAR))
    return np.maximum.reduce(layers).astype(np.float32) if layers else None


def _video_signal(per_frame: list[Signal]) -> Signal:
    share = float(np.mean([s.fired for s in per_frame]))
    score = float(np.mean(sorted((s.score for s in per_frame), reverse=True)[:VIDEO_TOP_K]))
    fired = share >= VIDEO_FLAGGED_SHARE
    return Signal(per_frame[0].name, score, fired, f"fired on {share:.0%} of the sampled frames")


def _ordered_flags(frames: Sequence[_Frame]) -> list[str]:
    return list(dict.fromkeys(flag for f in frames for flag in f.flags))


def _assessment(
    frame: _Frame,
    verdict: AssessmentVerdict,
    reason: str,
    p: float | None,
    interval: tuple[float, float] | None,
    signals: tuple[Signal, ...],
    flags: Sequence[str],
    scorer: Scorer | None,
    *,
    frames: int,
) -> Assessment:
    return Assessment(
        verdict=verdict,
        p_manipulated=p,
        interval=interval,
        signals=signals,
        heatmap=_heatmap(frame, verdict),
        faces=frame.faces,
        face_detector=detector_name(),
        ood_flags=tuple(flags),
        model_version=None if scorer is None else scorer.version,
        reason=reason,
        size=frame.shape,
        frames=frames,
    )
