"""Video over the public interfaces: the HTTP API and the CLI register footage and check clips against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from audioclips import RATE, VOICES, speech, swap
from conftest import wait_ready
from fastapi.testclient import TestClient
from test_cli import provreg
from test_http import Newsroom
from videoclips import DOCTORED, EXCERPT, ORIGINAL, Clip, encode

from api.app import create_app
from registry.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.max_video_seconds = 30
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def _check(client: TestClient, content: bytes, **params: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/check", params=params, files={"file": ("clip", content, "application/octet-stream")})


def test_register_footage_then_check_clips_over_http(client: TestClient) -> None:
    registered = Newsroom(client).upload(encode(ORIGINAL))
    assert registered.status_code == 201, registered.text
    assert registered.json()["fingerprints"]["kind"] == "video"
    registration_id = registered.json()["id"]

    copy = _check(client, encode(EXCERPT))
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["verdict"] == "copy" and body["kind"] == "video"
    (match,) = body["matches"]
    assert match["registration_id"] == registration_id
    (segment,) = match["segments"]
    assert abs(segment["original_start"] - 5.0) <= 0.25 and segment["speed"] == pytest.approx(1.0, abs=0.02)

    altered = _check(client, encode(DOCTORED), pictures="true").json()
    assert altered["verdict"] == "altered"
    (span,) = altered["matches"][0]["spans"]
    assert span["kind"] == "altered" and span["regions"]
    (picture,) = altered["comparisons"]
    assert client.get(picture["url"]).content.startswith(b"\x89PNG")


def test_a_voice_swap_shows_in_the_json_and_on_the_timeline_picture(client: TestClient) -> None:
    voice = speech(ORIGINAL.duration, seed=1)
    registered = Newsroom(client).upload(encode(ORIGINAL, voice))
    assert registered.status_code == 201, registered.text
    sound = voice[round(EXCERPT.offset * RATE) : round((EXCERPT.offset + EXCERPT.duration) * RATE)]
    donor = speech(EXCERPT.duration, seed=7, voice=VOICES[1])
    response = _check(client, encode(EXCERPT, swap(sound, donor, 2.0, 4.0)), pictures="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verdict"] == "altered"
    (match,) = body["matches"]
    audio = match["audio"]
    assert set(audio) == {"similarity", "query_has_audio", "matched_by", "spans", "segments"}
    assert audio["matched_by"] == "frames" and audio["query_has_audio"] is True and 0 < audio["similarity"] < 1
    (heard,) = audio["segments"]
    assert set(heard) == {"start", "end", "original_start", "original_end", "speed", "lag", "similarity"}
    assert (heard["start"], heard["end"]) == (match["segments"][0]["start"], match["segments"][0]["end"])
    assert abs(heard["lag"]) <= 0.2 and heard["similarity"] == audio["similarity"]
    (span,) = audio["spans"]
    assert set(span) == {"kind", "start", "end", "original_start", "original_end"}
    assert span["kind"] == "audio_altered" and min(span["end"], 4.0) - max(span["start"], 2.0) >= 1.0
    (picture,) = body["comparisons"]
    assert client.get(picture["url"]).content.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("content", "status", "code", "words"),
    [
        (encode(EXCERPT)[:20_000], 422, "corrupt_media", "truncated or damaged"),
        (encode(EXCERPT)[:40] + bytes(2000), 422, "corrupt_media", "truncated or damaged"),
        (encode(Clip(duration=31.0, width=64, height=36)), 413, "too_large", "PROVREG_MAX_VIDEO_SECONDS"),
    ],
    ids=["truncated", "damaged", "too-long"],
)
def test_bad_videos_get_a_clear_4xx(client: TestClient, content: bytes, status: int, code: str, words: str) -> None:
    response = _check(client, content)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and words in error["message"]


def test_cli_registers_and_checks_videos(tmp_path: Path) -> None:
    data_dir, key = tmp_path / "registry", tmp_path / "newsroom.pem"
    assert provreg(data_dir, "publisher", "create", "Daily Planet", "--key-out", str(key))[0] == 0
    footage = tmp_path / "footage"
    footage.mkdir()
    (footage / "speech.mp4").write_bytes(encode(ORIGINAL))
    code, out, err = provreg(data_dir, "register", str(footage), "--key", str(key), "--json")
    assert code == 0, err
    registration_id = json.loads(out)["registration_id"]

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(encode(DOCTORED))
    code, out, err = provreg(data_dir, "check", str(clip), "--json", "--visualize", str(tmp_path / "pictures"))
    assert code == 0, err
    result = json.loads(out)
    assert result["verdict"] == "altered" and result["matches"][0]["registration_id"] == registration_id
    assert Path(result["pictures"][0]).read_bytes().startswith(b"\x89PNG")
    code, out, _ = provreg(data_dir, "check", str(clip))
    assert code == 0 and "altered 2.00-4.00 s" in out and "shows the original's 9.0" in out
