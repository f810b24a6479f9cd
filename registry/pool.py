"""A bounded pool of worker processes for media work, each task under CPU-time, memory and wall-clock limits.

Decoding hostile media can take minutes or gigabytes; done in the server's own threads it starves every other
request, health probes included, and goes on after the client has left. Here each task runs in a separate process
that is killed and replaced when it goes over a limit or its caller gives up, while the others carry on:

    pool = MediaPool(workers=2, queue=8, cpu_seconds=30, memory_bytes=3 << 30, wall_seconds=60)
    digest = pool.run(hashlib.sha256, data)  # any picklable top-level function and arguments
    pool.close()

One request's tasks (decode and fingerprint, analysis, assessment) share one budget (`request_budget`): CPU seconds,
wall-clock seconds and decoded video pixels (`fingerprint.video.decode.pixel_budget`) spent by one task are gone for
the next, so a video bomb holds a worker for the limit once, not once per stage. Without a budget open, each task
has a budget of its own.

Waiting tasks are served fairly across clients (`media_client`: a publisher's key, else an address): the next free
worker goes to the waiting client with the fewest tasks running, the longest-waiting of those first; a client runs
at most `client_workers` tasks at once and has at most `client_places` running or waiting (beyond, 429 at once), so
one client's flood of bombs cannot hold every worker nor fill the queue in front of another client's check.

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
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar, TypeVarTuple

from fingerprint.video.decode import pixel_budget
from registry.errors import (
    ClientGone,
    ClientOverloaded,
    ConfigurationError,
    MediaTooExpensive,
    MediaWorkerCrashed,
    NotReady,
    Overloaded,
    RegistryError,
    WorkerKilled,
)
from registry.media import media_errors, prepare_worker
from registry.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")  # a task's arguments, as its function takes them

_CONTEXT = multiprocessing.get_context("forkserver")
MEDIA_WORKER_NAME = "provreg-media"
_POLL_SECONDS = 0.1  # how often a waiting caller looks at its `cancelled` event
_START_SECONDS = 120.0  # a worker's imports (the initializer) may take this long before it counts as broken
_RESULT, _FAILED, _OUT_OF_MEMORY = "result", "failed", "out_of_memory"
_UNLIMITED = 1 << 62  # decoded pixels, for a pool without a pixel budget
_STDERR_TAIL = 8192  # bytes of a worker's standard error kept for the log
# How native libraries say they could not allocate: OpenCV raises cv2.error "(-4:Insufficient memory)", C++ code
# aborts after "std::bad_alloc", C code reports ENOMEM's strerror.
_OUT_OF_MEMORY_WORDS = ("Insufficient memory", "bad_alloc", "Cannot allocate memory", "MemoryError")


def _shutting_down() -> NotReady:
    return NotReady("the server is shutting down; retry on another instance or in a few seconds")


@dataclass(slots=True)
class RequestBudget:
    """What one request's media work has spent so far, every task together; the pool holds it to its limits."""

    client: str
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    pixels: int = 0


_CLIENT: ContextVar[str] = ContextVar("media_client", default="local")
_BUDGET: ContextVar[RequestBudget | None] = ContextVar("request_budget", default=None)


@contextlib.contextmanager
def media_client(client: str) -> Iterator[None]:
    """Name the client whose media work runs inside (the API: its caller), for fair scheduling."""
    token = _CLIENT.set(client)
    try:
        yield
    finally:
        _CLIENT.reset(token)


@contextlib.contextmanager
def request_budget() -> Iterator[RequestBudget]:
    """One budget for every task run inside (threads started inside share it: they copy the context)."""
    budget = RequestBudget(_CLIENT.get())
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


class _Ticket:
    """A caller waiting for a worker; `worker` is set when one is handed to it."""

    __slots__ = ("client", "worker")

    def __init__(self, client: str) -> None:
        self.client = client
        self.worker: _Worker | None = None


class MediaWorkFailed(RuntimeError):
    """A task raised something other than a domain error: a bug, answered as a JSON 500 with the worker's traceback."""


