"""The API with its media pool, over real HTTP: probes answer while every worker and thread is busy, a client that
leaves stops its work, a full pool answers 503 at once, and shutdown does not wait for hung media work."""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import uvicorn
from fastapi import FastAPI, Request

from api.app import create_app
from api.cancel import run_cancellable
from api.cli.media import GRACEFUL_SHUTDOWN_SECONDS
from registry.pool import MEDIA_WORKER_NAME, MediaPool
from registry.settings import Settings

HANG = 600.0  # what a slow task would take; the waits below are only there to turn a hang into a failure
GIVE_UP = 60.0
ANYIO_THREADS = 40  # the default size of the thread pool that sync routes and run_cancellable share


def slow_media_work(pool: MediaPool, seconds: float, *, cancelled: threading.Event) -> str:
    """What a service call does with the pool: the task itself is a stand-in for decoding a scan bomb."""
    pool.run(time.sleep, seconds, cancelled=cancelled)
    return "done"


def app_with_slow_route(data_dir: Path, workers: int, queue: int) -> FastAPI:
    settings = Settings(
        data_dir=data_dir,
        admin_token="pool-test-admin-token-" + "z" * 32,
        rate_limit_enabled=False,
        media_workers=workers,
        media_queue=queue,
        media_client_workers=workers,  # every request here comes from one client
        media_client_places=workers + queue,
    )
    app = create_app(settings)

    @app.post("/slow", include_in_schema=False)
    async def slow(request: Request, seconds: float) -> dict[str, str]:
        return {"status": await run_cancellable(request, slow_media_work, request.app.state.media_pool, seconds)}

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[tuple[str, uvicorn.Server, threading.Thread]]:
    """uvicorn in a thread of this process, so the test can reach the app's pool; stopped like SIGTERM stops it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(f"{base}/readyz"))
    try:
        yield base, server, thread
    finally:
        server.should_exit = True
        thread.join(GIVE_UP)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GIVE_UP
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        time.sleep(0.05)


def hold_slow_request(base: str, seconds: float = HANG) -> socket.socket:
    """A request that stays in flight until its socket is closed: the client who walks away."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(f"POST /slow?seconds={seconds} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n".encode())
    return sock


def metric(base: str, name: str) -> float:
    text = httpx.get(f"{base}/metrics", timeout=GIVE_UP).text
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(f"{name} "))


def test_probes_answer_while_every_worker_and_thread_is_busy_and_leaving_clients_stop_their_work(
    tmp_path: Path,
) -> None:
    in_flight = ANYIO_THREADS + 10  # more than the thread pool holds: some wait for a thread, not only a worker
    app = app_with_slow_route(tmp_path / "data", workers=2, queue=in_flight)
    with serving(app) as (base, _, _):
        pool: MediaPool = app.state.media_pool
        held = [hold_slow_request(base) for _ in range(in_flight)]
        wait_until(lambda: pool.stats()["busy"] == 2 and pool.stats()["queued"] == ANYIO_THREADS - 2)

        assert httpx.get(f"{base}/healthz", timeout=GIVE_UP).json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz", timeout=GIVE_UP).status_code == 200
        assert metric(base, "provreg_media_workers_busy") == 2
        assert metric(base, "provreg_media_queue_depth") == ANYIO_THREADS - 2

        for sock in held:
            sock.close()
        wait_until(lambda: pool.stats()["busy"] == 0 and pool.stats()["queued"] == 0)
        # The two running tasks were killed; a waiting request whose disconnect is noticed a moment later may
        # have started on a fresh worker first, and is killed too.
        assert metric(base, "provreg_media_workers_replaced_total") >= 2
        assert httpx.post(f"{base}/slow", params={"seconds": 0}, timeout=GIVE_UP).json() == {"status": "done"}


def test_a_full_pool_answers_503_overloaded_at_once(tmp_path: Path) -> None:
    app = app_with_slow_route(tmp_path / "data", workers=1, queue=0)
    with serving(app) as (base, _, _):
        held = hold_slow_request(base)
        wait_until(lambda: app.state.media_pool.stats()["busy"] == 1)
        refused = httpx.post(f"{base}/slow", params={"seconds": 0}, timeout=GIVE_UP)
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "overloaded"
        assert refused.headers["retry-after"]
        held.close()


def test_shutdown_does_not_wait_for_hung_media_work(tmp_path: Path) -> None:
    def media_workers() -> set[int | None]:
        return {child.pid for child in multiprocessing.active_children() if child.name == MEDIA_WORKER_NAME}

    others = media_workers()  # earlier tests' pools, still ending on a loaded machine, are not this server's
    app = app_with_slow_route(tmp_path / "data", workers=1, queue=1)
    with serving(app) as (base, server, thread):
        pool: MediaPool = app.state.media_pool
        held = [hold_slow_request(base) for _ in range(2)]
        wait_until(lambda: pool.stats()["busy"] == 1 and pool.stats()["queued"] == 1)
        server.should_exit = True  # what uvicorn's SIGTERM handler does
        thread.join(GIVE_UP)
        assert not thread.is_alive(), "the server waited for its media work"
        assert not media_workers() - others
        for sock in held:
            sock.close()
