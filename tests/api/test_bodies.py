"""Request bodies are bounded while they stream in, by their type and their sender, and refused before the rest is read;
requests with media are admitted at the door, before their bodies are read.

The freeze these guard against (issue 18): a 120 MB JSON batch was read whole (cap 1 GiB) and parsed on the event
loop before its 1000-item limit was looked at, stopping every route for seconds. Here bodies are streamed to the app
chunk by chunk through ASGI, counting how many chunks it asked for: a refusal must come after a handful, not after
the whole body. Limits are small so that the bodies are too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import anyio
import pytest
from anyio.from_thread import BlockingPortal
from conftest import PublisherHandle, make_publisher, photo_bytes, wait_ready
from fastapi.testclient import TestClient

from api import admission
from api.app import create_app
from api.jsonstream import ArrayItems, ArrayRefused
from registry.runtime import Registry
from registry.settings import Settings

CHUNK = 64 * 1024
ENDLESS = 4000  # chunks an endless body offers: 256 MB, far more than any limit here lets in
ITEM = b'{"pdq": "' + b"5a" * 32 + b'"}'


@pytest.fixture
def limited(settings: Settings) -> Settings:
    settings.max_upload_bytes = 400_000
    settings.anonymous_max_upload_bytes = 100_000
    settings.batch_max_items = 6
    settings.anonymous_batch_max_items = 3
    settings.batch_item_max_bytes = 1024
    settings.max_document_bytes = 64 * 1024
    settings.rate_limit_enabled = False
    return settings


@pytest.fixture
def newsroom(limited: Settings) -> PublisherHandle:
    registry = Registry.open(limited)
    try:
        registry.load()
        return make_publisher(registry, "Body Desk")
    finally:
        registry.close()


@pytest.fixture
def client(limited: Settings, newsroom: PublisherHandle) -> Iterator[TestClient]:
    with TestClient(create_app(limited)) as test_client:
        wait_ready(test_client)
        yield test_client


@dataclass
class Streamed:
    status: int = 0
    body: bytearray = field(default_factory=bytearray)
    chunks_read: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def stream(client: TestClient, path: str, chunks: Iterator[bytes], headers: dict[str, str]) -> Streamed:
    """POST `chunks` to the app through ASGI, one `http.request` message each, without a Content-Length (as a
    chunked upload arrives), and count how many the app asked for before it answered."""
    result = Streamed()
    portal = client.portal
    assert portal is not None
    portal.call(asgi_post, client, path, chunks, headers, result)
    return result


async def asgi_post(
    client: TestClient,
    path: str,
    chunks: Iterator[bytes],
    headers: dict[str, str],
    result: Streamed,
    stall: anyio.Event | None = None,
    peer: str = "127.0.0.1",
) -> None:
    """The request behind `stream`, from address `peer`; with `stall`, the body's end waits for that event (a slow
    upload). Once the body has ended, `receive` waits for the answer's end and says the client left, as a server
    does."""
    ended = False
    answered = anyio.Event()

    async def receive() -> dict[str, object]:
        nonlocal ended
        if ended:
            await answered.wait()
            return {"type": "http.disconnect"}
        chunk = next(chunks, None)
        if chunk is None:
            if stall is not None:
                await stall.wait()
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        result.chunks_read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            result.status = int(message["status"])  # type: ignore[call-overload]
            result.headers = {name.decode(): value.decode() for name, value in message["headers"]}  # type: ignore[attr-defined]
        elif message["type"] == "http.response.body":
            result.body.extend(message.get("body", b""))  # type: ignore[arg-type]
            if not message.get("more_body", False):
                answered.set()

    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        + [(b"transfer-encoding", b"chunked")],
        "client": (peer, 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    await client.app(scope, receive, send)


def json_list(first: bytes, *, then: bytes) -> Iterator[bytes]:
    """`first`, then `then` over and over: a list that never ends unless someone stops reading."""
    yield first
    for _ in range(ENDLESS):
        yield then


def error_of(result: Streamed) -> dict[str, str]:
    return json.loads(result.body)["error"]


def test_an_endless_json_batch_is_refused_after_its_item_limit_not_after_the_body(client: TestClient) -> None:
    items = json_list(b"[" + ITEM, then=b"," + ITEM)  # an item a chunk: the 4th ends with the 5th's comma
    result = stream(client, "/v1/check/batch?mode=fast", items, {"Content-Type": "application/json"})
    assert result.status == 422 and "PROVREG_ANONYMOUS_BATCH_MAX_ITEMS" in error_of(result)["message"]
    assert result.chunks_read == 5, f"read {result.chunks_read} chunks of a body refused at its 4th item's end"
    # uvicorn would go on reading and discarding the rest of the body, in Python, unless the connection closes.
    assert result.headers["connection"] == "close"
    whole = stream(client, "/v1/check/batch?mode=fast", iter([b"[", ITEM, b"]"]), {"Content-Type": "application/json"})
    assert whole.status == 200 and "connection" not in whole.headers


@pytest.mark.parametrize(
    ("first", "then", "limit"),
    [
        (b'[{"pdq": "', b"5" * 512, "PROVREG_BATCH_ITEM_MAX_BYTES"),  # one endless string
        (b"[", b"[", "nests deeper"),
        (b"[", b" " * 512, "PROVREG_BATCH_ITEM_MAX_BYTES"),  # whitespace counts towards the item it precedes
        (b"[" + b"1" * 10, b"1" * 512, "PROVREG_BATCH_ITEM_MAX_BYTES"),  # one endless number
        (b"[", b"5" * CHUNK, "PROVREG_ANONYMOUS_BATCH_MAX_ITEMS x PROVREG_BATCH_ITEM_MAX_BYTES"),  # big chunks: bytes
    ],
    ids=["string", "depth", "whitespace", "digits", "bytes"],
)
def test_an_endless_json_batch_is_refused_as_soon_as_a_limit_is_crossed(
    client: TestClient, first: bytes, then: bytes, limit: str
) -> None:
    body = json_list(first, then=then)
    result = stream(client, "/v1/check/batch?mode=fast", body, {"Content-Type": "application/json"})
    assert result.status in {413, 422} and limit in error_of(result)["message"], result.body[:300]
    assert result.chunks_read <= 8  # 3,072 bytes in all, 1,024 an item, 2 levels: each is crossed within 8


def test_an_api_key_raises_the_json_batch_limits(client: TestClient, newsroom: PublisherHandle) -> None:
    body = b"[" + b",".join([ITEM] * 5) + b"]"
    anonymous = client.post("/v1/check/batch?mode=fast", content=body, headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 422 and "more than 3 items" in anonymous.json()["error"]["message"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {newsroom.api_key}"}
    lines = client.post("/v1/check/batch?mode=fast", content=body, headers=headers).text.splitlines()
    assert [json.loads(line)["verdict"] for line in lines] == ["unregistered"] * 5
    wrong_key = {**headers, "Authorization": "Bearer not-a-key"}
    assert client.post("/v1/check/batch?mode=fast", content=body, headers=wrong_key).status_code == 401


def test_items_with_floats_nan_and_long_numbers_get_their_own_error_line(client: TestClient) -> None:
    body = b'[{"pdq": "' + b"0" * 64 + b'", "pdq_quality": NaN}, {"pdq": 1e999}, {"pdq_quality": ' + b"9" * 900 + b"}]"
    response = client.post("/v1/check/batch?mode=fast", content=body, headers={"Content-Type": "application/json"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["error"]["code"] for line in lines] == ["invalid_request"] * 3


def test_an_anonymous_upload_has_the_lower_cap_and_a_valid_key_lifts_it(
    client: TestClient, newsroom: PublisherHandle
) -> None:
    big = b"\xff\xd8" + bytes(200_000)  # over the anonymous cap, under the authenticated one
    files = {"file": ("big.jpg", big, "image/jpeg")}
    anonymous = client.post("/v1/check", files=files)
    assert anonymous.status_code == 413 and "PROVREG_ANONYMOUS_MAX_UPLOAD_BYTES" in anonymous.json()["error"]["message"]
    forged = client.post("/v1/check", files=files, headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 413  # a credential is checked when it would lift the cap, and this one does not
    keyed = client.post("/v1/check", files=files, headers={"Authorization": f"Bearer {newsroom.api_key}"})
    assert keyed.status_code == 415 and keyed.json()["error"]["code"] == "unsupported_media"  # read, then refused
    small = client.post("/v1/check", files={"file": ("coffee.jpg", photo_bytes("coffee"), "image/jpeg")})
    assert small.status_code == 200


def test_a_json_or_form_body_is_held_to_the_document_cap_before_it_is_parsed(client: TestClient) -> None:
    """A 50 MB JSON body to any JSON route was read and parsed whole on the event loop (the upload cap applied)."""
    endless = json_list(b'{"statement": "', then=b"x" * CHUNK)
    revoke = stream(client, "/v1/registrations/reg_x/revoke", endless, {"Content-Type": "application/json"})
    assert revoke.status == 413 and "PROVREG_MAX_DOCUMENT_BYTES" in error_of(revoke)["message"]
    assert revoke.headers["connection"] == "close"
    assert revoke.chunks_read <= 2
    form = stream(
        client,
        "/log/verify",
        json_list(b"csrf=x&receipt=", then=b"%7B" * (CHUNK // 3)),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 413 and form.chunks_read <= 2
    untyped = stream(client, "/v1/publishers", json_list(b"\0", then=b"\0" * CHUNK), {})
    assert untyped.status == 413 and untyped.chunks_read <= 2


def test_uploads_past_what_the_media_workers_take_are_refused_before_their_bodies_are_read(
    limited: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 simultaneous uploads were all received, spooled and read into memory before 30 were refused (503)."""
    limited.media_workers, limited.media_queue = 1, 1
    trims: list[int] = []
    monkeypatch.setattr(admission, "give_back_free_heap", lambda: trims.append(1))
    monkeypatch.setattr(admission, "QUIET_SECONDS", 0.0)
    multipart = {"Content-Type": "multipart/form-data; boundary=b"}
    with TestClient(create_app(limited)) as client:
        wait_ready(client)
        portal = client.portal
        assert portal is not None
        stall = portal.call(anyio.Event)
        start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        held = [Streamed() for _ in range(2)]
        running = [
            portal.start_task_soon(asgi_post, client, "/v1/check", iter([start]), multipart, result, stall)
            for result in held
        ]
        run_until(portal, lambda: sum(r.chunks_read for r in held) == 2)
        refused = stream(client, "/v1/check", json_list(b"--b\r\n", then=b"x" * CHUNK), multipart)
        assert refused.status == 503 and error_of(refused)["code"] == "overloaded" and refused.chunks_read == 0
        assert json.loads(client.get("/healthz").text) == {"status": "ok"}
        assert trims == []
        portal.call(stall.set)
        for future in running:
            future.result()
        assert [r.status for r in held] == [422, 422]  # the stalled bodies ended without their closing boundary
        run_until(portal, lambda: bool(trims))  # the quiet after the last one (none here), then a worker thread
        assert trims == [1], "the heap is given back once the last upload has left, not once per upload"
        assert client.post("/v1/check", files={"file": ("c.jpg", photo_bytes("coffee"))}).status_code == 200