def _worker_main(
    conn: Connection,
    stderr_path: str,
    memory_bytes: int,
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
            fn, args, cpu_seconds, pixels, pixels_setting = conn.recv()
        except EOFError:
            return
        # RLIMIT_CPU counts the process's whole life, so each task gets what is left of its request's allowance on
        # top of what was used (to the next whole second). Only the soft limit moves (a process may raise it again
        # later, never the hard one); the default action of its SIGXCPU ends the process, which the parent reports.
        used = _cpu_seconds()
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + cpu_seconds), resource.RLIM_INFINITY))
        with pixel_budget(pixels, pixels_setting) as decoded:
            try:
                with media_errors():  # a limit raised while frames stream, outside the task's own handling
                    reply: tuple[str, Any] = (_RESULT, fn(*args))
            except RegistryError as exc:
                reply = (_FAILED, exc)
            except Exception as exc:
                if _out_of_memory(exc):
                    conn.send((_OUT_OF_MEMORY, None, True, _cpu_seconds() - used, decoded.spent))
                    return  # a process that ran out of memory may hold it fragmented: the parent starts a fresh one
                reply = (_FAILED, MediaWorkFailed(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        # A worker that has grown large keeps that memory (allocators rarely give it back): it asks to be replaced.
        retire = recycle_bytes is not None and resident_bytes() > recycle_bytes
        spent = (_cpu_seconds() - used, decoded.spent)
        try:
            conn.send((*reply, retire, *spent))
        except Exception as exc:  # an unpicklable result is the task's bug, not a reason to hang the caller
            conn.send((_FAILED, MediaWorkFailed(f"the task's result cannot be sent back: {exc!r}"), retire, *spent))
        if retire:
            return


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
        limits = (pool.memory_bytes, pool.initializer, pool.recycle_bytes)
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
        pixels: int | None = None,
        client_workers: int | None = None,
        client_places: int | None = None,
        initializer: Callable[[], None] | None = None,
        recycle_bytes: int | None = None,
        settings: str = "PROVREG_MEDIA",
    ) -> None:
        """`cpu_seconds`, `wall_seconds`, `pixels`: one request's budget (every task of it together; `pixels` are
        decoded video pixels, None: no limit). `client_workers`, `client_places`: one client's tasks running at once,
        and running or waiting (None: no limit of its own). `recycle_bytes`: a worker whose resident memory exceeds
        this after a task is replaced by a fresh one. `settings`: the prefix of the settings that size this pool,
        named in its errors (jobs have their own)."""
        if workers < 1 or queue < 0 or cpu_seconds <= 0 or memory_bytes <= 0 or wall_seconds <= 0:
            raise ConfigurationError("the media pool needs at least one worker and positive limits")
        self.workers, self.queue = workers, queue
        self.cpu_seconds, self.memory_bytes, self.wall_seconds = cpu_seconds, memory_bytes, wall_seconds
        self.pixels = pixels
        self.client_workers = client_workers or workers
        self.client_places = client_places or workers + queue
        self.initializer = initializer
        self.recycle_bytes = recycle_bytes
        self.settings = settings
        self._lock = threading.Condition()
        self._closed = False
        self._waiting: dict[str, deque[_Ticket]] = {}  # by client, each in arrival order
        self._running: Counter[str] = Counter()
        self._served: dict[str, int] = {}  # when each client with tasks running or waiting was last handed a worker
        self._handed = 0
        self._replaced = 0
        self._idle = [_Worker(self) for _ in range(workers)]
        self._busy: set[_Worker] = set()

    def run(self, fn: Callable[[*Ts], T], *args: *Ts, cancelled: threading.Event | None = None) -> T:
        """`fn(*args)` in a worker, on the open request budget; blocks until it is done, over a limit, cancelled, or
        the pool closes."""
        budget = _BUDGET.get() or RequestBudget(_CLIENT.get())
        self._refuse_if_spent(budget)
        worker = self._acquire(budget.client, cancelled)
        healthy = False
        try:
            kind, value, retire = self._execute(worker, fn, args, cancelled, budget)
            healthy = not retire
        finally:
            self._release(worker, budget.client, healthy)
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
                "queued": self._queued(),
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
                worker.process.join()  # SIGKILL cannot be ignored: bounded by the kernel, however loaded the machine
            worker.forget_output()

    def admit(self) -> None:
        """Raise `Overloaded` (or `ClientOverloaded`) now if the current client's task would be refused, so a caller
        can refuse before reading an upload."""
        with self._lock:
            self._refuse_if_full(_CLIENT.get())

    def _queued(self, client: str | None = None) -> int:
        if client is not None:
            return len(self._waiting.get(client, ()))
        return sum(len(tickets) for tickets in self._waiting.values())

    def _refuse_if_full(self, client: str) -> None:
        if self._closed:
            return
        if len(self._busy) + self._queued() >= self.workers + self.queue:
            raise Overloaded(
                f"all {self.workers} media workers are busy and {self._queued()} requests are waiting; retry "
                f"shortly (settings {self.settings}_WORKERS, {self.settings}_QUEUE)"
            )
        if self._running[client] + self._queued(client) >= self.client_places:
            raise ClientOverloaded(
                f"this client already has {self._running[client]} media tasks running and {self._queued(client)} "
                f"waiting, as many as one client may; retry once they are answered (setting "
                f"{self.settings}_CLIENT_PLACES)"
            )

    def _refuse_if_spent(self, budget: RequestBudget) -> None:
        if budget.cpu_seconds >= self.cpu_seconds:
            raise self._cpu_error()
        if budget.wall_seconds >= self.wall_seconds:
            raise self._wall_error()

    def _acquire(self, client: str, cancelled: threading.Event | None) -> _Worker:
        with self._lock:
            self._raise_if_stopped(cancelled)
            self._refuse_if_full(client)
            ticket = _Ticket(client)
            self._waiting.setdefault(client, deque()).append(ticket)
            try:
                self._dispatch()
                while ticket.worker is None:
                    self._raise_if_stopped(cancelled)
                    self._lock.wait(_POLL_SECONDS)
            except BaseException:
                if ticket.worker is None:
                    self._withdraw(ticket)
                else:  # handed a worker just as it gave up: the worker goes to the next in line
                    self._give_back(ticket.worker, client)
                raise
            return ticket.worker

    def _withdraw(self, ticket: _Ticket) -> None:
        tickets = self._waiting[ticket.client]
        tickets.remove(ticket)
        if not tickets:
            del self._waiting[ticket.client]
        self._forget_if_idle(ticket.client)

    def _dispatch(self) -> None:
        """Hand idle workers to waiting clients: fewest tasks running first, then the one served longest ago (a new
        client before any); each client's tasks in their order. One at its `client_workers` waits for its own."""
        handed = False
        while self._idle:
            eligible = [client for client in self._waiting if self._running[client] < self.client_workers]
            if not eligible:
                break
            client = min(eligible, key=lambda name: (self._running[name], self._served.get(name, -1)))
            tickets = self._waiting[client]
            ticket = tickets.popleft()
            if not tickets:
                del self._waiting[client]
            ticket.worker = self._idle.pop()
            self._busy.add(ticket.worker)
            self._running[client] += 1
            self._served[client] = self._handed = self._handed + 1
            handed = True
        if handed:
            self._lock.notify_all()

    def _forget_if_idle(self, client: str) -> None:
        if not self._running[client] and client not in self._waiting:
            self._running.pop(client, None)
            self._served.pop(client, None)

    def _raise_if_stopped(self, cancelled: threading.Event | None) -> None:
        if self._closed:
            raise _shutting_down()
        if cancelled is not None and cancelled.is_set():
            raise ClientGone("the client disconnected while its media work waited for a worker")

    def _give_back(self, worker: _Worker, client: str) -> None:
        """Under the lock: `worker` is idle again (the caller's turn ended) and goes to the next in line."""
        self._busy.discard(worker)
        self._running[client] -= 1
        self._forget_if_idle(client)
        if self._closed:
            worker.kill()
            return
        self._idle.append(worker)
        self._dispatch()

    def _release(self, worker: _Worker, client: str, healthy: bool) -> None:
        """Return the worker, or a fresh one in its place when it was killed or may be in a bad state."""
        if not healthy:
            worker.kill()
        with self._lock:
            if not healthy and not self._closed:
                self._replaced += 1
                self._busy.discard(worker)
                self._busy.add(worker := _Worker(self))
            self._give_back(worker, client)

    def _execute(
        self,
        worker: _Worker,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        cancelled: threading.Event | None,
        budget: RequestBudget,
    ) -> tuple[str, Any, bool]:
        """The worker's reply to one task, its spending charged to `budget`; raises when the worker had to be
        killed or died."""
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
        cpu_left = self.cpu_seconds - budget.cpu_seconds
        pixels_left = _UNLIMITED if self.pixels is None else self.pixels - budget.pixels
        worker.conn.send((fn, args, cpu_left, pixels_left, f"{self._setting_name()}_pixels"))
        started = time.monotonic()
        try:
            reply = self._await(worker, self.wall_seconds - budget.wall_seconds, cancelled)
        finally:
            budget.wall_seconds += time.monotonic() - started
        if reply is None:
            budget.cpu_seconds += cpu_left  # it died: most often of the CPU limit, which then is spent
            raise self._death_error(worker)
        if said := worker.said():
            log.info("media worker %s wrote: %s", worker.process.pid, said)  # libraries' notices and warnings
        kind, value, retire, cpu, pixels = reply
        budget.cpu_seconds += cpu
        budget.pixels += pixels
        return kind, value, retire

    def _setting_name(self) -> str:
        return self.settings.removeprefix("PROVREG_").lower()

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
                raise self._wall_error()

    def _wall_error(self) -> MediaTooExpensive:
        return MediaTooExpensive(
            f"the media took longer than {self.wall_seconds:g} s to process, every stage of the request together "
            f"(setting {self.settings}_WALL_SECONDS)",
            limit="wall_seconds",
            limit_value=self.wall_seconds,
        )

    def _cpu_error(self) -> MediaTooExpensive:
        return MediaTooExpensive(
            f"the media took more than {self.cpu_seconds:g} s of CPU time to process, every stage of the request "
            f"together (setting {self.settings}_CPU_SECONDS)",
            limit="cpu_seconds",
            limit_value=self.cpu_seconds,
        )

    def _death_error(self, worker: _Worker) -> RegistryError:
        """Why a worker died, from its exit status and its last words, as the error its caller answers."""
        worker.process.join(timeout=5)
        if self._closed:
            return _shutting_down()
        status = worker.process.exitcode
        said = worker.said()
        if status == -signal.SIGXCPU:
            return self._cpu_error()
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


def pool_for(settings: Settings, *, jobs: bool = False) -> MediaPool:
    """The server's media pool, or (`jobs`) the job runner's under the longer `PROVREG_JOB_*` limits: the one place
    either is built. Jobs are a publisher's own queue: no share per client beyond the runner's."""
    if jobs:
        return MediaPool(
            workers=settings.job_workers,
            queue=settings.job_queue,
            cpu_seconds=settings.job_cpu_seconds,
            memory_bytes=settings.job_memory_bytes,
            wall_seconds=settings.job_wall_seconds,
            pixels=settings.job_pixels,
            initializer=prepare_worker,
            recycle_bytes=settings.media_recycle_bytes,
            settings="PROVREG_JOB",
        )
    return MediaPool(
        workers=settings.media_workers,
        queue=settings.media_queue,
        cpu_seconds=settings.media_cpu_seconds,
        memory_bytes=settings.media_memory_bytes,
        wall_seconds=settings.media_wall_seconds,
        pixels=settings.media_pixels,
        client_workers=settings.media_client_workers,
        client_places=settings.media_client_places,
        initializer=prepare_worker,
        recycle_bytes=settings.media_recycle_bytes,
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
