"""Sound files over the public interfaces: the HTTP API, the check page's card and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from audioclips import RATE, VOICES, sound_file, speech
from conftest import wait_ready
from fastapi.testclient import TestClient
from test_cli import provreg
from test_http import Newsroom
from test_web import csrf_of

from api.app import create_app
from registry.settings import Settings

VOICE = speech(20.0, seed=21)


def _cut(start: float, end: float, samples: np.ndarray = VOICE) -> np.ndarray:
    return samples[round(start * RATE) : round(end * RATE)]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.max_video_seconds = 30
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def _check(client: TestClient, content: bytes):  # type: ignore[no-untyped-def]
    return client.post("/v1/check", files={"file": ("clip", content, "application/octet-stream")})


def test_register_check_and_look_up_sound_over_http(client: TestClient) -> None:
    registered = Newsroom(client).upload(sound_file(VOICE, "wav"))
    assert registered.status_code == 201, registered.text
    shown = registered.json()["fingerprints"]
    assert shown["kind"] == "sound" and shown["pdq"] is None and shown["primary_hash"]["algorithm"] == "soundhash"
    registration_id = registered.json()["id"]

    copy = _check(client, sound_file(_cut(5.0, 13.0), "opus"))
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["verdict"] == "copy" and body["kind"] == "sound" and body["media_type"] == "audio/ogg"
    assert body["pdq"] is None and body["facts"]["kind"] == "sound" and body["assessment"] is None
    (match,) = body["matches"]
    assert match["registration_id"] == registration_id and abs(match["facts"]["offset"] - 5.0) <= 0.1

    found = client.get("/v1/lookup", params={"alg": "soundhash", "hash": shown["primary_hash"]["value"]}).json()
    assert [m["registration_id"] for m in found["matches"]] == [registration_id]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (sound_file(_cut(0.0, 3.0), "mp3")[:300], 422, "corrupt_media"),
        (b"fLaC" + bytes(500), 422, "corrupt_media"),
        (sound_file(speech(31.0, seed=1), "flac"), 413, "too_large"),
    ],
    ids=["truncated", "damaged", "too-long"],
)
def test_bad_sound_files_get_a_clear_4xx(client: TestClient, content: bytes, status: int, code: str) -> None:
    response = _check(client, content)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_the_card_lists_a_spliced_in_span_and_the_picker_takes_sound(client: TestClient) -> None:
    Newsroom(client).upload(sound_file(VOICE, "flac"))
    page = client.get("/").text
    assert "audio/*" in page
    spliced = np.concatenate([_cut(2.0, 8.0), speech(3.0, seed=5, voice=VOICES[1]), _cut(8.0, 14.0)])
    card = client.post(
        "/check",
        params={"partial": "true"},
        data={"csrf": csrf_of(page)},
        files={"file": ("clip.mp3", sound_file(spliced, "mp3"))},
    )
    assert card.status_code == 200, card.text
    assert "A doctored version" in card.text and "sound the original does not have, spliced in" in card.text
    assert "PDQ distance" not in card.text and "from the hash alone" not in card.text


def test_cli_registers_and_checks_each_sound_format(tmp_path: Path) -> None:
    data_dir, key = tmp_path / "registry", tmp_path / "newsroom.pem"
    assert provreg(data_dir, "publisher", "create", "Daily Planet", "--key-out", str(key))[0] == 0
    originals = tmp_path / "sounds"
    originals.mkdir()
    formats = {"mp3": "mp3", "m4a": "m4a", "ogg": "opus", "weba": "webm", "wav": "wav", "flac": "flac"}
    voices = {suffix: speech(12.0, seed=40 + n, voice=VOICES[n % len(VOICES)]) for n, suffix in enumerate(formats)}
    for suffix, container in formats.items():
        (originals / f"original.{suffix}").write_bytes(sound_file(voices[suffix], container))
    code, out, err = provreg(data_dir, "register", str(originals), "--key", str(key), "--json")
    assert code == 0, err
    registered = {Path(line["file"]).suffix[1:]: line["registration_id"] for line in map(json.loads, out.splitlines())}
    assert set(registered) == set(formats)
    for suffix, container in formats.items():
        clip = tmp_path / f"clip.{suffix}"
        clip.write_bytes(sound_file(_cut(3.0, 9.0, voices[suffix]), container))
        code, out, err = provreg(data_dir, "check", str(clip), "--json")
        assert code == 0, err
        result = json.loads(out)
        assert result["verdict"] == "copy", (suffix, result)
        assert result["matches"][0]["registration_id"] == registered[suffix]
        assert abs(result["matches"][0]["facts"]["offset"] - 3.0) <= 0.1
    code, out, _ = provreg(data_dir, "check", str(clip))
    assert code == 0 and "shows the original's 3.00" in out and "distance" not in out
