"""The malformed-media corpus (tests/malformed.py) through every upload endpoint of the real app and the CLI.

Every file gets a result or a documented JSON 4xx: never a 5xx, never a plain-text error, never a hang. Time is
bounded structurally (a generous per-request timeout that only a hang reaches), not by asserting durations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import httpx2 as httpx
import pytest
from conftest import PublisherHandle, make_publisher, wait_ready
from fastapi.testclient import TestClient
from malformed import bases, contract_problem, corpus
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from api.client import sign_statement
from registry.settings import Settings

pytestmark = pytest.mark.slow

HANG_SECONDS = 120  # far above any honest file's time: only a hang (or a decode bomb that got through) reaches it

Upload = Callable[[TestClient, PublisherHandle, bytes], httpx.Response]


def test_the_corpus_is_big_and_varied() -> None:
    cases = corpus()
    assert len(cases) >= 100
    for family in ("truncated-", "bitflip-", "magic", "claims-", "scan-bomb", "thin-", "16bit-", "exif-"):
        assert any(family in case.name for case in cases), family


@pytest.fixture
def fuzz_client(settings: Settings) -> Iterator[TestClient]:
    settings.rate_limit_enabled = False  # the corpus is one client's burst; 429s would hide what is tested
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        wait_ready(client)
        yield client


def _files(content: bytes) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("upload", content, "application/octet-stream")}


def _check(mode: str) -> Upload:
    return lambda client, _, content: client.post("/v1/check", params={"mode": mode}, files=_files(content))


def _picture(client: TestClient, _: PublisherHandle, content: bytes) -> httpx.Response:
    return client.post("/v1/check/picture", files=_files(content))


def _register(client: TestClient, publisher: PublisherHandle, content: bytes) -> httpx.Response:
    """A registration upload with a validly signed statement for exactly these bytes."""
    request = sign_statement(publisher.private_key, publisher.statement(content))
    return client.post(
        "/v1/registrations",
        headers={"Authorization": f"Bearer {publisher.api_key}"},
        files=_files(content),
        data={"statement": request.text, "signature": request.signature},
    )


ENDPOINTS: dict[str, Upload] = {
    "check-full": _check("full"),
    "check-fast": _check("fast"),
    "check-picture": _picture,
    "register": _register,
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_malformed_file_gets_a_result_or_a_json_4xx(fuzz_client: TestClient, endpoint: str) -> None:
    upload = ENDPOINTS[endpoint]
    # A registered original, so that checks of the corpus's near-copies go on to matching and drawing.
    publisher = make_publisher(fuzz_client.app.state.registry, "Fuzz Agency")  # type: ignore[attr-defined]
    assert _register(fuzz_client, publisher, bases()["jpeg"]).status_code == 201
    problems: list[str] = []
    statuses: dict[int, int] = {}
    with ThreadPoolExecutor(1) as pool:
        for case in corpus():
            try:
                response = pool.submit(upload, fuzz_client, publisher, case.content).result(timeout=HANG_SECONDS)
            except FutureTimeout:
                pytest.fail(f"{endpoint}: {case.name} still running after {HANG_SECONDS} s (a hang)")
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            problems.extend(filter(None, [contract_problem(case, response)]))
    assert problems == []
    # The corpus reaches both sides: refusals, and odd files (thin, 16-bit, bad EXIF) that are still analysed.
    assert any(status < 400 for status in statuses) and any(status >= 400 for status in statuses), statuses


@pytest.mark.parametrize("command", [["hash"], ["check"], ["check", "--fast"]])
def test_the_cli_reports_each_malformed_file_and_goes_on(tmp_path: Path, command: list[str]) -> None:
    runner, data_dir = CliRunner(), ["--data-dir", str(tmp_path / "registry")]
    key, folder = tmp_path / "agency.pem", tmp_path / "corpus"
    folder.mkdir()
    (tmp_path / "original.jpg").write_bytes(bases()["jpeg"])
    for setup in (
        ["publisher", "create", "Fuzz Agency", "--key-out", str(key)],
        ["register", str(tmp_path / "original.jpg"), "--key", str(key)],
    ):
        assert runner.invoke(cli_app, [*data_dir, *setup]).exit_code == 0
    cases = corpus()
    for n, case in enumerate(cases):
        (folder / f"{n:03d}-{case.name}.bin").write_bytes(case.content)
    paths = sorted(str(path) for path in folder.iterdir())
    result = runner.invoke(cli_app, [*data_dir, *command, "--json", *paths])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [line["file"] for line in lines] == paths
    errors = [line["error"] for line in lines if "error" in line]
    assert errors and all(isinstance(e["code"], str) and isinstance(e["message"], str) for e in errors)
    assert len(errors) < len(lines)  # the odd but valid files were processed
    assert result.exit_code == 1  # some files failed, for different reasons
