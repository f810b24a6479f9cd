"""Every error leaving the app is the documented JSON shape, framework-level ones and unforeseen crashes included."""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from conftest import photo_bytes
from fastapi import FastAPI
from fastapi.testclient import TestClient
from test_http import ADMIN, Newsroom, wait_ready

from api.app import create_app
from api.errors import status_for
from registry import errors
from registry.settings import Settings
from registry.statements import DOMAINS, format_timestamp, new_nonce, sign

DOCUMENTED = {
    400: set(),  # nothing answers 400: malformed bodies are 422, multipart limits 413
    401: {"unauthenticated"},
    403: {"forbidden"},
    404: {"not_found", "http_404"},
    405: {"http_405"},
    408: {"body_timeout"},
    409: {"conflict", "nonce_reused", "already_registered"},
    413: {"too_large", "too_many_parts", "part_too_large"},
    415: {"unsupported_media", "unsupported_content_type"},
    422: {"invalid_request", "invalid_statement", "invalid_signature", "corrupt_media", "verification_failed"}
    | {"malformed_body", "malformed_multipart", "too_expensive", "worker_crashed"},
    429: {"rate_limited", "too_many_media_requests"},
    499: {"client_gone"},  # logged only: the client has left
    500: {"internal_error"},
    503: {"not_ready", "log_tampered", "overloaded", "worker_killed"},
}


def assert_documented_error(response: httpx.Response) -> dict[str, Any]:
    """The shape and status the README promises, with the request id in both the body and the header."""
    assert response.headers["content-type"] == "application/json", (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] in DOCUMENTED[response.status_code], (response.status_code, error)
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]
    return error


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_documents_every_status_and_code() -> None:
    section = README.read_text().split("Errors are always JSON", 1)[1].split("Bad input never", 1)[0]
    documented: dict[int, set[str]] = defaultdict(set)
    for status, codes in re.findall(r"^\| (\d{3}) \| (.*?) \|", section, re.MULTILINE):
        documented[int(status)] |= set(re.findall(r"`([a-z0-9_]+)`", codes))
    assert documented == {status: codes for status, codes in DOCUMENTED.items() if codes}
    for cls in all_subclasses(errors.RegistryError):
        # ConfigurationError is raised at start-up only; api.client's errors are raised by the client, never answered
        if cls is not errors.ConfigurationError and cls.__module__ == errors.__name__:
            assert cls.code in DOCUMENTED[status_for(cls("x"))], cls


