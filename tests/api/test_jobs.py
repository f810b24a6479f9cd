"""Long registrations run as jobs: `202`, a job resource to poll, the synchronous body once done, failures kept."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from conftest import (
    ADMIN_TOKEN,
    PublisherHandle,
    create_publisher_over_http,
    encode,
    make_publisher,
    photo,
    running_server,
    wait_ready,
)
from fastapi.testclient import TestClient
from test_http import Newsroom
from videoclips import Clip
from videoclips import encode as encode_video

from api.app import create_app
from api.client import HttpTransport, LocalTransport, PublisherClient
from registry import errors, jobs, views
from registry.clock import now_utc
from registry.models import Job
from registry.runtime import Registry
from registry.service import FINGERPRINTED
from registry.settings import Settings

FOOTAGE = Clip(duration=3.0, width=128, height=72)  # "long" once PROVREG_SYNC_VIDEO_SECONDS is 1


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings.sync_video_seconds = 1
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def poll(client: TestClient | httpx.Client, url: str, api_key: str | None) -> dict[str, Any]:
    """The job's last view, once it has ended."""
    headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
    for _ in range(600):
        job = client.get(url, headers=headers)
        assert job.status_code == 200, job.text
        body: dict[str, Any] = job.json()
        assert 0 <= body["progress"] <= 1
        if body["state"] in ("done", "failed"):
            return body
        assert body["state"] in ("queued", "running")
        time.sleep(0.1)
    raise AssertionError("the job did not end")


def test_a_long_video_registers_as_a_job_and_its_result_is_the_synchronous_body(client: TestClient) -> None:
    newsroom = Newsroom(client)
    accepted = newsroom.upload(encode_video(FOOTAGE))
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["job"]["kind"] == "registration" and body["job"]["state"] in ("queued", "running")
    assert accepted.headers["Location"] == body["url"] == f"/v1/jobs/{body['job']['id']}"

    done = poll(client, body["url"], newsroom.api_key)
    assert done["state"] == "done" and done["progress"] == 1 and done["error"] is None, done
    receipt = views.RegistrationReceiptView.model_validate(done["result"])
    assert receipt.fingerprints.kind == "video" and receipt.receipt["log_index"] == receipt.log_index
    assert client.get(f"/v1/registrations/{receipt.id}").json()["id"] == receipt.id

    reencoded = encode_video(replace(FOOTAGE, width=96, height=54, crf=30))
    check = client.post("/v1/check", files={"file": ("clip", reencoded, "application/octet-stream")})
    assert [match["registration_id"] for match in check.json()["matches"]] == [receipt.id]


def test_only_the_owner_sees_a_registration_job_and_bad_ids_are_404(client: TestClient) -> None:
    newsroom, other = Newsroom(client), Newsroom(client, "Other Desk")
    url = newsroom.upload(encode_video(FOOTAGE)).json()["url"]
    for api_key in (other.api_key, None):
        refused = client.get(url, headers={} if api_key is None else {"Authorization": f"Bearer {api_key}"})
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    for bad in ("job_nope", "x" * 300, "%00"):
        missing = client.get(f"/v1/jobs/{bad}", headers={"Authorization": f"Bearer {newsroom.api_key}"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] in ("not_found", "http_404"), bad
    assert poll(client, url, newsroom.api_key)["state"] == "done"


def test_async_true_runs_an_image_as_a_job_and_a_failed_job_keeps_its_error(client: TestClient) -> None:
    newsroom = Newsroom(client)
    content = encode(photo("rocket"))
    first = newsroom.upload(content)
    assert first.status_code == 201, first.text
    again = client.post(
        "/v1/registrations",
        params={"async": "true"},
        headers={"Authorization": f"Bearer {newsroom.api_key}"},
        files={"file": ("original.jpg", content, "image/jpeg")},
        data=_signed_form(newsroom, content),
    )
    assert again.status_code == 202, again.text
    failed = poll(client, again.json()["url"], newsroom.api_key)
    assert failed["state"] == "failed" and failed["result"] is None
    assert failed["error"]["code"] == "already_registered"
    assert failed["error"]["registration_id"] == first.json()["id"]


def test_a_bad_request_is_refused_before_it_becomes_a_job(client: TestClient) -> None:
    newsroom = Newsroom(client)
    refused = newsroom.upload(encode_video(FOOTAGE), signature="A" * 88)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_signature"


def test_jobs_a_restart_interrupted_are_marked_failed_at_start(settings: Settings) -> None:
    registry = Registry.open(settings)
    stale = now_utc() - jobs.STALE - timedelta(seconds=1)
    with registry.session() as session:
        for state in ("queued", "running"):
            session.add(Job(id=f"job_{state}", kind="registration", state=state, created_at=stale, heartbeat_at=stale))
        session.commit()
    registry.close()

    with TestClient(create_app(settings)) as client:
        with Registry.open(settings).session() as session:
            rows = [session.get(Job, f"job_{state}") for state in ("queued", "running")]
        for row in rows:
            assert row is not None and row.state == "failed" and row.finished_at is not None
            assert "interrupted by a restart" in json.loads(row.error or "{}")["message"]
        shown = client.get("/v1/jobs/job_running").json()
        assert shown["state"] == "failed" and shown["error"]["code"] == "interrupted"


def test_a_job_over_a_real_server_is_polled_by_the_client(tmp_path: Path) -> None:
    env = {"PROVREG_ADMIN_TOKEN": ADMIN_TOKEN, "PROVREG_SYNC_VIDEO_SECONDS": "1", "PROVREG_MEDIA_WORKERS": "1"}
    with running_server(tmp_path / "data", env) as (base, _process):
        handle = create_publisher_over_http(base, ADMIN_TOKEN, "Daily Planet")
        seen: list[float] = []
        with HttpTransport.connect(base, handle.api_key) as transport:
            transport.poll_seconds = 0.1
            client = PublisherClient(transport, publisher_id=handle.id, private_key=handle.private_key)
            receipt = client.register(encode_video(FOOTAGE), {"title": "speech"}, progress=seen.append)
            assert receipt.fingerprints.kind == "video"
            assert seen and seen[-1] == 1.0 and seen == sorted(seen)
            with pytest.raises(errors.AlreadyRegistered) as again:
                client.register(encode_video(FOOTAGE))
            assert again.value.details["registration_id"] == receipt.id
        fetched = httpx.get(f"{base}/v1/registrations/{receipt.id}")
        assert fetched.status_code == 200 and fetched.json()["content"]["sha256"] == receipt.content.sha256


def _signed_form(newsroom: Newsroom, content: bytes) -> dict[str, str]:
    """A fresh statement (new nonce) for bytes the newsroom registered already."""
    handle = PublisherHandle(newsroom.id, newsroom.key_id, newsroom.key, newsroom.api_key)
    statement, signature = handle.signed(content)
    return {"statement": statement, "signature": signature}


def test_a_local_registration_reports_its_stages(registry: Registry) -> None:
    handle = make_publisher(registry, "Daily Planet")
    client = handle.client(LocalTransport(registry))
    seen: list[float] = []
    receipt = client.register(encode_video(FOOTAGE), progress=seen.append)
    assert receipt.fingerprints.kind == "video" and seen == [FINGERPRINTED]
