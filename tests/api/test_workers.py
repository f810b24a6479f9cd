"""`provreg serve --workers N`: several server processes on one port, all on one PostgreSQL database; refused on
SQLite, where they would only queue on its one write lock."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx2 as httpx
from conftest import PHOTOS, PROVREG, create_publisher_over_http, photo_bytes, running_server

from api.client import HttpTransport

TOKEN = "workers-test-admin-token-" + "w" * 32


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [PROVREG, "--data-dir", str(tmp_path / "data"), "serve", "--workers", "2"],
        env={**os.environ, "PROVREG_DATABASE_URL": ""},  # SQLite in the data directory, whatever the test backend
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 8, result.stderr
    assert "--workers 2 needs PostgreSQL (PROVREG_DATABASE_URL)" in result.stderr


def test_every_worker_matches_every_registration_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = {"PROVREG_ADMIN_TOKEN": TOKEN, "PROVREG_DATABASE_URL": postgres_url, "PROVREG_MEDIA_WORKERS": "1"}
    with running_server(tmp_path / "data", env, "--workers", "2") as (base, process):
        publisher = create_publisher_over_http(base, TOKEN, "Wire Service")
        with HttpTransport.connect(base, publisher.api_key) as transport:
            client = publisher.client(transport)
            ids = {name: client.register(photo_bytes(name), {"title": name}).id for name in PHOTOS[:2]}
        # A fresh connection per request, so the requests spread over the workers as the kernel hands them out.
        for _ in range(4):
            for name, registration_id in ids.items():
                checked = httpx.post(f"{base}/v1/check?mode=fast", files={"file": ("q.jpg", photo_bytes(name))})
                assert checked.status_code == 200, checked.text
                assert checked.json()["matches"][0]["registration_id"] == registration_id
    log = process.stdout.read().decode() if process.stdout else ""
    assert log.count("Started server process") == 2, log
