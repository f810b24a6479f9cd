"""Tasks for the media pool's tests: top-level functions, so a worker process can import them by name.

Kept apart from the test module so a worker imports nothing heavier than this.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from registry.errors import InvalidRequest


def add(a: int, b: int) -> int:
    return a + b


def pid() -> int:
    return os.getpid()


def burn_cpu() -> None:
    while True:
        pass


def allocate(size: int) -> int:
    return len(bytearray(size))


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def refuse(message: str) -> None:
    raise InvalidRequest(message, field="metadata")


def divide_by_zero() -> float:
    return 1 / 0


def die_of(signum: int) -> None:
    """A native crash (SIGSEGV, SIGABRT) or a kill from outside (SIGKILL), as the worker would meet it."""
    os.kill(os.getpid(), signum)


def exit_with(status: int) -> None:
    """A library that ends the process itself."""
    os._exit(status)


def abort_out_of_memory() -> None:
    """C++ code whose allocation failed under the address-space limit: std::terminate prints, then aborts."""
    sys.stderr.write("terminate called after throwing an instance of 'std::bad_alloc'\n  what():  std::bad_alloc\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGABRT)


def native_out_of_memory() -> None:
    """How OpenCV reports a failed allocation: its own exception type, not MemoryError."""
    raise RuntimeError("OpenCV(5.1.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 2700000000 B")


def chatter(text: str) -> int:
    """A task that writes to standard error (a library's warning) and succeeds."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
    return len(text)


def broken_assessor(media: object, fp: object) -> None:
    """An assessor with a bug."""
    raise ZeroDivisionError("a bug in the assessor")


def burning_assessor(media: object, fp: object) -> None:
    """An assessor that runs its worker past the CPU-time limit."""
    burn_cpu()


def grow(size: int) -> int:
    """Leave `size` bytes resident in the worker after the task, as a fragmented heap would."""
    kept = bytearray(size)
    kept[::PAGE] = b"x" * len(range(0, size, PAGE))  # touch every page, cheaply, so it is resident
    _kept.append(kept)
    return os.getpid()


PAGE = 4096


_kept: list[bytearray] = []


def burn_cpu_for(seconds: float) -> float:
    """Use `seconds` of this process's CPU time: one stage of a request's work."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


def wait_for(path: str) -> None:
    """Hold the worker until `path` exists: the test decides when it is free again, no clock involved."""
    while not os.path.exists(path):
        time.sleep(0.01)


def record(path: str, name: str) -> str:
    """Append `name` to `path`: the order of the lines is the order in which the pool served the tasks."""
    with open(path, "a") as log:
        log.write(name + "\n")
    return name
