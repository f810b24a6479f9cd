"""The check pipeline's fallback-assessment stage: the detector, on media that no registered original matches.

`PROVREG_DETECTOR=on` (the default: the classical signals need nothing beyond the core dependencies) fills
`Registry.assessor` with a `DetectorAssessor`; `off` leaves it empty and checks carry no `assessment`. The
assessor runs in the media worker pool like the rest of a check's CPU work, so it must pickle: it holds the
function that loads the learned model (module-level, e.g. `detector.model.load_default`), never the model, and each
worker process loads the model once, on its first assessment.

A video is assessed from `PROVREG_DETECTOR_VIDEO_FRAMES` frames spread evenly over it, decoded in one streaming pass
under the video's own caps (`fingerprint.video.decode.sample`): the analysis costs the same however long the video
is; only the decoding pass grows with it, and the caps bound that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Any

import numpy as np

from detector import Assessment, Scorer, assess, assess_video
from detector.assess import MAX_SIDE, MAX_VIDEO_FRAMES
from detector.visualize import heatmap_png
from fingerprint.media import CanonicalImage
from fingerprint.video.decode import VideoMedia, sample
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
    """`Registry.assessor`: an `Assessment` of a decoded image or video (other kinds are not assessed: None)."""

    load_scorer: ScorerLoader = no_model
    video_frames: int = MAX_VIDEO_FRAMES

    def __call__(self, media: Any, fp: Any) -> Assessment | None:
        if isinstance(media, CanonicalImage):
            return assess(media.pixels, scorer=_loaded(self.load_scorer))
        if isinstance(media, VideoMedia):
            frames = sampled_frames(media, self.video_frames)
            return assess_video(frames, scorer=_loaded(self.load_scorer), max_frames=self.video_frames)
        return None


def assessor_for(settings: Settings, load_scorer: ScorerLoader = committed_model) -> DetectorAssessor | None:
    return None if settings.detector == "off" else DetectorAssessor(load_scorer, settings.detector_video_frames)


def sampled_frames(video: VideoMedia, count: int) -> list[np.ndarray]:
    """At most `count` frames, one at the start of each of `count` equal spans of the video (fewer when the video
    has fewer frames), at most the assessment's working size."""
    # sample's grid is absolute (ticks at k / rate), so this rate puts the ticks at k * duration / count
    rate = count / video.duration if video.duration > 0 else video.limits.query_fps
    return [frame.pixels for frame in islice(sample(video, rate, max_side=MAX_SIDE), count)]


def draw_heatmap(media: Any, assessment: Assessment) -> bytes | None:
    """The heat-map picture of an assessment (a media-pool task: top-level, picklable). None for a video: the frame
    its heat-map was found on is not kept, and decoding the video again to find it would cost a second pass."""
    return heatmap_png(media.pixels, assessment) if isinstance(media, CanonicalImage) else None


@cache
def _loaded(load_scorer: ScorerLoader) -> Scorer | None:
    return load_scorer()
