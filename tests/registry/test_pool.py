"""The media pool with real worker processes: limits kill and replace a worker, the others carry on."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pool_tasks
import pytest

from registry.errors import (
    ClientGone,
    InvalidRequest,
    MediaTooExpensive,
    MediaWorkerCrashed,
    NotReady,
    Overloaded,
    WorkerKilled,
)
from registry.pool import MediaPool, MediaWorkFailed

HANG = 600.0  # seconds a "hung" task would sleep; every wait below is far shorter, only to catch a hang
GIVE_UP = 60.0


def make_pool(**overrides: Any) -> MediaPool:
    limits: dict[str, Any] = {
        "workers": 1,
        "queue": 1,
        "cpu_seconds": 1,
        "memory_bytes": 1024**3,
        "wall_seconds": HANG,
    }
    return MediaPool(**(limits | overrides))


@pytest.fixture
def pool() -> Iterator[MediaPool]:
    media_pool = make_pool()
    yield media_pool
    media_pool.close()


def wait_until(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(int(GIVE_UP / 0.05)):
        if condition():
            return
        done.wait(0.05)
    raise AssertionError("condition never became true")


def test_runs_a_task_and_reuses_its_worker(pool: MediaPool) -> None:
    assert pool.run(pool_tasks.add, 2, 3) == 5
    assert pool.run(pool_tasks.pid) == pool.run(pool_tasks.pid)
    assert pool.stats() == {"workers": 1, "busy": 0, "queued": 0, "replaced": 0}


@pytest.mark.slow
def test_cpu_limit_kills_the_worker_and_the_pool_serves_the_next_task(pool: MediaPool) -> None:
    first = pool.run(pool_tasks.pid)
    with pytest.raises(MediaTooExpensive, match="PROVREG_MEDIA_CPU_SECONDS") as raised:
        pool.run(pool_tasks.burn_cpu)
    assert raised.value.details == {"limit": "cpu_seconds", "limit_value": 1}
    assert pool.run(pool_tasks.add, 1, 1) == 2
    assert pool.run(pool_tasks.pid) != first
    assert pool.stats()["replaced"] == 1


def test_cpu_allowance_is_per_task_not_per_worker(pool: MediaPool) -> None:
    """Many short tasks add up to more CPU than one task's limit without killing the worker."""
    first = pool.run(pool_tasks.pid)
    for _ in range(3):
        pool.run(pool_tasks.sleep, 0.01)
        assert pool.run(pool_tasks.allocate, 50 * 1024**2) == 50 * 1024**2
    assert pool.run(pool_tasks.pid) == first


def test_memory_limit(pool: MediaPool) -> None:
    with pytest.raises(MediaTooExpensive, match="PROVREG_MEDIA_MEMORY_BYTES") as raised:
        pool.run(pool_tasks.allocate, 2 * 1024**3)
    assert raised.value.details["limit"] == "memory_bytes"
    assert pool.run(pool_tasks.allocate, 1024) == 1024
    assert pool.stats()["replaced"] == 1


@pytest.mark.parametrize(
    ("task", "args", "details"),
    [
        (pool_tasks.die_of, (signal.SIGSEGV,), {"signal": "SIGSEGV"}),
        (pool_tasks.die_of, (signal.SIGABRT,), {"signal": "SIGABRT"}),
        (pool_tasks.exit_with, (3,), {"exit_status": 3}),
    ],
    ids=["segfault", "abort", "exit-status"],
)
def test_a_crash_is_reported_as_a_crash_not_as_memory(
    pool: MediaPool, task: Callable[..., None], args: tuple[int, ...], details: dict[str, object]
) -> None:
    """Every death but SIGXCPU was reported as over the memory limit (issue 18)."""
    with pytest.raises(MediaWorkerCrashed, match="ended its worker process") as raised:
        pool.run(task, *args)
    assert raised.value.details == details and "MEMORY" not in raised.value.message
    assert pool.run(pool_tasks.add, 1, 1) == 2 and pool.stats()["replaced"] == 1


def test_a_kill_from_outside_is_a_retryable_kill(pool: MediaPool) -> None:
    with pytest.raises(WorkerKilled, match="out-of-memory killer") as raised:
        pool.run(pool_tasks.die_of, signal.SIGKILL)
    assert raised.value.details == {"signal": "SIGKILL"}


@pytest.mark.parametrize("task", [pool_tasks.abort_out_of_memory, pool_tasks.native_out_of_memory])
def test_native_libraries_out_of_memory_is_memory(pool: MediaPool, task: Callable[[], None]) -> None:
    """std::bad_alloc then abort, or OpenCV's "Insufficient memory" error: memory, whatever the exception type."""
    with pytest.raises(MediaTooExpensive, match="PROVREG_MEDIA_MEMORY_BYTES"):
        pool.run(task)


def test_what_a_worker_writes_is_logged_by_the_server(pool: MediaPool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="registry.pool"):
        assert pool.run(pool_tasks.chatter, "a decoder's warning") == len("a decoder's warning")
        with pytest.raises(MediaWorkerCrashed):
            pool.run(pool_tasks.die_of, signal.SIGSEGV)
    logged = caplog.text
    assert "a decoder's warning" in logged
    assert "died of SIGSEGV" in logged and "Fatal Python error: Segmentation fault" in logged  # faulthandler's stack


