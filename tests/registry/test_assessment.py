"""The check pipeline's fallback assessment: present when nothing registered matches, absent when something does."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
from conftest import photo_bytes
from PIL import Image
from splices import jpeg_bytes, pixels, spliced_astronaut

from detector.model import load_default
from registry import matching, views
from registry.assessment import DetectorAssessor, assessor_for
from registry.pool import MediaPool
from registry.runtime import Registry
from registry.settings import Settings


def _check(registry: Registry, content: bytes, **kwargs: object) -> views.CheckView:
    with registry.session() as session:
        return matching.check(session=session, registry=registry, content=content, **kwargs)  # type: ignore[arg-type]


def test_an_unregistered_splice_gets_signals_and_a_kept_heat_map(registry: Registry) -> None:
    view = _check(registry, spliced_astronaut(), keep_pictures=True)
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
        pooled = _check(registry, spliced_astronaut(), keep_pictures=True)
    finally:
        registry.pool.close()
        registry.pool = None
    here = _check(registry, spliced_astronaut(), keep_pictures=True)
    assert pooled.assessment is not None and here.assessment is not None
    assert pooled.assessment.model_dump(exclude={"heatmap"}) == here.assessment.model_dump(exclude={"heatmap"})
    assert pooled.assessment.heatmap is not None
