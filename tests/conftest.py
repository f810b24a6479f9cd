"""Shared fixtures: committed photos, a real registry in a temporary data directory, a verified publisher.

The registry's database is SQLite unless a test runs on PostgreSQL: every test of a module marked
`pytestmark = pytest.mark.backends` runs on both (`[sqlite]` and `[postgresql]`), and `PROVREG_TEST_BACKEND=postgresql`
runs every test on PostgreSQL. The `database_url` fixture says which (None: SQLite) and exports it as
`PROVREG_DATABASE_URL`, so `provreg` subprocesses and servers use the same database.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import faiss
import httpx2 as httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pg import postgres_schema_template, postgres_schema_url, postgres_server, postgres_url  # noqa: F401 - fixtures, shared with every test module
from PIL import Image, ImageDraw, ImageFont

from api.client import LocalTransport, PublisherClient, Transport, registration_statement, sign_statement
from fingerprint.kinds import sniff
from registry import migrations, publishers
from registry.db import make_engine
from registry.keys import raw_public_key
from registry.runtime import Registry
from registry.settings import Settings

# One thread per numeric library: CI has 2 cores and its timings are not what tests check.
faiss.omp_set_num_threads(1)
cv2.setNumThreads(1)
# Property tests are judged by their answers, never by their speed: hypothesis's 200 ms deadline per example and its
# too-slow health check failed them on a loaded machine (issue 18, item 9).
hypothesis_settings.register_profile("any_speed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("any_speed")

DATA = Path(__file__).parent / "data"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def photo_bytes(name: str) -> bytes:
    return (DATA / f"{name}.jpg").read_bytes()


def photo(name: str) -> Image.Image:
    return Image.open(DATA / f"{name}.jpg").convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def article_page(inset: Image.Image, *, width: int = 480, seed: int = 0) -> tuple[Image.Image, tuple[int, int]]:
    """A 1600x1200 article page: header, sidebar, columns of random text, `inset` resized to `width` (30% of the
    page's width by default) in a captioned card that covers part of the text, and the rocket photo smaller beside
    it. Returns the page and where the inset's top-left corner is."""
    rng = np.random.default_rng(seed)
    page = Image.new("RGB", (1600, 1200), (250, 250, 252))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, 1600, 90), fill=(30, 60, 120))
    draw.rectangle((0, 90, 260, 1200), fill=(236, 238, 242))
    small, large = ImageFont.load_default(size=18), ImageFont.load_default(size=30)

    def words(n: int) -> str:
        return "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz     "), n))

    for y in range(120, 1180, 34):
        draw.text((20, y), words(14), font=small, fill=(60, 60, 70))
    draw.text((300, 120), words(40).upper(), font=large, fill=(20, 20, 20))
    for y in range(180, 1180, 28):
        draw.text((300, y), words(70), font=small, fill=(40, 40, 40))
    height = round(inset.height * width / inset.width)
    x, y = 560, 330
    draw.rectangle((x - 20, y - 20, x + width + 20, y + height + 60), fill=(255, 255, 255), outline=(200, 200, 200))
    page.paste(inset.resize((width, height), Image.Resampling.LANCZOS), (x, y))
    draw.text((x, y + height + 15), words(40), font=small, fill=(90, 90, 90))
    page.paste(photo("rocket").resize((300, 200)), (1260, 760))
    return page, (x, y)


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge canvas: a decompression bomb's calling card."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    header = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\0" * 16)
    body = struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + header + body + end


