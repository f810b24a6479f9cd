"""The check pipeline's fallback assessment: present when nothing registered matches, absent when something does."""

from __future__ import annotations

import io
import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import photo_bytes
from PIL import Image
from pool_tasks import broken_assessor, burning_assessor
from splices import jpeg_bytes, pixels, spliced_astronaut
from videoclips import Clip, original_frame
from videoclips import encode as encode_clip

from detector.model import load_default
from fingerprint.kinds import Fingerprint
from fingerprint.video.decode import VideoLimits, probe
from registry import matching, views
from registry.assessment import DetectorAssessor, assessor_for
from registry.kinds.video import sampled_frames
from registry.pool import MediaPool
from registry.runtime import Registry
from registry.settings import Settings


def _check(registry: Registry, content: bytes, **kwargs: object) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)  # type: ignore[arg-type]


def test_an_unregistered_splice_gets_signals_and_a_kept_heat_map(registry: Registry) -> None:
    view = _check(registry, spliced_astronaut(), pictures="keep")
    assert view.verdict == "unregistered" and view.assessment is not None
    assessment = view.assessment
    # the committed model scores it below its operating threshold: a fired signal alone is never "manipulated"
    model = load_default()
    assert model is not None and assessment.model_version == model.version
    assert assessment.p_manipulated is not None and assessment.p_manipulated < model.threshold
    assert assessment.verdict == "inconclusive"
    assert [s.name for s in assessment.signals if s.fired] == ["jpeg_grid_misalignment"]
    assert assessment.heatmap is not None and assessment.heatmap.url is None  # the HTTP layer adds the URL
    png = registry.pictures.get(assessment.heatmap.id)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert "not on real deepfakes" in assessment.caveat
    assert _check(registry, spliced_astronaut()).assessment.heatmap is None  # type: ignore[union-attr]


@pytest.mark.slow
def test_a_registered_copy_gets_no_assessment(registry: Registry, register: Callable[[bytes], str]) -> None:
    register(photo_bytes("astronaut"))
    view = _check(registry, jpeg_bytes(pixels("astronaut"), 70))
    assert view.verdict == "copy" and view.assessment is None
    assert _check(registry, photo_bytes("coffee"), mode="fast").assessment is None  # fast mode never assesses


def test_faces_are_reported_in_the_query_pixels(registry: Registry) -> None:
    framed = np.full((480, 600, 3), 255, np.uint8)
    framed[:, 120:] = pixels("astronaut")  # a white band on the left, trimmed before analysis
    view = _check(registry, jpeg_bytes(framed, 92))
    assert view.assessment is not None
    (face,) = view.assessment.faces
    assert abs(face.x - (163 + 120)) <= 8 and abs(face.y - 64) <= 8


def test_the_detector_can_be_switched_off(tmp_path: Path) -> None:
    assert assessor_for(Settings(data_dir=tmp_path, detector="off")) is None
    assert isinstance(assessor_for(Settings(data_dir=tmp_path)), DetectorAssessor)
    registry = Registry.open(Settings(data_dir=tmp_path / "off", detector="off"))
    registry.load()
    try:
        assert _check(registry, spliced_astronaut()).assessment is None
    finally:
        registry.close()


@pytest.mark.slow
def test_the_assessment_runs_in_the_media_pool(registry: Registry) -> None:
    assert pickle.loads(pickle.dumps(registry.assessor)) == registry.assessor
    settings = registry.settings
    registry.pool = MediaPool(
        workers=1,
        queue=1,
        cpu_seconds=settings.media_cpu_seconds,
        memory_bytes=settings.media_memory_bytes,
        wall_seconds=settings.media_wall_seconds,
    )
    try:
        pooled = _check(registry, spliced_astronaut(), pictures="keep")
    finally:
        registry.pool.close()
        registry.pool = None
    here = _check(registry, spliced_astronaut(), pictures="keep")
    assert pooled.assessment is not None and here.assessment is not None
    assert pooled.assessment.model_dump(exclude={"heatmap"}) == here.assessment.model_dump(exclude={"heatmap"})
    assert pooled.assessment.heatmap is not None


@pytest.mark.slow
def test_an_unregistered_video_is_assessed_from_a_bounded_number_of_frames(registry: Registry) -> None:
    view = _check(registry, encode_clip(Clip(duration=6.0)), pictures="keep")
    assert view.verdict == "unregistered" and view.assessment is not None
    assessment = view.assessment
    assert assessment.frames == registry.settings.detector_video_frames == 16
    assert assessment.model_version is not None and "too_few_frames" not in assessment.ood_flags
    assert any(s.name == "flagged_frames" for s in assessment.signals)
    assert assessment.heatmap is None and view.warnings == []  # a video's heat-map frame is not kept to draw on
    short = _check(registry, encode_clip(Clip(duration=0.4))).assessment  # 6 frames at 15 fps
    assert short is not None and short.frames == 6 and "too_few_frames" in short.ood_flags
    assert short.verdict == "inconclusive"


def test_video_frames_are_spread_evenly_over_the_whole_video() -> None:
    video = probe(encode_clip(Clip(duration=10.0)), VideoLimits())
    frames = sampled_frames(video, 4)
    assert len(frames) == 4
    for frame, t in zip(frames, (0.0, 2.5, 5.0, 7.5), strict=True):
        errors = {u: np.abs(frame.astype(int) - original_frame(u).astype(int)).mean() for u in (t, t + 1.0, t - 1.0)}
        assert min(errors, key=errors.__getitem__) == t, errors
    fp = Fingerprint(kind="video", sha256="", media_type=video.media_type, size=0, hashes=())
    assert DetectorAssessor(video_frames=4)(video, fp).frames == 4  # type: ignore[union-attr]


def test_a_failing_assessment_is_dropped_with_a_warning(registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    registry.assessor = broken_assessor
    with caplog.at_level(logging.WARNING, logger="registry.matching"):
        view = _check(registry, spliced_astronaut())
    assert view.verdict == "unregistered" and view.assessment is None
    assert view.warnings == [
        "the manipulation assessment was dropped: an internal error (logged); the match result stands without it"
    ]
    assert "ZeroDivisionError: a bug in the assessor" in caplog.text


@pytest.mark.slow
def test_an_assessment_over_the_workers_limits_is_dropped_with_a_warning(registry: Registry) -> None:
    registry.assessor = burning_assessor
    settings = registry.settings
    registry.pool = MediaPool(
        workers=1, queue=1, cpu_seconds=2, memory_bytes=settings.media_memory_bytes, wall_seconds=60
    )
    try:
        view = _check(registry, spliced_astronaut())
    finally:
        registry.pool.close()
        registry.pool = None
    assert view.verdict == "unregistered" and view.assessment is None
    (warning,) = view.warnings
    assert "assessment was dropped" in warning and "PROVREG_MEDIA_CPU_SECONDS" in warning
