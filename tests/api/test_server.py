"""The real thing: `provreg serve` in a subprocess, driven over HTTP, then the CLI on the same data directory."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from conftest import PROVREG, create_publisher_over_http, encode, photo, photo_bytes, running_server

from api.client import HttpTransport

TOKEN = "server-test-admin-token-" + "y" * 32


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    data_dir = tmp_path / "data"
    with running_server(data_dir, {"PROVREG_ADMIN_TOKEN": TOKEN}) as (base, process):
        yield base, data_dir, process


def test_serve_register_check_then_cli_on_the_same_data(server: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, data_dir, process = server
    publisher = create_publisher_over_http(base, TOKEN, "Office of the President")

    with HttpTransport.connect(base, publisher.api_key) as transport:
        registration_id = publisher.client(transport).register(photo_bytes("astronaut"), {"title": "Speech"}).id

    reupload = encode(photo("astronaut").resize((240, 240)), "JPEG", quality=35)
    checked = httpx.post(f"{base}/v1/check", files={"file": ("repost.jpg", reupload)})
    assert checked.status_code == 200
    assert checked.json()["verdict"] == "copy"
    assert checked.json()["matches"][0]["registration_id"] == registration_id
    garbage = httpx.post(f"{base}/v1/check", files={"file": ("x.jpg", b"\xff\xd8\xff\x00garbage")})
    assert garbage.status_code == 422 and garbage.json()["error"]["message"]

    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why it stopped
    assert process.wait(timeout=20) in (0, -signal.SIGTERM)
    log = process.stdout.read().decode() if process.stdout else ""
    assert "Application shutdown complete" in log
    assert (data_dir / "index" / "pdq.index").exists()  # saved at shutdown

    query = data_dir.parent / "repost.jpg"
    query.write_bytes(reupload)
    cli = subprocess.run(
        [PROVREG, "--data-dir", str(data_dir), "check", str(query), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["matches"][0]["registration_id"] == registration_id
