"""A bounded pool of worker processes for media work, each task under CPU-time, memory and wall-clock limits.

Decoding hostile media can take minutes or gigabytes; done in the server's own threads it starves every other
request, health probes included, and goes on after the client has left. Here each task runs in a separate process
that is killed and replaced when it goes over a limit or its caller gives up, while the others carry on:

    pool = MediaPool(workers=2, queue=8, cpu_seconds=30, memory_bytes=3 << 30, wall_seconds=60)
    digest = pool.run(hashlib.sha256, data)  # any picklable top-level function and arguments
    pool.close()

Every worker has its own pipe (so one dying never breaks another, unlike `concurrent.futures.ProcessPoolExecutor`)
and comes from the "forkserver" context, because forking a parent that has threads, faiss and SQLite is unsafe.
A worker's standard error goes to a file of its own, logged (INFO) by the parent after each task; when a worker
dies, its last words and its exit status say why: the CPU limit (SIGXCPU), memory (MemoryError, or a native
library's own out-of-memory message before it aborted), a kill from outside (SIGKILL: the system's out-of-memory
killer, most often), or a crash (any other signal or exit status).
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import math
import multiprocessing
import os
import resource
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from registry.errors import (
    ClientGone,
    ConfigurationError,
    MediaTooExpensive,
    MediaWorkerCrashed,
    NotReady,
    Overloaded,
    RegistryError,
    WorkerKilled,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_CONTEXT = multiprocessing.get_context("forkserver")
MEDIA_WORKER_NAME = "provreg-media"
_POLL_SECONDS = 0.1  # how often a waiting caller looks at its `cancelled` event
_START_SECONDS = 120.0  # a worker's imports (the initializer) may take this long before it counts as broken
_RESULT, _FAILED, _OUT_OF_MEMORY = "result", "failed", "out_of_memory"
_STDERR_TAIL = 8192  # bytes of a worker's standard error kept for the log
# How native libraries say they could not allocate: OpenCV raises cv2.error "(-4:Insufficient memory)", C++ code
# aborts after "std::bad_alloc", C code reports ENOMEM's strerror.
_OUT_OF_MEMORY_WORDS = ("Insufficient memory", "bad_alloc", "Cannot allocate memory", "MemoryError")


def _shutting_down() -> NotReady:
    return NotReady("the server is shutting down; retry on another instance or in a few seconds")


class MediaWorkFailed(RuntimeError):
    """A task raised something other than a domain error: a bug, answered as a JSON 500 with the worker's traceback."""


