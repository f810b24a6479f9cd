"""`POST /v1/check/batch` (in-process and on a real server, its body streamed) and `provreg check --jsonl`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from conftest import (
    PROVREG,
    create_publisher_over_http,
    encode,
    make_publisher,
    photo,
    photo_bytes,
    running_server,
    wait_ready,
)
from fastapi.testclient import TestClient
from malformed import corpus

from api.app import create_app
from api.client import HttpTransport, LocalTransport
from fingerprint.kinds.image import fingerprint_image
from registry.runtime import Registry
from registry.settings import Settings

CAP = 50_000_000


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
def batch_settings(settings: Settings) -> Settings:
    settings.max_upload_bytes = 400_000
    settings.batch_max_items = 5
    settings.batch_max_bytes = 1_500_000
    return settings


@pytest.fixture
def registered(batch_settings: Settings) -> dict[str, str]:
    """Two originals, registered before the app starts."""
    registry = Registry.open(batch_settings)
    try:
        registry.load()
        client = make_publisher(registry, "Batch Desk").client(LocalTransport(registry))
        return {name: client.register(photo_bytes(name), {"title": name}).id for name in ("rocket", "coffee")}
    finally:
        registry.close()


@pytest.fixture
def client(batch_settings: Settings, registered: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(batch_settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def _files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("file", (name, content, "application/octet-stream")) for name, content in items]


def test_files_answer_in_order_with_per_item_errors(client: TestClient, registered: dict[str, str]) -> None:
    files = _files(
        ("coffee.jpg", encode(photo("coffee"), "JPEG", quality=60)),
        ("junk.bin", b"not an image at all"),
        ("rocket.jpg", photo_bytes("rocket")),
        ("huge.jpg", b"\xff\xd8" + b"\0" * 400_001),
        ("chelsea.jpg", photo_bytes("chelsea")),
    )
    lines = _lines(client.post("/v1/check/batch?mode=fast", files=files, headers={"X-Request-ID": "batch-1"}))
    assert [line["index"] for line in lines] == [0, 1, 2, 3, 4]
    assert [line["file"] for line in lines] == ["coffee.jpg", "junk.bin", "rocket.jpg", "huge.jpg", "chelsea.jpg"]
    assert lines[0]["verdict"] == "copy" and lines[0]["matches"][0]["registration_id"] == registered["coffee"]
    assert lines[1]["error"]["code"] == "unsupported_media" and lines[1]["error"]["request_id"] == "batch-1"
    assert lines[2]["verdict"] == "copy" and lines[2]["matches"][0]["exact"] is True
    assert lines[3]["error"]["code"] == "too_large" and "PROVREG_MAX_UPLOAD_BYTES" in lines[3]["error"]["message"]
    assert lines[4]["verdict"] == "unregistered"
    single = client.post("/v1/check?mode=fast", files={"file": ("c.jpg", files[0][1][1])}).json()
    assert {k: v for k, v in lines[0].items() if k not in ("index", "file")} == single


def test_full_mode_analyses_each_file(client: TestClient, registered: dict[str, str]) -> None:
    cropped = encode(photo("rocket").crop((30, 20, 420, 360)), "JPEG", quality=85)
    (line,) = _lines(client.post("/v1/check/batch", files=_files(("crop.jpg", cropped))))
    assert line["verdict"] == "copy" and line["matches"][0]["registration_id"] == registered["rocket"]
    assert line["matches"][0]["transform"]["cropped"] is True


def test_limits_end_the_batch_with_a_line_saying_why(client: TestClient) -> None:
    six = _files(*[(f"{n}.bin", b"x") for n in range(6)])
    lines = _lines(client.post("/v1/check/batch?mode=fast", files=six))
    assert len(lines) == 6 and all(line["error"]["code"] == "unsupported_media" for line in lines[:5])
    assert lines[5] == {"index": 5, "error": lines[5]["error"]} and lines[5]["error"]["code"] == "too_many_parts"
    big = [_part(f"{n}.jpg", b"\xff\xd8" + os.urandom(390_000)) for n in range(5)]  # 1.95 MB, over the cap
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    lines = _lines(client.post("/v1/check/batch?mode=fast", content=iter([*big, b"--b--\r\n"]), headers=headers))
    assert lines[-1]["error"]["code"] == "too_large"  # sent without a length: refused as it streams, in band
    assert "PROVREG_BATCH_MAX_BYTES" in lines[-1]["error"]["message"] and lines[-1]["index"] == len(lines) - 1
    declared = client.post("/v1/check/batch", content=b"x" * 1_500_001, headers=headers)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"x", "text/plain", 415, "unsupported_content_type"),
        (b"x", "multipart/form-data", 422, "malformed_multipart"),
        (b"[]", "application/json", 422, "invalid_request"),
        (b"[" * 5000 + b"]" * 5000, "application/json", 422, "invalid_request"),
        (b"{}", "application/json", 422, "invalid_request"),
        (json.dumps([{"pdq": "0" * 64}] * 6).encode(), "application/json", 422, "invalid_request"),
    ],
)
def test_a_batch_that_cannot_start_is_a_json_error(
    client: TestClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = client.post("/v1/check/batch?mode=fast", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status and response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc', "malformed_multipart"),
        (b"--b--\r\n", "invalid_request"),
        (b'--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--b--\r\n', "invalid_request"),
    ],
)
def test_broken_multipart_streams_are_reported_in_band(client: TestClient, body: bytes, code: str) -> None:
    lines = _lines(
        client.post("/v1/check/batch", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    )
    assert lines[-1]["error"]["code"] == code


def test_hashes_are_checked_fast(client: TestClient, registered: dict[str, str]) -> None:
    recoded = encode(photo("coffee"), "JPEG", quality=50)
    pdq = fingerprint_image(recoded, max_pixels=CAP).primary()["pdq"]
    rocket = fingerprint_image(photo_bytes("rocket"), max_pixels=CAP)
    items = [
        {"pdq": pdq.value.hex(), "pdq_quality": pdq.quality},
        {"pdq": "zz"},
        {"pdq": rocket.primary()["pdq"].value.hex(), "sha256": rocket.sha256},
        "not an object",
        {"pdq": "f" * 64, "pdq_quality": 10},
    ]
    lines = _lines(client.post("/v1/check/batch?mode=fast", json=items))
    assert [line["index"] for line in lines] == [0, 1, 2, 3, 4]
    assert lines[0]["verdict"] == "copy" and lines[0]["matches"][0]["registration_id"] == registered["coffee"]
    assert lines[1]["error"]["code"] == "invalid_request" and "64 hexadecimal digits" in lines[1]["error"]["message"]
    assert lines[2]["matches"][0]["exact"] is True and lines[2]["matches"][0]["registration_id"] == registered["rocket"]
    assert lines[3]["error"]["code"] == "invalid_request"
    assert lines[4]["verdict"] == "unregistered" and lines[4]["warnings"][0].startswith("low_quality")
    full = client.post("/v1/check/batch", json=items)
    assert full.status_code == 422 and "mode=fast" in full.json()["error"]["message"]


@pytest.mark.slow
def test_a_real_server_answers_while_the_upload_goes_on(tmp_path: Path) -> None:
    """The first line arrives before the rest of the body is sent: the body is read as it comes, not buffered."""
    token = "batch-admin-token-" + "y" * 32
    env = {"PROVREG_ADMIN_TOKEN": token, "PROVREG_RATE_LIMIT_ENABLED": "false"}
    with running_server(tmp_path / "data", env) as (base, _):
        publisher = create_publisher_over_http(base, token, "Stream Desk")
        with HttpTransport.connect(base, publisher.api_key) as transport:
            coffee = publisher.client(transport).register(photo_bytes("coffee"), {"title": "coffee"}).id
        parts = [
            _part("0.jpg", encode(photo("coffee"), "JPEG", quality=70)) + _part("1.jpg", b"junk"),
            _part("2.jpg", photo_bytes("chelsea")) + b"--b--\r\n",
        ]
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            head = (
                "POST /v1/check/batch?mode=fast HTTP/1.1\r\nHost: test\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {sum(map(len, parts))}\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(head.encode() + parts[0])
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"HTTP/1.1 200")
            while reader.readline() not in (b"\r\n", b""):
                pass  # headers
            reader.readline()  # the first chunk's size
            first = json.loads(reader.readline())  # before the rest of the body was sent
            sock.sendall(parts[1])
            rest = reader.read().decode()
    assert first["index"] == 0 and first["matches"][0]["registration_id"] == coffee
    lines = [json.loads(line) for line in rest.splitlines() if line.startswith("{")]
    assert [line["index"] for line in lines] == [1, 2]
    assert lines[0]["error"]["code"] == "unsupported_media" and lines[1]["verdict"] == "unregistered"


def _part(name: str, content: bytes) -> bytes:
    return f'--b\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'.encode() + content + b"\r\n"


def test_cli_jsonl_reads_paths_from_stdin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PROVREG_DATA_DIR": str(data)}
    subprocess.run(
        [PROVREG, "publisher", "create", "Desk", "--key-out", str(tmp_path / "k.pem")],
        env=env,
        check=True,
        capture_output=True,
    )
    original = tmp_path / "rocket.jpg"
    original.write_bytes(photo_bytes("rocket"))
    subprocess.run(
        [PROVREG, "register", str(original), "--key", str(tmp_path / "k.pem")], env=env, check=True, capture_output=True
    )
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(encode(photo("rocket"), "JPEG", quality=60))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"junk")
    stdin = f"{copy}\n\n{tmp_path / 'missing.jpg'}\n{junk}\n{original}\n"
    done = subprocess.run([PROVREG, "check", "--jsonl", "--fast"], env=env, input=stdin.encode(), capture_output=True)
    lines = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [line["file"] for line in lines] == [str(copy), str(tmp_path / "missing.jpg"), str(junk), str(original)]
    assert lines[0]["verdict"] == "copy"
    assert lines[1]["error"]["code"] == "unreadable" and lines[2]["error"]["code"] == "unsupported_media"
    assert lines[3]["matches"][0]["exact"] is True
    assert done.returncode == 1  # some failed, for different reasons
    nothing = subprocess.run([PROVREG, "check", "--jsonl"], env=env, input=b"", capture_output=True)
    assert nothing.returncode == 0 and nothing.stdout == b""
    both = subprocess.run([PROVREG, "check", "--jsonl", str(copy)], env=env, input=b"", capture_output=True)
    assert both.returncode == 2


@pytest.mark.slow
def test_the_malformed_corpus_in_one_batch_gets_a_line_each(settings: Settings) -> None:
    """tests/malformed.py's files, all in one request: a verdict or a documented error per file, never a 500."""
    settings.rate_limit_enabled = False
    cases = corpus()
    settings.anonymous_batch_max_items = len(cases)  # one batch for all, sent anonymously
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client)
        files = _files(*[(case.name, case.content) for case in cases])
        lines = _lines(client.post("/v1/check/batch?mode=fast", files=files))
    assert [line["index"] for line in lines] == list(range(len(cases)))
    assert [line["file"] for line in lines] == [case.name for case in cases]
    errors = {line["error"]["code"] for line in lines if "error" in line}
    documented = {"invalid_request", "unsupported_media", "corrupt_media", "too_large", "too_expensive"}
    assert errors and errors <= documented, errors
    assert any("verdict" in line for line in lines)


def test_a_part_with_endless_headers_ends_the_batch(client: TestClient) -> None:
    """python-multipart bounds a part's headers; the batch says so in band."""
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\nX-Pad: ' + b"p" * 20_000
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    (line,) = _lines(client.post("/v1/check/batch", content=body + b"\r\n\r\nx\r\n--b--\r\n", headers=headers))
    assert line["error"]["code"] == "malformed_multipart" and "header" in line["error"]["message"]