def run_until(portal: BlockingPortal, done: Callable[[], bool], turns: int = 2000) -> None:
    """Let the app's event loop run until `done()`: a number of turns, never a deadline, so that a busy machine
    only makes the wait longer, and a wait that never ends fails instead of hanging."""
    for _ in range(turns):
        if done():
            return
        portal.call(anyio.sleep, 0.05)
    raise AssertionError(f"not done after {turns} turns of the event loop")


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"[", b"[1,]", b"[,]", b"[1] [2]", b'["\\', b"[{]", b"[" * 4 + b"]" * 4, b'{"a": [1]}'],
)
def test_the_scanner_refuses_what_is_not_a_bounded_list_whatever_the_chunking(body: bytes) -> None:
    for size in (1, 2, 3, len(body) or 1):
        scanner = ArrayItems(max_items=5, max_item_bytes=100, max_depth=2)
        with pytest.raises(ArrayRefused):
            for start in range(0, max(len(body), 1), size):
                scanner.feed(body[start : start + size])
            scanner.close()


def test_the_scanner_splits_items_exactly_whatever_the_chunking() -> None:
    items = [{"pdq": 'a,]"}{[', "n": [1, {"x": "\\"}]}, 's\\"', 3, None, {"": ""}]
    body = json.dumps(items, indent=1).encode()
    for size in range(1, 12):
        scanner = ArrayItems(max_items=6, max_item_bytes=100, max_depth=3)
        texts = [text for start in range(0, len(body), size) for text in scanner.feed(body[start : start + size])]
        scanner.close()
        assert [json.loads(text) for text in texts] == items