def _worker_main(
    conn: Connection,
    stderr_path: str,
    memory_bytes: int,
    cpu_seconds: float,
    initializer: Callable[[], None] | None,
    recycle_bytes: int | None,
) -> None:
    """One worker: limits first (so the initializer's imports count too), then tasks until the pipe closes."""
    os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_APPEND), 2)  # what native code prints before it dies is kept
    faulthandler.enable()  # a fatal signal writes the Python stack there too
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker killed by a limit leaves no core file behind
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is the server's to handle, not ours
    if initializer is not None:
        initializer()
    conn.send(_RESULT)  # ready: the parent starts the wall clock only now
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        # RLIMIT_CPU counts the process's whole life, so each task gets its allowance on top of what was used.
        # Only the soft limit moves (a process may raise it again later, never the hard one); the default
        # action of its SIGXCPU ends the process, which the parent reports.
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + cpu_seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        try:
            reply: tuple[str, Any] = (_RESULT, fn(*args))
        except RegistryError as exc:
            reply = (_FAILED, exc)
        except Exception as exc:
            if _out_of_memory(exc):
                conn.send((_OUT_OF_MEMORY, None, True))
                return  # a process that ran out of memory may hold it fragmented: the parent starts a fresh one
            reply = (_FAILED, MediaWorkFailed(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        # A worker that has grown large keeps that memory (allocators rarely give it back): it asks to be replaced.
        retire = recycle_bytes is not None and resident_bytes() > recycle_bytes
        try:
            conn.send((*reply, retire))
        except Exception as exc:  # an unpicklable result is the task's bug, not a reason to hang the caller
            conn.send((_FAILED, MediaWorkFailed(f"the task's result cannot be sent back: {exc!r}"), retire))
        if retire:
            return


def _out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, MemoryError) or any(word in str(exc) for word in _OUT_OF_MEMORY_WORDS)


def resident_bytes() -> int:
    """This process's resident memory now, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class _Worker:
    """One process and the parent's end of its pipe; owned by one caller at a time while it runs a task."""

    def __init__(self, pool: MediaPool) -> None:
        parent_end, child_end = _CONTEXT.Pipe(duplex=True)
        self.conn = parent_end
        handle, self.stderr_path = tempfile.mkstemp(prefix=f"{MEDIA_WORKER_NAME}-", suffix=".stderr")
        os.close(handle)
        limits = (pool.memory_bytes, pool.cpu_seconds, pool.initializer, pool.recycle_bytes)
        self.process = _CONTEXT.Process(
            target=_worker_main,
            args=(child_end, self.stderr_path, *limits),
            name=MEDIA_WORKER_NAME,
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.started = False

    def said(self) -> str:
        """What the worker wrote to its standard error since the last call (the end of it), then forgotten."""
        try:
            with open(self.stderr_path, "rb+") as output:
                size = output.seek(0, os.SEEK_END)
                if size == 0:
                    return ""
                output.seek(max(0, size - _STDERR_TAIL))
                text = output.read()
                output.truncate(0)  # the worker appends (O_APPEND), so it goes on writing from the start
        except OSError:
            return ""
        return text.decode("utf-8", "replace").strip()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()
        self.forget_output()

    def forget_output(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.stderr_path)


class MediaPool:
    """`workers` processes and room for `queue` callers waiting for one; beyond that, `Overloaded` at once."""

    def __init__(
        self,
        *,
        workers: int,
        queue: int,
        cpu_seconds: float,
        memory_bytes: int,
        wall_seconds: float,
        initializer: Callable[[], None] | None = None,
        recycle_bytes: int | None = None,
        settings: str = "PROVREG_MEDIA",
    ) -> None:
        """`recycle_bytes`: a worker whose resident memory exceeds this after a task is replaced by a fresh one.
        `settings`: the prefix of the settings that size this pool, named in its errors (jobs have their own)."""
        if workers < 1 or queue < 0 or cpu_seconds <= 0 or memory_bytes <= 0 or wall_seconds <= 0:
            raise ConfigurationError("the media pool needs at least one worker and positive limits")
        self.workers, self.queue = workers, queue
        self.cpu_seconds, self.memory_bytes, self.wall_seconds = cpu_seconds, memory_bytes, wall_seconds
        self.initializer = initializer
        self.recycle_bytes = recycle_bytes
        self.settings = settings
        self._lock = threading.Condition()
        self._closed = False
        self._waiting = 0
        self._replaced = 0
        self._idle = [_Worker(self) for _ in range(workers)]
        self._busy: set[_Worker] = set()

    def run(self, fn: Callable[..., T], *args: Any, cancelled: threading.Event | None = None) -> T:
        """`fn(*args)` in a worker; blocks until it is done, over a limit, cancelled, or the pool closes."""
        worker = self._acquire(cancelled)
        healthy = False
        try:
            kind, value, retire = self._execute(worker, fn, args, cancelled)
            healthy = not retire
        finally:
            self._release(worker, healthy)
        if kind == _RESULT:
            return value
        if kind == _OUT_OF_MEMORY:
            raise self._memory_error()
        raise value

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "workers": self.workers,
                "busy": len(self._busy),
                "queued": self._waiting,
                "replaced": self._replaced,
            }

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker, busy ones included; their callers and those still waiting get `NotReady`."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._lock.notify_all()
        for worker in workers:
            worker.process.terminate()
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1)
            worker.forget_output()

    def admit(self) -> None:
        """Raise `Overloaded` now if a task would be refused, so a caller can refuse before reading an upload."""
        with self._lock:
            self._refuse_if_full()

    def _refuse_if_full(self) -> None:
        if not self._idle and self._waiting >= self.queue and not self._closed:
            raise Overloaded(
                f"all {self.workers} media workers are busy and {self._waiting} requests are waiting; retry "
                f"shortly (settings {self.settings}_WORKERS, {self.settings}_QUEUE)"
            )

    def _acquire(self, cancelled: threading.Event | None) -> _Worker:
        with self._lock:
            self._refuse_if_full()
            self._waiting += 1
            try:
                while not self._idle:
                    self._raise_if_stopped(cancelled)
                    self._lock.wait(_POLL_SECONDS)
                self._raise_if_stopped(cancelled)
            finally:
                self._waiting -= 1
            worker = self._idle.pop()
            self._busy.add(worker)
            return worker

    def _raise_if_stopped(self, cancelled: threading.Event | None) -> None:
        if self._closed:
            raise _shutting_down()
        if cancelled is not None and cancelled.is_set():
            raise ClientGone("the client disconnected while its media work waited for a worker")

    def _release(self, worker: _Worker, healthy: bool) -> None:
        """Return the worker, or a fresh one in its place when it was killed or may be in a bad state."""
        if not healthy:
            worker.kill()
        with self._lock:
            self._busy.discard(worker)
            if self._closed:
                worker.kill()
                return
            if not healthy:
                self._replaced += 1
                worker = _Worker(self)
            self._idle.append(worker)
            self._lock.notify()

    def _execute(
        self, worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...], cancelled: threading.Event | None
    ) -> tuple[str, Any]:
        """The worker's reply to one task; raises when the worker had to be killed or died."""
        if not worker.started:
            ready = self._await(worker, _START_SECONDS, cancelled)
            if ready is None:
                if self._closed:
                    raise _shutting_down()
                raise ConfigurationError(
                    f"a media worker could not start (exit status {worker.process.exitcode}); is "
                    f"{self.settings}_MEMORY_BYTES ({self.memory_bytes}) too small for the media libraries?"
                )
            worker.started = True
        worker.conn.send((fn, args))
        reply = self._await(worker, self.wall_seconds, cancelled)
        if reply is None:
            raise self._death_error(worker)
        if said := worker.said():
            log.info("media worker %s wrote: %s", worker.process.pid, said)  # libraries' notices and warnings
        return reply

    def _await(self, worker: _Worker, seconds: float, cancelled: threading.Event | None) -> Any | None:
        """The worker's next message; None if it died. Kills it on timeout, cancellation or close, and raises."""
        deadline = time.monotonic() + seconds
        while True:
            ready = wait([worker.conn, worker.process.sentinel], timeout=_POLL_SECONDS)
            if worker.conn in ready:
                try:
                    return worker.conn.recv()
                except (EOFError, OSError):
                    return None
            if ready:
                return None
            if self._closed or (cancelled is not None and cancelled.is_set()):
                worker.kill()
                self._raise_if_stopped(cancelled)
            if time.monotonic() >= deadline:
                worker.kill()
                raise MediaTooExpensive(
                    f"the media took longer than {self.wall_seconds:g} s to process "
                    f"(setting {self.settings}_WALL_SECONDS)",
                    limit="wall_seconds",
                    limit_value=self.wall_seconds,
                )

    def _death_error(self, worker: _Worker) -> RegistryError:
        """Why a worker died, from its exit status and its last words, as the error its caller answers."""
        worker.process.join(timeout=5)
        if self._closed:
            return _shutting_down()
        status = worker.process.exitcode
        said = worker.said()
        if status == -signal.SIGXCPU:
            return MediaTooExpensive(
                f"the media took more than {self.cpu_seconds:g} s of CPU time to process "
                f"(setting {self.settings}_CPU_SECONDS)",
                limit="cpu_seconds",
                limit_value=self.cpu_seconds,
            )
        cause, details = _death(status)
        if any(word in said for word in _OUT_OF_MEMORY_WORDS):  # a native library that aborted when it could not
            log.warning("a media worker ran out of memory and died of %s; it last wrote: %s", cause, said)
            return self._memory_error()
        log.error("a media worker died of %s; it last wrote: %s", cause, said or "nothing")
        if status == -signal.SIGKILL:
            return WorkerKilled(
                "the media worker was killed from outside the server (SIGKILL), most likely by the system's "
                "out-of-memory killer; retry later",
                **details,
            )
        return MediaWorkerCrashed(
            f"processing the media ended its worker process ({cause}): the file, or a library reading it, is "
            "broken; the crash is logged under this request id",
            **details,
        )

    def _memory_error(self) -> MediaTooExpensive:
        return MediaTooExpensive(
            f"the media needs more than {self.memory_bytes} bytes of memory to process "
            f"(setting {self.settings}_MEMORY_BYTES)",
            limit="memory_bytes",
            limit_value=self.memory_bytes,
        )


def _death(status: int | None) -> tuple[str, dict[str, Any]]:
    """How a process ended, in words and as an error's details: its signal's name, or its exit status."""
    if status is not None and status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return name, {"signal": name}
    return f"exit status {status}", {"exit_status": status}
