"""One budget per request in the media pool, with real worker processes: the stages of a request share its CPU time
and its decoded video pixels (a video over the estimate is refused before its frames stream, one that switches
resolution stops when it has spent the budget), and the pool serves clients fairly (issue 18, item 2)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import hostilevideo
import pool_tasks
import pytest
from test_pool import GIVE_UP, make_pool, wait_until
from videoclips import Clip, encode

from registry import work
from registry.errors import ClientOverloaded, MediaTooExpensive, MediaTooLarge
from registry.media import limits
from registry.pool import MediaPool, media_client, request_budget
from registry.settings import Settings

LIMITS = limits(Settings())


def fingerprint_query(pool: MediaPool, content: bytes) -> Any:
    return pool.run(work.query_fingerprint, content, LIMITS, hashlib.sha256(content).hexdigest(), True)


@pytest.fixture
def budget_pool() -> Iterator[MediaPool]:
    media_pool = make_pool(cpu_seconds=30, pixels=2_000_000)
    yield media_pool
    media_pool.close()


def test_a_video_over_the_pixel_estimate_is_refused_before_its_frames_stream(budget_pool: MediaPool) -> None:
    clip = encode(Clip(duration=4.0, width=320, height=180))  # about 100 frames of 57,600 pixels: 5.8 M > 2 M
    with request_budget() as budget, pytest.raises(MediaTooLarge, match="PROVREG_MEDIA_PIXELS") as refused:
        fingerprint_query(budget_pool, clip)
    assert "declares about" in str(refused.value)
    assert budget.pixels <= 320 * 180  # the probe's first frame, nothing streamed
    small = encode(Clip(duration=1.0, width=64, height=36))
    with request_budget():
        assert fingerprint_query(budget_pool, small)[0].kind == "video"  # under it, the same pool fingerprints


def test_a_stream_that_switches_resolution_is_stopped_by_the_pixel_budget(budget_pool: MediaPool) -> None:
    """The header declares 64x36 (its estimate fits), then the stream switches to 640x360 frames (230,400 pixels
    each): the budget of 2 M pixels runs out a few frames in, whatever the header said."""
    switching = hostilevideo._remuxed(hostilevideo._annex_b((64, 36), 5) + hostilevideo._annex_b((640, 360), 12), "mp4")
    with request_budget() as budget, pytest.raises(MediaTooLarge, match="PROVREG_MEDIA_PIXELS") as stopped:
        fingerprint_query(budget_pool, switching)
    assert "decoding stopped at a 640x360 frame" in str(stopped.value)
    assert budget.pixels > 2_000_000


@pytest.mark.slow  # its worker burns about 6 s of CPU by design
def test_the_stages_of_one_request_share_one_cpu_budget() -> None:
    pool = make_pool(cpu_seconds=2)
    try:
        for _ in range(3):  # each stage alone is well within the limit: as separate requests, all three run
            assert pool.run(pool_tasks.burn_cpu_for, 1.2) == 1.2
        with request_budget() as budget, pytest.raises(MediaTooExpensive, match="every stage of the request") as spent:
            for _ in range(3):  # one request: by the third stage at the latest, its 2 s are spent
                pool.run(pool_tasks.burn_cpu_for, 1.2)
        assert spent.value.details["limit"] == "cpu_seconds"
        assert budget.cpu_seconds >= 2
    finally:
        pool.close()


def test_a_flooding_client_does_not_starve_another_clients_check(tmp_path: Path) -> None:
    """One worker: the flooder's first task holds it while three more of its tasks wait, then another client's
    task arrives. Freed, the worker goes to the other client first, then back to the flooder in its order."""
    pool = make_pool(workers=1, queue=8, cpu_seconds=30, client_workers=1, client_places=4)
    go, served = str(tmp_path / "go"), str(tmp_path / "served")

    def as_client(client: str, fn: Any, *args: Any) -> Any:
        with media_client(client):
            return pool.run(fn, *args)

    try:
        with ThreadPoolExecutor(6) as threads:
            futures: list[Future[Any]] = [threads.submit(as_client, "address:flooder", pool_tasks.wait_for, go)]
            wait_until(lambda: pool.stats()["busy"] == 1)
            for n in range(3):
                futures.append(threads.submit(as_client, "address:flooder", pool_tasks.record, served, f"flood-{n}"))
                wait_until(lambda n=n: pool.stats()["queued"] == n + 1)
            with media_client("address:flooder"), pytest.raises(ClientOverloaded, match="CLIENT_PLACES"):
                pool.admit()  # its share is spent: a fifth is refused at once
            with media_client("address:other"):
                pool.admit()  # while the other client still has room
            futures.append(threads.submit(as_client, "address:other", pool_tasks.record, served, "other"))
            wait_until(lambda: pool.stats()["queued"] == 4)
            Path(go).touch()
            for future in futures:
                future.result(timeout=GIVE_UP)
        assert Path(served).read_text().split() == ["other", "flood-0", "flood-1", "flood-2"]
    finally:
        pool.close()


def test_one_client_runs_at_most_its_share_of_workers_while_another_waits(tmp_path: Path) -> None:
    """Two workers, one each per client: the flooder's second task waits although a worker is free, so the other
    client's task takes that worker at once."""
    pool = make_pool(workers=2, queue=8, cpu_seconds=30, client_workers=1)
    go, served = str(tmp_path / "go"), str(tmp_path / "served")
    try:
        with ThreadPoolExecutor(3) as threads:

            def flood(fn: Any, *args: Any) -> Any:
                with media_client("address:flooder"):
                    return pool.run(fn, *args)

            holding = threads.submit(flood, pool_tasks.wait_for, go)
            wait_until(lambda: pool.stats()["busy"] == 1)
            waiting = threads.submit(flood, pool_tasks.record, served, "flood")
            wait_until(lambda: pool.stats()["queued"] == 1)
            assert pool.stats()["busy"] == 1  # a worker is idle, kept for the other clients
            with media_client("address:other"):
                assert pool.run(pool_tasks.record, served, "other") == "other"
            assert not waiting.done()
            Path(go).touch()
            holding.result(timeout=GIVE_UP)
            waiting.result(timeout=GIVE_UP)
        assert Path(served).read_text().split() == ["other", "flood"]
    finally:
        pool.close()
