"""The check's `assessment` over HTTP and in the CLI: its JSON, the heat-map picture, `--visualize`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import photo_bytes, wait_ready
from fastapi.testclient import TestClient
from PIL import Image
from splices import spliced_astronaut
from typer.testing import CliRunner
from videoclips import Clip
from videoclips import encode as encode_clip

from api.app import create_app
from api.cli import app
from registry.settings import Settings

runner = CliRunner()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def _check(client: TestClient, content: bytes, **params: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/check", params=params, files={"file": ("query", content, "application/octet-stream")})


def test_http_check_carries_the_assessment_and_serves_its_heat_map(client: TestClient) -> None:
    response = _check(client, spliced_astronaut(), pictures="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] == "unregistered" and body["comparisons"] == []
    assessment = body["assessment"]
    assert assessment["verdict"] == "inconclusive" and 0 <= assessment["p_manipulated"] <= 1
    assert assessment["model_version"].startswith("sbi-effnetlite0-")
    assert {s["name"] for s in assessment["signals"] if s["fired"]} == {"jpeg_grid_misalignment"}
    assert assessment["faces"] and assessment["face_detector"] == "blazeface" and assessment["ood_flags"] == []
    url = assessment["heatmap"]["url"]
    assert url == f"/v1/check/pictures/{assessment['heatmap']['id']}"
    picture = client.get(url)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).format == "PNG"
    plain = _check(client, spliced_astronaut()).json()["assessment"]
    assert plain["heatmap"] is None and plain["signals"] == assessment["signals"]
    assert _check(client, photo_bytes("coffee")).json()["assessment"]["ood_flags"] == ["no_face"]
    assert "assessment" in client.get("/openapi.json").json()["components"]["schemas"]["CheckView"]["properties"]


def test_cli_check_shows_the_assessment_and_draws_the_heat_map(tmp_path: Path) -> None:
    data_dir = tmp_path / "registry"
    query = tmp_path / "doctored.jpg"
    query.write_bytes(spliced_astronaut())
    result = runner.invoke(app, ["--data-dir", str(data_dir), "init"])
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["--data-dir", str(data_dir), "check", str(query), "--json"])
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["verdict"] == "unregistered" and line["assessment"]["verdict"] == "inconclusive"
    out = tmp_path / "out"
    result = runner.invoke(app, ["--data-dir", str(data_dir), "check", str(query), "--visualize", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "assessment: inconclusive" in result.stdout and "jpeg_grid_misalignment" in result.stdout
    assert "not on real deepfakes" in result.stdout
    assert (out / "doctored--heatmap.png").exists() and f"picture: {out / 'doctored--heatmap.png'}" in result.stdout


def test_cli_check_shows_a_video_assessment_with_its_frames(tmp_path: Path) -> None:
    data_dir = tmp_path / "registry"
    query = tmp_path / "clip.mp4"
    query.write_bytes(encode_clip(Clip(duration=2.0)))
    assert runner.invoke(app, ["--data-dir", str(data_dir), "init"]).exit_code == 0
    result = runner.invoke(app, ["--data-dir", str(data_dir), "check", str(query), "--json"])
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["verdict"] == "unregistered" and line["assessment"]["frames"] == 16 and line["warnings"] == []
    result = runner.invoke(app, ["--data-dir", str(data_dir), "check", str(query)])
    assert result.exit_code == 0, result.stderr
    assert "assessment (16 frames): " in result.stdout