def all_subclasses(cls: type[errors.RegistryError]) -> list[type[errors.RegistryError]]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *all_subclasses(direct))]


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    settings.rate_limit_enabled = False
    app = create_app(settings)

    @app.get("/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("a bug in a sync route")

    @app.post("/boom-async", include_in_schema=False)
    async def boom_async() -> None:
        raise KeyError("a bug in an async route")

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def test_an_unexpected_exception_is_a_json_500_with_a_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.observe"):
        sync = client.get("/boom", headers={"X-Request-ID": "trace-42"})
        asynchronous = client.post("/boom-async")
    assert sync.status_code == 500 and asynchronous.status_code == 500
    assert assert_documented_error(sync)["request_id"] == "trace-42"
    assert assert_documented_error(asynchronous)["code"] == "internal_error"
    assert "RuntimeError" not in sync.text  # no internals leak to the caller
    crash = next(r for r in caplog.records if r.levelno == logging.ERROR and "/boom" in r.getMessage())
    assert crash.exc_info is not None and "a bug in a sync route" in str(crash.exc_info[1])
    access = [r.getMessage() for r in caplog.records if r.getMessage().startswith("method=")]
    assert any("route=/boom " in line and "status=500" in line and "request_id=trace-42" in line for line in access)


def test_multipart_limits_have_their_own_status_and_code(client: TestClient) -> None:
    two_files = client.post("/v1/check", files=[("file", ("a", b"x")), ("file", ("b", b"y"))])
    assert two_files.status_code == 413 and assert_documented_error(two_files)["code"] == "too_many_parts"
    many_fields = client.post("/v1/check", files={"file": ("a", b"x")}, data={f"f{i}": "v" for i in range(20)})
    assert many_fields.status_code == 413 and assert_documented_error(many_fields)["code"] == "too_many_parts"
    big_field = client.post("/v1/check/picture", files={"file": ("a", b"x")}, data={"registration_id": "r" * 2**21})
    assert big_field.status_code == 413 and assert_documented_error(big_field)["code"] == "part_too_large"
    no_boundary = client.post("/v1/check", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 422 and assert_documented_error(no_boundary)["code"] == "malformed_multipart"


def test_method_route_and_content_type_errors(client: TestClient) -> None:
    wrong_method = client.delete("/v1/check")
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert "allowed: POST" in assert_documented_error(wrong_method)["message"]
    unknown = client.get("/v2/anything")
    assert unknown.status_code == 404 and assert_documented_error(unknown)["code"] == "http_404"
    as_text = client.post("/v1/publishers", headers={**ADMIN, "Content-Type": "text/plain"}, content=b"{}")
    assert as_text.status_code == 415 and assert_documented_error(as_text)["code"] == "unsupported_content_type"
    as_json = client.post("/v1/check", json={"file": "x"})
    assert as_json.status_code == 415 and "multipart/form-data" in assert_documented_error(as_json)["message"]
    broken_json = client.post("/v1/publishers", headers={**ADMIN, "Content-Type": "application/json"}, content=b"{")
    assert broken_json.status_code == 422 and assert_documented_error(broken_json)["code"] == "invalid_request"
    bad_query = client.get("/v1/log/entries", params={"start": "zero", "end": "9" * 400})
    assert bad_query.status_code == 422 and "start" in assert_documented_error(bad_query)["message"]


def test_someone_elses_resource(client: TestClient) -> None:
    """The README's rule: a key used on another publisher's URL is 403; another's registration is 404 to it."""
    owner, intruder = Newsroom(client, "Owner"), Newsroom(client, "Intruder")
    registration = owner.upload(photo_bytes("rocket")).json()["id"]
    auth = {"Authorization": f"Bearer {intruder.api_key}"}
    body = {"statement": "{}", "signature": "x", "old_signature": "x", "new_signature": "x"}
    other_url = client.post(f"/v1/publishers/{owner.id}/keys/rotate", json=body, headers=auth)
    assert other_url.status_code == 403 and assert_documented_error(other_url)["code"] == "forbidden"
    statement = intruder_revocation(intruder, registration)
    other_registration = client.post(f"/v1/registrations/{registration}/revoke", json=statement, headers=auth)
    assert other_registration.status_code == 404 and assert_documented_error(other_registration)["code"] == "not_found"


def intruder_revocation(intruder: Newsroom, registration_id: str) -> dict[str, str]:
    statement = {
        "type": "content_revocation",
        "publisher_id": intruder.id,
        "key_id": intruder.key_id,
        "registration_id": registration_id,
        "reason": "not mine",
        "created_at": format_timestamp(datetime.now(UTC)),
        "nonce": new_nonce(),
    }
    return {
        "statement": json.dumps(statement),
        "signature": sign(intruder.key, DOMAINS["content_revocation"], statement),
    }


# A sweep of hostile requests over every operation of the app's own OpenAPI schema.
PATH_VALUES = ["x", "%00", "a" * 3000, "%C3%A9%20%0A", "9" * 400]
QUERY_VALUES = ["", "-1", "9" * 400, "\x00", "1e309"]
JSON_BODIES = [b"", b"{", b"[]", b"null", b'"x"', b"[" * 5000 + b"]" * 5000, b'{"statement": 1}', b"\xff\xfe"]
MULTIPART_BODIES = [
    (b"", "multipart/form-data; boundary=b"),
    (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc', "multipart/form-data; boundary=b"),
    (b"garbage", "multipart/form-data"),
    (b"garbage", "application/x-www-form-urlencoded"),
    (b'{"file": 1}', "application/json"),
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def hostile_requests(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for template, operations in schema["paths"].items():
        for value in PATH_VALUES if "{" in template else ["-"]:
            url = re.sub(r"\{[^}]+\}", value, template)
            for method in METHODS:
                operation = operations.get(method.lower())
                if operation is None:
                    yield method, url, {}
                    continue
                query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
                for bad in QUERY_VALUES:
                    yield method, url, {"params": dict.fromkeys(query, bad)}
                content = operation.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    for body in JSON_BODIES:
                        yield method, url, {"content": body, "headers": {"Content-Type": "application/json"}}
                if "multipart/form-data" in content:
                    for body, content_type in MULTIPART_BODIES:
                        yield method, url, {"content": body, "headers": {"Content-Type": content_type}}


@pytest.mark.slow  # every route times every hostile body: about a minute
def test_no_hostile_request_gets_a_500_or_a_non_json_error(client: TestClient) -> None:
    newsroom = Newsroom(client)
    credentials = [{}, ADMIN, {"Authorization": f"Bearer {newsroom.api_key}"}]
    schema = client.get("/openapi.json").json()
    sent = 0
    for method, url, options in hostile_requests(schema):
        for auth in credentials:
            headers = {**options.get("headers", {}), **auth}
            response = client.request(method, url, **{**options, "headers": headers})
            sent += 1
            assert response.status_code < 500, (method, url, options, response.status_code, response.text[:300])
            if response.status_code >= 400:
                assert_documented_error(response)
    assert sent > 1500
