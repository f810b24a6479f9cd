"""The check pipeline's fallback-assessment stage: the detector, on media that no registered original matches.

`PROVREG_DETECTOR=on` (the default: the classical signals need nothing beyond the core dependencies) fills
`Registry.assessor` with a `DetectorAssessor`; `off` leaves it empty and checks carry no `assessment`. The
assessor runs in the media worker pool like the rest of a check's CPU work, so it must pickle: it holds the
function that loads the learned model (module-level, e.g. `detector.model.load_default`), never the model, and each
worker process loads the model once, on its first assessment.

What is assessed of a decoded file is its kind's (`registry.kinds`: `assess`, `heatmap`): timed media is assessed
from `PROVREG_DETECTOR_VIDEO_FRAMES` frames spread evenly over it, decoded in one streaming pass under its own caps,
so the analysis costs the same however long it is; only the decoding pass grows with it, and the caps bound that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

from detector import Assessment, Scorer
from detector.assess import MAX_VIDEO_FRAMES
from fingerprint.kinds import DecodedMedia, Fingerprint
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
    """`Registry.assessor`: an `Assessment` of decoded media, as its kind assesses it (None: a kind not assessed)."""

    load_scorer: ScorerLoader = no_model
    video_frames: int = MAX_VIDEO_FRAMES

    def __call__(self, media: DecodedMedia, fp: Fingerprint) -> Assessment | None:
        from registry.kinds import adapter  # the kinds reach the runtime, which holds this assessor

        return adapter(fp.kind).assess(media, partial(_loaded, self.load_scorer), self.video_frames)


def assessor_for(settings: Settings, load_scorer: ScorerLoader = committed_model) -> DetectorAssessor | None:
    return None if settings.detector == "off" else DetectorAssessor(load_scorer, settings.detector_video_frames)


def draw_heatmap(kind: str, media: DecodedMedia, assessment: Assessment) -> bytes | None:
    """The heat-map picture of an assessment, where its kind draws one (a media-pool task: top-level, picklable)."""
    from registry.kinds import adapter  # as in DetectorAssessor

    return adapter(kind).heatmap(media, assessment)


@cache
def _loaded(load_scorer: ScorerLoader) -> Scorer | None:
    return load_scorer()
