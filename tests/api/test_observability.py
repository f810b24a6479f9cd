"""Request ids, access-log lines and the Prometheus scrape, from a real app."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from conftest import photo_bytes
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_http import Newsroom, wait_ready

from api.app import create_app
from api.observe import configure_logging
from api.requestid import RequestIdFilter, choose
from registry.settings import Settings


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def check(client: TestClient, content: bytes, mode: str = "full") -> httpx.Response:
    return client.post("/v1/check", params={"mode": mode}, files={"file": ("query", content)})


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_request_ids_are_kept_when_sane_and_made_otherwise(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    for hostile in ("", "a b", "x" * 200, "line\u2028break", '"quoted"'):
        assigned = client.get("/healthz", headers={"X-Request-ID": hostile.encode("utf-8")}).headers["x-request-id"]
        assert assigned != hostile and re.fullmatch(r"[0-9a-f]{32}", assigned)
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert first != second
    assert choose("trace:7@edge/1") == "trace:7@edge/1"


def test_one_access_line_per_request_with_route_template(
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="api.observe"):
        client.get("/v1/registrations/reg_nope%0Aforged=1", headers={"X-Request-ID": "r-1"})
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("method=")]
    assert line.startswith("method=GET route=/v1/registrations/{registration_id} ")
    assert 'path="/v1/registrations/reg_nope\\nforged=1"' in line  # escaped: no forged second line
    assert " status=404 " in line and " request_id=r-1" in line and "client=testclient" in line
    assert re.search(r" duration_ms=\d+\.\d ", line)


def test_log_records_carry_the_request_id(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging()
        client.get("/v1/publishers/pub_missing", headers={"X-Request-ID": "req-9"})
        logging.getLogger("outside").info("no request here")
    finally:
        root.handlers[:], root.level = saved
    lines = capsys.readouterr().err.splitlines()
    assert any("[req-9] method=GET route=/v1/publishers/{publisher_id}" in line for line in lines)
    assert any("[-] no request here" in line for line in lines)
    record = logging.LogRecord("x", logging.INFO, "", 0, "m", None, None)
    assert RequestIdFilter().filter(record) and record.request_id == "-"  # type: ignore[attr-defined]


def test_metrics_count_routes_statuses_verdicts_and_index_sizes(client: TestClient) -> None:
    before = scrape(client)
    assert before[("provreg_index_entries", (("index", "pdq"),))] == 0
    Newsroom(client).upload(photo_bytes("astronaut"))
    assert check(client, photo_bytes("astronaut")).json()["verdict"] == "copy"
    assert check(client, photo_bytes("coffee")).json()["verdict"] == "unregistered"
    assert check(client, photo_bytes("coffee"), mode="fast").json()["verdict"] == "unregistered"
    client.get("/v1/registrations/reg_1")
    client.get("/v1/registrations/reg_2")
    client.get("/no/such/path")
    client.request("BREW", "/v1/check")
    after = scrape(client)

    def requests(route: str, status: str, method: str = "GET") -> float:
        return after.get(("provreg_http_requests_total", (("method", method), ("route", route), ("status", status))), 0)

    assert requests("/v1/registrations/{registration_id}", "404") == 2
    assert requests("/v1/check", "200", "POST") == 3
    assert requests("unmatched", "404") == 1
    assert requests("/v1/check", "405", "other") == 1  # invented methods cannot mint new series
    assert requests("/v1/registrations", "201", "POST") == 1
    latency = ("method", "POST"), ("route", "/v1/check"), ("status", "200")
    assert after[("provreg_http_request_duration_seconds_count", latency)] == 3
    assert after[("provreg_http_request_duration_seconds_bucket", (("le", "+Inf"), *latency))] == 3
    assert after[("provreg_check_verdicts_total", (("mode", "full"), ("verdict", "copy")))] == 1
    assert after[("provreg_check_verdicts_total", (("mode", "full"), ("verdict", "unregistered")))] == 1
    assert after[("provreg_check_verdicts_total", (("mode", "fast"), ("verdict", "unregistered")))] == 1
    assert after[("provreg_index_entries", (("index", "pdq"),))] >= 1  # one or more hashes per original
    assert after[("provreg_index_entries", (("index", "originals_with_features"),))] == 1
    assert after[("provreg_http_requests_in_flight", ())] == 1  # the scrape itself
    assert after[("process_resident_memory_bytes", ())] > 0
