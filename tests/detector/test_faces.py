"""Faces: BlazeFace from the model files shipped in detector/data, run by LiteRT; the classical fallback."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
from splices import pixels

from detector import faces


def test_blazeface_finds_the_astronaut_and_no_face_on_a_coffee_cup() -> None:
    assert faces.detector_name() == "blazeface"
    (face,) = faces.detect_faces(pixels("astronaut"))
    assert abs(face.x - 163) <= 8 and abs(face.y - 64) <= 8 and 85 <= face.w <= 115 and face.score > 0.9
    assert faces.detect_faces(pixels("coffee")) == ()
    assert faces.detect_faces(pixels("astronaut")) == (face,)  # deterministic


def test_anchors_match_the_models_outputs() -> None:
    for model, outputs in ((faces._FULL, 2304), (faces._SHORT, 896)):
        assert faces._anchors(model).shape == (outputs, 2)
        assert faces._blazeface(model).interpreter.get_output_details()[0]["shape"][1] == outputs


def test_the_classical_fallback_without_litert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "_interpreter_class", lambda: None)  # as on a machine without ai-edge-litert
    assert faces.detector_name() == "lbp_cascade"
    found = faces.detect_faces(pixels("astronaut"))
    assert found and abs(found[0].x + found[0].w / 2 - 212) <= 20 and abs(found[0].y + found[0].h / 2 - 113) <= 20
    assert faces.detect_faces(np.full((200, 200, 3), 90, np.uint8)) == ()


def test_the_shipped_models_are_the_ones_their_notice_names() -> None:
    notice = (faces.DATA / "NOTICE.md").read_text()
    assert "Apache License 2.0" in notice
    listed = dict((name, digest) for digest, name in re.findall(r"- ([0-9a-f]{64})  (\S+)", notice))
    shipped = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in faces.DATA.glob("*.tflite")}
    assert shipped == listed and len(shipped) == 2