def test_wall_clock_limit_kills_a_hung_task() -> None:
    pool = make_pool(wall_seconds=0.5)
    try:
        with pytest.raises(MediaTooExpensive, match="PROVREG_MEDIA_WALL_SECONDS"):
            pool.run(pool_tasks.sleep, HANG)
        assert pool.run(pool_tasks.add, 1, 2) == 3
        assert pool.stats()["replaced"] == 1
    finally:
        pool.close()


def in_thread(fn: Callable[[], Any]) -> Future[Any]:
    executor = ThreadPoolExecutor(1)
    future = executor.submit(fn)
    executor.shutdown(wait=False)
    return future


def test_cancelling_kills_the_running_task(pool: MediaPool) -> None:
    cancelled = threading.Event()
    running = in_thread(lambda: pool.run(pool_tasks.sleep, HANG, cancelled=cancelled))
    wait_until(lambda: pool.stats()["busy"] == 1)
    cancelled.set()
    with pytest.raises(ClientGone):
        running.result(timeout=GIVE_UP)
    assert pool.run(pool_tasks.add, 2, 2) == 4
    assert pool.stats()["replaced"] == 1


def test_a_full_queue_is_refused_at_once_and_a_cancelled_waiter_leaves_it(pool: MediaPool) -> None:
    stop_running, stop_waiting = threading.Event(), threading.Event()
    running = in_thread(lambda: pool.run(pool_tasks.sleep, HANG, cancelled=stop_running))
    wait_until(lambda: pool.stats()["busy"] == 1)
    waiting = in_thread(lambda: pool.run(pool_tasks.add, 1, 1, cancelled=stop_waiting))
    wait_until(lambda: pool.stats()["queued"] == 1)

    with pytest.raises(Overloaded, match="PROVREG_MEDIA_QUEUE"):
        pool.run(pool_tasks.add, 1, 1)

    stop_waiting.set()
    with pytest.raises(ClientGone):
        waiting.result(timeout=GIVE_UP)
    assert pool.stats() == {"workers": 1, "busy": 1, "queued": 0, "replaced": 0}  # the running task was not touched
    stop_running.set()
    with pytest.raises(ClientGone):
        running.result(timeout=GIVE_UP)


def test_a_domain_error_comes_back_as_itself(pool: MediaPool) -> None:
    with pytest.raises(InvalidRequest, match="bad metadata") as raised:
        pool.run(pool_tasks.refuse, "bad metadata")
    assert raised.value.details == {"field": "metadata"}
    assert pool.stats()["replaced"] == 0


def test_any_other_exception_is_a_failure_with_the_workers_traceback(pool: MediaPool) -> None:
    with pytest.raises(MediaWorkFailed, match="ZeroDivisionError") as raised:
        pool.run(pool_tasks.divide_by_zero)
    assert "pool_tasks.py" in str(raised.value)
    assert pool.run(pool_tasks.add, 0, 0) == 0


def test_close_stops_busy_workers_and_answers_waiting_callers() -> None:
    pool = make_pool()
    running = in_thread(lambda: pool.run(pool_tasks.sleep, HANG))
    wait_until(lambda: pool.stats()["busy"] == 1)
    waiting = in_thread(lambda: pool.run(pool_tasks.add, 1, 1))
    wait_until(lambda: pool.stats()["queued"] == 1)
    pool.close(timeout=GIVE_UP)
    for caller in (running, waiting):
        with pytest.raises(NotReady):
            caller.result(timeout=GIVE_UP)
    with pytest.raises(NotReady):
        pool.run(pool_tasks.add, 1, 1)


@pytest.mark.slow
def test_workers_run_in_parallel_and_one_dying_spares_the_other() -> None:
    pool = make_pool(workers=2, queue=0)
    try:
        cancelled = threading.Event()
        sleeper = in_thread(lambda: pool.run(pool_tasks.sleep, HANG, cancelled=cancelled))
        wait_until(lambda: pool.stats()["busy"] == 1)
        with pytest.raises(MediaTooExpensive):
            pool.run(pool_tasks.burn_cpu)
        assert not sleeper.done()
        assert pool.run(pool_tasks.add, 1, 1) == 2
        cancelled.set()
        with pytest.raises(ClientGone):
            sleeper.result(timeout=GIVE_UP)
    finally:
        pool.close()


def test_a_worker_grown_past_the_recycle_size_is_replaced_after_its_task() -> None:
    media_pool = make_pool(recycle_bytes=300 * 1024**2, cpu_seconds=30)
    try:
        first = media_pool.run(pool_tasks.grow, 1024)  # small: the worker stays
        assert media_pool.run(pool_tasks.pid) == first
        assert media_pool.run(pool_tasks.grow, 400 * 1024**2) == first  # the answer still comes back
        assert media_pool.run(pool_tasks.pid) != first  # then a fresh worker serves
        assert media_pool.stats()["replaced"] == 1
    finally:
        media_pool.close()
