"""The check pipeline's fallback-assessment stage: the detector, on media that no registered original matches.

`PROVREG_DETECTOR=on` (the default: the classical signals need nothing beyond the core dependencies) fills
`Registry.assessor` with a `DetectorAssessor`; `off` leaves it empty and checks carry no `assessment`. The
assessor runs in the media worker pool like the rest of a check's CPU work, so it must pickle: it holds the
function that loads the learned model (module-level, e.g. `detector.model.load_default`), never the model, and each
worker process loads the model once, on its first assessment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from detector import Assessment, Scorer, assess
from detector.visualize import heatmap_png
from fingerprint.media import CanonicalImage
from registry.settings import Settings

ScorerLoader = Callable[[], Scorer | None]


def no_model() -> None:
    """The loader when no learned model is wired in: classical signals only."""
    return None


def committed_model() -> Scorer | None:
    """The learned model whose weights ship in `detector/weights` (None without them).

    Imported here, not at the top: torch loads only in the worker that first assesses, never in the CLI or the API
    process."""
    from detector.model import load_default

    return load_default()


@dataclass(frozen=True, slots=True)
class DetectorAssessor:
    """`Registry.assessor`: an `Assessment` of a decoded image (other kinds are not assessed yet: None)."""

    load_scorer: ScorerLoader = no_model

    def __call__(self, media: Any, fp: Any) -> Assessment | None:
        if not isinstance(media, CanonicalImage):
            return None
        return assess(media.pixels, scorer=_loaded(self.load_scorer))


def assessor_for(settings: Settings, load_scorer: ScorerLoader = committed_model) -> DetectorAssessor | None:
    return None if settings.detector == "off" else DetectorAssessor(load_scorer)


def draw_heatmap(media: CanonicalImage, assessment: Assessment) -> bytes:
    """The heat-map picture of an assessment (a media-pool task: top-level, picklable)."""
    return heatmap_png(media.pixels, assessment)


@cache
def _loaded(load_scorer: ScorerLoader) -> Scorer | None:
    return load_scorer()