PROVREG = str(Path(sys.executable).with_name("provreg"))
ADMIN_TOKEN = "test-admin-token-" + "x" * 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(data_dir: Path, env: dict[str, str], *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`provreg serve [options]` in a subprocess on a free port, ready (GET /readyz answered 200) when yielded."""
    port = _free_port()
    process = subprocess.Popen(
        [PROVREG, "--data-dir", str(data_dir), "serve", "--port", str(port), *options],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: its workers and their media workers end with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise AssertionError(process.stdout.read().decode() if process.stdout else "server exited")
            time.sleep(0.2)
        else:
            raise AssertionError("server did not become ready within 60 s")
        yield base, process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_ready(client: httpx.Client) -> None:
    """Wait for an app (FastAPI TestClient) that loads its index in the background to answer /readyz."""
    for _ in range(200):
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError("registry never became ready")


BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "empty_database: the test's PostgreSQL database starts empty, not at the migration head"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("backends"):
        marks = {"postgresql": [pytest.mark.postgresql]}
        cases = [pytest.param(backend, marks=marks.get(backend, [])) for backend in BACKENDS]
        metafunc.parametrize("database_url", cases, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the PostgreSQL server `postgresql`, so `make test-fast` can leave them out."""
    for item in items:
        if {"postgres_url", "postgres_schema_url", "postgres_server"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgresql)


@pytest.fixture(autouse=True)
def database_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """This test's database: None for SQLite in the data directory, else a fresh PostgreSQL database's URL (already
    at the migration head, unless the test is marked `empty_database`)."""
    backend = getattr(request, "param", os.environ.get("PROVREG_TEST_BACKEND", "sqlite"))
    if backend not in BACKENDS:
        raise pytest.UsageError(f"PROVREG_TEST_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "sqlite":
        monkeypatch.delenv("PROVREG_DATABASE_URL", raising=False)
        return None
    # A test of migrations themselves starts from an empty database, as `Registry.open` does on SQLite.
    empty = request.node.get_closest_marker("empty_database") is not None
    url: str = request.getfixturevalue("postgres_url" if empty else "postgres_schema_url")
    monkeypatch.setenv("PROVREG_DATABASE_URL", url)
    return url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI nothing about PostgreSQL may be skipped: such a skip is reported as a failure."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("CI")
        and any(word in str(report.longrepr).lower() for word in ("postgres", "pgvector"))
    ):
        report.outcome = "failed"


@pytest.fixture(scope="session")
def sqlite_schema_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite registry database the session migrated to the head once (its engine closed, so no WAL file)."""
    path = tmp_path_factory.mktemp("schema") / "registry.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrations.migrate(engine)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None, request: pytest.FixtureRequest) -> Settings:
    """The test's registry settings. On SQLite the data directory starts with a copy of a database already at the
    migration head, as `Registry.open` leaves an empty one (running every migration for each test cost about a
    tenth of a second of CPU, hundreds of times), unless the test is marked `empty_database`."""
    data_dir = tmp_path / "data"
    if database_url is None and request.node.get_closest_marker("empty_database") is None:
        data_dir.mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_schema_template"), data_dir / "registry.sqlite3")
    return Settings(data_dir=data_dir, admin_token=ADMIN_TOKEN, database_url=database_url)


@pytest.fixture
def registry(settings: Settings) -> Iterator[Registry]:
    reg = Registry.open(settings)
    reg.load()
    yield reg
    reg.close()


@dataclass
class PublisherHandle:
    id: str
    key_id: str
    private_key: Ed25519PrivateKey
    api_key: str

    def client(self, transport: Transport, key: Ed25519PrivateKey | None = None) -> PublisherClient:
        """This publisher's client over `transport`, signing with its key (or another, to test refusals)."""
        return PublisherClient(transport, publisher_id=self.id, private_key=key or self.private_key)

    def statement(self, data: bytes, media_type: str | None = None, **overrides: Any) -> dict[str, Any]:
        """A fresh registration statement, with `overrides` replacing fields (bytes we cannot sniff still get one)."""
        statement = registration_statement(
            publisher_id=self.id,
            key_id=self.key_id,
            content=data,
            metadata={"title": "test original"},
            media_type=media_type or sniff(data) or "application/octet-stream",
        )
        return {**statement, **overrides}

    def signed(self, data: bytes, **overrides: Any) -> tuple[str, str]:
        request = sign_statement(self.private_key, self.statement(data, **overrides))
        return request.text, request.signature


def create_publisher_over_http(base: str, admin_token: str, name: str) -> PublisherHandle:
    """A verified publisher made through a running server's admin endpoint, with a fresh key."""
    key = Ed25519PrivateKey.generate()
    created = httpx.post(
        f"{base}/v1/publishers",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "name": name,
            "public_key": base64.b64encode(raw_public_key(key)).decode(),
            "verification": {"method": "in-person", "evidence": "met the desk", "verified_by": "registry operator"},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    return PublisherHandle(body["id"], body["key_id"], key, body["api_key"])


def make_publisher(registry: Registry, name: str, expires_at: datetime | None = None) -> PublisherHandle:
    key = Ed25519PrivateKey.generate()
    with registry.session() as session:
        created = publishers.create_publisher(
            session=session,
            registry=registry,
            name=name,
            public_key=raw_public_key(key),
            verification=publishers.Verification(
                method="test",
                evidence="fixture",
                verified_by="pytest",
                expires_at=expires_at or datetime.now(UTC) + timedelta(days=30),
            ),
        )
    return PublisherHandle(id=created.id, key_id=created.key_id, private_key=key, api_key=created.api_key)


@pytest.fixture
def publisher(registry: Registry) -> PublisherHandle:
    return make_publisher(registry, "Daily Planet")


@pytest.fixture
def register(registry: Registry, publisher: PublisherHandle) -> Callable[[bytes], str]:
    """Register `content` as `publisher` and return the registration id."""

    client = publisher.client(LocalTransport(registry))

    def do(content: bytes) -> str:
        return client.register(content, {"title": "test original"}).id

    return do
