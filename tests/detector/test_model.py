"""The learned manipulation model: deterministic inference, offline loading, and a smoke training run that learns."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from api.cli import app
from detector import model as model_io
from detector import synth
from detector.photos import Photo, package_photos, split_photos
from detector.train import Recipe, calibrate, expected_calibration_error, fit_platt, raw_logits, roc_auc, train_model

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def photos() -> list[Photo]:
    return package_photos()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the detector tried to open a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_committed_weights_load_offline_and_describe_themselves(no_network: None) -> None:
    model = model_io.load_default()
    assert model is not None, "detector/weights/sbi-effnetlite0.{pt,json} are missing"
    meta = json.loads((model_io.WEIGHTS_DIR / f"{model_io.DEFAULT_NAME}.json").read_text())
    assert model.version == meta["version"] and model.version.startswith("sbi-effnetlite0-")
    assert meta["command"].startswith("provreg detector train")
    assert 0.0 < model.threshold < 1.0
    total = sum(p.stat().st_size for p in model_io.WEIGHTS_DIR.iterdir())
    assert total <= 20 * 1024 * 1024


def test_inference_is_deterministic_on_a_fixture(no_network: None) -> None:
    model = model_io.load_default()
    assert model is not None
    rgb = np.asarray(Image.open(DATA / "coffee.jpg").convert("RGB"))
    first, second = model.score(rgb), model.score(rgb.copy())
    assert first.p_manipulated == second.p_manipulated and first.interval == second.interval
    assert np.array_equal(first.heatmap, second.heatmap)
    assert first.heatmap.shape == rgb.shape[:2] and first.heatmap.dtype == np.float32
    assert first.heatmap.min() >= 0.0 and first.heatmap.max() <= 1.0
    low, high = first.interval
    assert 0.0 <= low <= first.p_manipulated <= high <= 1.0


def test_score_takes_any_size_and_refuses_what_is_not_rgb() -> None:
    model = model_io.load_default()
    assert model is not None
    assert model.score(np.zeros((7, 300, 3), np.uint8)).heatmap.shape == (7, 300)
    with pytest.raises(ValueError):
        model.score(np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError):
        model.score(np.zeros((32, 32, 3), np.float32))


@pytest.mark.slow
def test_samples_are_balanced_and_only_fakes_carry_masks(photos: list[Photo]) -> None:
    batch = synth.make_samples(
        photos[:4], synth.FAMILIES, count=20, size=32, degradation=synth.TRAIN_DEGRADATION, seed=3
    )
    assert batch.images.shape == (20, 32, 32, 3) and batch.masks.shape == (20, 32, 32)
    real = np.array(batch.families) == "real"
    assert real.sum() == 10 and set(batch.families) == {"real", *synth.FAMILIES}
    assert not batch.masks[real].any() and all(batch.masks[i].max() > 0.3 for i in np.flatnonzero(~real))
    assert np.array_equal(batch.labels, (~real).astype(np.int64))
    again = synth.make_samples(
        photos[:4], synth.FAMILIES, count=20, size=32, degradation=synth.TRAIN_DEGRADATION, seed=3
    )
    assert np.array_equal(batch.images, again.images)


@pytest.mark.slow
def test_split_is_by_source_photo(photos: list[Photo]) -> None:
    train, calibration, test = split_photos(photos, seed=1, calibration=3, test=4)
    names = [{p.name for p in part} for part in (train, calibration, test)]
    assert len(calibration) == 3 and len(test) == 4 and len(train) == len(photos) - 7
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])


def test_metrics_against_known_values() -> None:
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), labels) == 0.75
    assert roc_auc(np.array([1.0, 1.0, 1.0, 1.0]), labels) == 0.5
    assert expected_calibration_error(np.array([0.0, 0.0, 1.0, 1.0]), labels.astype(float)) == 0.0
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, 20_000)
    drawn = (rng.random(20_000) < 1 / (1 + np.exp(-(0.5 * logits - 1.0)))).astype(float)
    slope, intercept = fit_platt(logits, drawn)
    assert abs(slope - 0.5) < 0.05 and abs(intercept + 1.0) < 0.1
    _, threshold = calibrate(logits, drawn)
    p = 1 / (1 + np.exp(-(slope * logits + intercept)))
    assert abs((p[drawn == 0] >= threshold).mean() - 0.05) < 0.01


@pytest.mark.slow  # trains a network for half a minute
def test_smoke_training_learns_self_blends_on_unseen_photos(photos: list[Photo]) -> None:
    """A few hundred 64 px samples: held-out self-blend AUC above 0.75 (issue 11, item 6)."""
    assert len(photos) == 18, "the test extra installs scikit-image, scikit-learn and matplotlib: their 18 photos"
    train, calibration, test_photos = split_photos(photos, seed=0, calibration=3, test=4)
    recipe = Recipe(size=64, train_samples=320, calibration_samples=100, epochs=4, families=("self_blend",))
    model = train_model(train, calibration, recipe)
    test = synth.make_samples(
        test_photos, ("self_blend",), count=300, size=64, degradation=synth.TRAIN_DEGRADATION, seed=99
    )
    assert roc_auc(raw_logits(model.net, test.images), test.labels) > 0.75


@pytest.mark.slow
def test_cli_train_writes_a_model_that_loads(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--name", "tiny", "--size", "32", "--samples", "32", "--epochs", "1", "--json"]
    result = CliRunner().invoke(app, ["detector", "train", *args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert Path(summary["weights"]).is_file()
    loaded = model_io.load(tmp_path, "tiny")
    assert loaded.input_size == 32 and loaded.threshold == summary["threshold"]
    assert json.loads((tmp_path / "tiny.json").read_text())["recipe"]["train_samples"] == 32
