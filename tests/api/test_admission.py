"""Admission of requests with media, per client: one client holds at most its share of the places (a slow body from
it cannot hold them all), and a body that keeps the server waiting too long ends with 408 (issue 18, item 2)."""

from __future__ import annotations

import json

import anyio
from conftest import photo_bytes, wait_ready
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from test_bodies import Streamed, asgi_post, limited, run_until  # noqa: F401 - `limited` is a fixture

from api.admission import MediaAdmission
from api.app import create_app
from registry.settings import Settings

MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}
FILE_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'


def upload(content: bytes) -> list[bytes]:
    return [FILE_PART, content, b"\r\n--b--\r\n"]


def test_one_client_holds_at_most_its_share_of_the_places(limited: Settings) -> None:  # noqa: F811
    limited.media_workers, limited.media_queue, limited.media_client_places = 2, 8, 2
    with TestClient(create_app(limited)) as client:
        wait_ready(client)
        portal = client.portal
        assert portal is not None
        stall = portal.call(anyio.Event)
        held = [Streamed() for _ in range(2)]
        running = [
            portal.start_task_soon(asgi_post, client, "/v1/check", iter([FILE_PART]), MULTIPART, result, stall)
            for result in held
        ]
        run_until(portal, lambda: sum(r.chunks_read for r in held) == 2)  # two slow bodies from 127.0.0.1

        third = Streamed()
        portal.call(asgi_post, client, "/v1/check", iter(upload(b"x" * 1000)), MULTIPART, third)
        assert third.status == 429 and third.chunks_read == 0  # refused before its body was read
        assert json.loads(third.body)["error"]["code"] == "too_many_media_requests"
        assert third.headers["retry-after"]

        other = Streamed()
        photo = photo_bytes("coffee")
        portal.call(asgi_post, client, "/v1/check", iter(upload(photo)), MULTIPART, other, None, "127.0.0.2")
        assert other.status == 200, other.body[:300]  # another client's check is served meanwhile
        assert json.loads(other.body)["verdict"] == "unregistered"

        portal.call(stall.set)
        for future in running:
            future.result()
        assert [r.status for r in held] == [422, 422]


def test_a_body_that_keeps_the_server_waiting_too_long_ends_with_408(limited: Settings) -> None:  # noqa: F811
    limited.body_read_seconds = 0.5
    with TestClient(create_app(limited)) as client:
        wait_ready(client)
        portal = client.portal
        assert portal is not None
        stall = portal.call(anyio.Event)  # never set before the answer: the client stops sending mid-body
        slow = Streamed()
        future = portal.start_task_soon(asgi_post, client, "/v1/check", iter([FILE_PART]), MULTIPART, slow, stall)
        run_until(portal, lambda: slow.status != 0)
        assert slow.status == 408
        error = json.loads(slow.body)["error"]
        assert error["code"] == "body_timeout" and "PROVREG_BODY_READ_SECONDS" in error["message"]
        portal.call(stall.set)
        future.result()  # its place is given back: the next check is served
        assert client.post("/v1/check", files={"file": ("c.jpg", photo_bytes("coffee"))}).status_code == 200


def test_an_answered_request_frees_its_place_before_its_client_sees_the_answer(limited: Settings) -> None:  # noqa: F811
    """A publisher uploading from as many threads as it has places sends the next upload the moment one is answered:
    that answered request must no longer count (it did, until the app had returned: a spurious 429)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    admission = MediaAdmission(app, limited)
    counted_when_answered: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            counted_when_answered.append(sum(admission.by_client.values()) + admission.inside)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/check",
        "headers": [(b"content-type", MULTIPART["Content-Type"].encode())],
        "client": ("127.0.0.1", 50000),
        "state": {},
    }
    anyio.run(admission, scope, receive, send)
    assert counted_when_answered == [0]
