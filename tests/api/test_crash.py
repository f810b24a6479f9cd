"""Crash safety: SIGKILL the real server in the middle of a burst of registrations, restart it, lose nothing acked."""

from __future__ import annotations

import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
from conftest import PHOTOS, PROVREG, create_publisher_over_http, encode, photo, running_server
from PIL import Image

from api.client import HttpTransport
from registry import errors

TOKEN = "crash-test-admin-token-" + "z" * 32
THREADS, PER_THREAD, KILL_AFTER = 4, 12, 10


def _image(n: int) -> bytes:
    """A distinct original per n: a crop of a committed photo under its own colour cast."""
    base = photo(PHOTOS[n % len(PHOTOS)]).resize((192, 144))
    cast = np.clip(np.asarray(base, np.int16) + np.random.default_rng(n).integers(-40, 40, 3), 0, 255)
    return encode(Image.fromarray(cast.astype(np.uint8)).crop((n % 9, 0, 180, 140)), "JPEG", quality=90)


@pytest.mark.slow
def test_every_acknowledged_registration_survives_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"PROVREG_ADMIN_TOKEN": TOKEN, "PROVREG_RATE_LIMIT_ENABLED": "false"}
    acked: dict[str, str] = {}  # registration id -> sha256 of the bytes
    lock, enough = threading.Lock(), threading.Event()
    with running_server(data_dir, env) as (base, process):
        publisher = create_publisher_over_http(base, TOKEN, "Wire Service")

        def burst(thread: int) -> None:
            with HttpTransport.connect(base, publisher.api_key) as transport:
                client = publisher.client(transport)
                for n in range(thread * PER_THREAD, (thread + 1) * PER_THREAD):
                    content = _image(n)
                    try:
                        registration = client.register(content, {"title": f"frame {n}"})
                    except errors.NotReady:  # the server died under this request: it was never acknowledged
                        return
                    with lock:
                        acked[registration.id] = registration.content.sha256
                        if len(acked) >= KILL_AFTER:
                            enough.set()

        with ThreadPoolExecutor(THREADS) as pool:
            futures = [pool.submit(burst, thread) for thread in range(THREADS)]
            got_going = enough.wait(timeout=300)
            process.send_signal(signal.SIGKILL)
            for future in futures:
                future.result()  # anything but the server's death fails the test here
            assert got_going, "the burst never got going"
        assert process.wait(timeout=20) == -signal.SIGKILL
    assert KILL_AFTER <= len(acked) < THREADS * PER_THREAD  # killed mid-burst, with acknowledged work behind it

    with running_server(data_dir, env) as (base, _):
        for registration_id, sha256 in acked.items():
            assert httpx.get(f"{base}/v1/registrations/{registration_id}").status_code == 200
            found = httpx.get(f"{base}/v1/lookup", params={"alg": "sha256", "hash": sha256}).json()
            assert registration_id in {m["registration_id"] for m in found["matches"]}
    audit = subprocess.run([PROVREG, "--data-dir", str(data_dir), "audit"], capture_output=True, text=True, timeout=300)
    assert audit.returncode == 0, audit.stdout + audit.stderr
