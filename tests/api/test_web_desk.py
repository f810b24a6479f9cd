"""The publisher's desk through the app (no browser): every kind the registry takes offered and registered, a long
registration followed as a job, and the refusals said in sentences."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from audioclips import sound_file, speech
from conftest import PublisherHandle, photo_bytes, wait_ready
from fastapi.testclient import TestClient
from test_web import csrf_of, make_newsroom
from videoclips import Clip
from videoclips import encode as encode_clip

from api.app import create_app
from registry.kinds import ADAPTERS
from registry.settings import Settings

SOUND = sound_file(speech(3.0, seed=5), "wav")
VIDEO = encode_clip(Clip(duration=2.0, width=160, height=90))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def signed_in(client: TestClient) -> tuple[PublisherHandle, str]:
    newsroom = make_newsroom(client)
    token = csrf_of(client.get("/publish").text)
    client.post("/publish/sign-in", data={"csrf": token, "api_key": newsroom.api_key})
    return newsroom, token


def register(  # type: ignore[no-untyped-def]
    client: TestClient,
    newsroom: PublisherHandle,
    token: str,
    content: bytes,
    name: str,
    *,
    partial: bool = True,
    media_type: str | None = None,
):
    """Post to the desk as its script does (`partial`), or as the form does without it."""
    text, signature = newsroom.signed(content, media_type=media_type, metadata={"title": name})
    return client.post(
        "/publish/register",
        params={"partial": "true"} if partial else {},
        data={"csrf": token, "statement": text, "signature": signature},
        files={"file": (name, content, "application/octet-stream")},
    )


def accepted(page: str, input_id: str) -> set[str]:
    found = re.search(rf'<input id="{input_id}"[^>]* accept="([^"]+)"', page)
    assert found is not None, f"no #{input_id} picker"
    return set(found.group(1).split(","))


def test_both_pickers_offer_every_kind_the_registry_takes(client: TestClient) -> None:
    signed_in(client)
    for path, input_id in (("/", "check-file"), ("/publish", "original")):
        offered = accepted(client.get(path).text, input_id)
        for kind in ADAPTERS.values():
            assert kind.accepts in offered and set(kind.file_suffixes) <= offered, (path, kind.name)
        assert {"video/*", "audio/*", ".mkv", ".m4a", ".opus", ".flac"} <= offered, path


def test_the_desk_registers_sound_and_video_and_says_what_it_registered(client: TestClient) -> None:
    newsroom, token = signed_in(client)
    sound = register(client, newsroom, token, SOUND, "interview.wav")
    assert sound.status_code == 201, sound.text
    assert '<div id="desk-status">' in sound.text and "<html" not in sound.text, "only what changed, for the script"
    said = re.sub(r"\s+", " ", sound.text)
    assert "<dd>sound (audio/wav," in said and "<dd>3.0 s</dd>" in said and "16,000 Hz, mono" in said
    assert "<img" not in said and "interview.wav" in said, "the list comes with it"

    video = register(client, newsroom, token, VIDEO, "launch.mp4", partial=False)
    assert video.status_code == 201 and "<html" in video.text, "without the script: the whole desk"
    said = re.sub(r"\s+", " ", video.text)
    assert "<dd>video (video/mp4," in said and "<dd>160 \u00d7 90 pixels</dd>" in said and "<dd>2.0 s</dd>" in said
    assert "Frame rate" in said and "Registered reg_" in said


def test_a_long_registration_runs_as_a_job_that_the_desk_follows(client: TestClient) -> None:
    client.app.state.registry.settings.sync_video_seconds = 1.0  # the 3 s sound is "long"
    newsroom, token = signed_in(client)
    started = register(client, newsroom, token, SOUND, "long.wav")
    assert started.status_code == 202, started.text
    poll = re.search(r'data-poll="(/publish/jobs/job_[\w-]+)\?partial=true"', started.text)
    assert poll is not None and 'role="status"' in started.text and 'id="own"' not in started.text, "no list polled"
    for _ in range(600):
        followed = client.get(poll.group(1), params={"partial": "true"})
        if "data-poll" not in followed.text:
            break
        time.sleep(0.1)
    assert followed.status_code == 200 and "Registered reg_" in followed.text, followed.text
    assert "<dd>3.0 s</dd>" in followed.text and 'id="own"' in followed.text, "the list, once it ends"
    assert "Registered reg_" in client.get(poll.group(1)).text, "the page without the script says the same"

    stranger = TestClient(client.app)  # the same app, another browser
    assert 'id="api-key"' in stranger.get(poll.group(1)).text, "signed out: the sign-in form"
    other = make_newsroom(stranger, "Other Desk")
    token = csrf_of(stranger.get("/publish").text)
    stranger.post("/publish/sign-in", data={"csrf": token, "api_key": other.api_key})
    refused = stranger.get(poll.group(1))
    assert refused.status_code == 404 and 'role="alert"' in refused.text, "a job answers its own publisher only"


@pytest.mark.parametrize(
    ("content", "media_type", "status", "said"),
    [
        (b"not a picture, a video or a sound", None, 415, "not a supported media type"),
        (SOUND, "video/mp4", 422, "statement says video/mp4, but the file is audio/wav"),
    ],
)
def test_refusals_are_sentences_on_the_desk(
    client: TestClient, content: bytes, media_type: str | None, status: int, said: str
) -> None:
    newsroom, token = signed_in(client)
    refused = register(client, newsroom, token, content, "bad.bin", media_type=media_type)
    assert refused.status_code == status and 'role="alert"' in refused.text and said in refused.text.lower()
    assert 'id="own"' in refused.text


def test_a_photo_still_registers_from_the_desk(client: TestClient) -> None:
    newsroom, token = signed_in(client)
    photo = register(client, newsroom, token, photo_bytes("rocket"), "rocket.jpg")
    assert photo.status_code == 201 and "<dd>image (image/jpeg," in re.sub(r"\s+", " ", photo.text)
