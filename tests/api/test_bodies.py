"""Request bodies are bounded while they stream in, by their type and their sender, and refused before the rest is read.

The freeze these guard against (issue 18): a 120 MB JSON batch was read whole (cap 1 GiB) and parsed on the event
loop before its 1000-item limit was looked at, stopping every route for seconds. Here bodies are streamed to the app
chunk by chunk through ASGI, counting how many chunks it asked for: a refusal must come after a handful, not after
the whole body. Limits are small so that the bodies are too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import PublisherHandle, make_publisher, photo_bytes, wait_ready
from fastapi.testclient import TestClient

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
    status: int
    body: bytes
    chunks_read: int


def stream(client: TestClient, path: str, chunks: Iterator[bytes], headers: dict[str, str]) -> Streamed:
    """POST `chunks` to the app through ASGI, one `http.request` message each, without a Content-Length (as a
    chunked upload arrives), and count how many the app asked for before it answered."""
    read = 0
    status = 0
    body = bytearray()

    async def receive() -> dict[str, object]:
        nonlocal read
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))  # type: ignore[arg-type]

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
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    portal = client.portal
    assert portal is not None
    portal.call(client.app, scope, receive, send)
    return Streamed(status, bytes(body), read)


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
