"""Jobs: media work too long for one HTTP request (registering an hour of footage), run in the background.

The API process holds one `JobRunner` beside its media pool. A submitted job is a row in the `job` table (so any
API process answers its poll) and a task on a few threads, whose media work runs in the runner's own worker pool
under the longer `PROVREG_JOB_*` limits, so a long job never takes a worker from the requests answered inline:

    jobs = JobRunner.start(registry)
    view = jobs.submit(kind="registration", owner=publisher.id, task=lambda pool, cancelled, progress: ...)
    view = get_job(session=session, job_id=view.id, caller=publisher)   # state, progress, result or error
    jobs.close()

Nothing of a job outlives its process: while it is queued or running its process renews `heartbeat_at`, and a job
whose heartbeat went stale (a restart, a crash) is marked failed, "interrupted by a restart", never left pending.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, TypeAdapter
from sqlmodel import Session, col, select, update

from registry import views
from registry.clock import now_utc
from registry.errors import NotFound, NotReady, Overloaded, RegistryError
from registry.models import Job, Publisher
from registry.pool import MediaPool, pool_for, request_budget
from registry.runtime import Registry, TaskRunner

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
STALE = timedelta(seconds=6 * HEARTBEAT_SECONDS)  # a heartbeat older than this: its process is gone
PENDING = ("queued", "running")
INTERRUPTED = {"code": "interrupted", "message": "the job was interrupted by a restart; submit it again"}
STARTED, DONE = 0.05, 1.0  # progress at the start and the end; tasks report the stages between


class JobTask(Protocol):
    def __call__(self, pool: TaskRunner, cancelled: threading.Event, progress: Callable[[float], None]) -> BaseModel:
        """The work: media through `pool`, stop waiting once `cancelled` is set, report stages to `progress`."""
        ...


class JobRunner:
    """`workers` jobs at a time and `queue` more waiting; beyond that, `Overloaded` (503) at once."""

    def __init__(self, registry: Registry, *, workers: int, queue: int) -> None:
        self.registry = registry
        self.workers, self.queue = workers, queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="provreg-job")
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._pool: MediaPool | None = None
        self._closing = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="provreg-job-heartbeat", daemon=True)

    @classmethod
    def start(cls, registry: Registry) -> JobRunner:
        """A runner sized by the `PROVREG_JOB_*` settings; jobs a restart interrupted are marked failed now."""
        runner = cls(registry, workers=registry.settings.job_workers, queue=registry.settings.job_queue)
        with registry.session() as session:
            failed = fail_interrupted(session, now_utc())
        if failed:
            log.warning("%d jobs were interrupted by a restart and are marked failed", failed)
        runner._heartbeat.start()
        return runner

    def _media_pool(self) -> MediaPool:
        """The jobs' own worker processes, started with the first job: most servers never run one."""
        with self._lock:
            if self._closing.is_set():
                raise NotReady("the server is shutting down; submit the job again once it is back")
            if self._pool is None:
                self._pool = pool_for(self.registry.settings, jobs=True)
            return self._pool

    def submit(self, *, kind: str, owner: str | None, task: JobTask) -> views.JobView:
        """Record a queued job and start it when a thread is free; its view is what `202` answers."""
        now = now_utc()
        job = Job(
            id=f"job_{secrets.token_urlsafe(24)}",  # unguessable: for anonymous work the id is the only credential
            kind=kind,
            state="queued",
            owner_publisher_id=owner,
            created_at=now,
            heartbeat_at=now,
        )
        with self._lock:
            if len(self._pending) >= self.workers + self.queue:
                raise Overloaded(
                    f"{len(self._pending)} jobs are running or waiting; retry later "
                    "(settings PROVREG_JOB_WORKERS, PROVREG_JOB_QUEUE)"
                )
            with self.registry.session() as session:
                session.add(job)
                session.commit()
            self._pending.add(job.id)
        self._executor.submit(self._run, job.id, task)
        return job_view(job)

    def close(self) -> None:
        """Stop: running jobs stop waiting for their media work, queued ones never start; both end failed."""
        self._closing.set()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            pending, self._pending = list(self._pending), set()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        if pending:
            with self.registry.session() as session:
                _fail(session, pending, INTERRUPTED, now_utc())

    def _run(self, job_id: str, task: JobTask) -> None:
        self._update(job_id, state="running", progress=STARTED)
        try:
            with request_budget():  # the job's stages share the PROVREG_JOB_* limits, as a request's share its own
                result = task(self._media_pool(), self._closing, lambda done: self._update(job_id, progress=done))
        except RegistryError as exc:
            self._finish(job_id, error={"code": exc.code, "message": exc.message, **_json_safe(exc.details)})
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self._finish(job_id, error={"code": "internal", "message": f"the job failed: {type(exc).__name__}"})
        else:
            self._finish(job_id, result=result.model_dump(mode="json"))

    def _finish(
        self, job_id: str, *, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            self._pending.discard(job_id)
        self._update(
            job_id,
            state="failed" if error is not None else "done",
            progress=DONE if error is None else None,
            finished_at=now_utc(),
            result=None if result is None else json.dumps(result),
            error=None if error is None else json.dumps(error),
        )

    def _update(
        self,
        job_id: str,
        *,
        state: views.JobState | None = None,
        progress: float | None = None,
        finished_at: datetime | None = None,
        result: str | None = None,
        error: str | None = None,
    ) -> None:
        """Set the columns given (not None), leaving the others as they are."""
        given = {"state": state, "progress": progress, "finished_at": finished_at, "result": result, "error": error}
        values = {name: value for name, value in given.items() if value is not None}
        with self.registry.session() as session:
            session.exec(update(Job).where(col(Job.id) == job_id).values(**values))
            session.commit()

    def _beat(self) -> None:
        """Renew the heartbeat of every job this process holds, so no other process takes them for interrupted."""
        while not self._closing.wait(HEARTBEAT_SECONDS):
            with self._lock:
                pending = list(self._pending)
            if not pending:
                continue
            try:
                with self.registry.session() as session:
                    statement = update(Job).where(col(Job.id).in_(pending)).values(heartbeat_at=now_utc())
                    session.exec(statement)
                    session.commit()
            except Exception:  # a busy database delays one beat; the next one catches up
                log.exception("renewing the jobs' heartbeat failed")


def get_job(*, session: Session, job_id: str, caller: Publisher | None, now: datetime | None = None) -> views.JobView:
    """A job as its submitter sees it; someone else's job is `NotFound`, exactly like one that does not exist."""
    job = session.get(Job, job_id)
    if job is None or (job.owner_publisher_id is not None and (caller is None or caller.id != job.owner_publisher_id)):
        raise NotFound(f"no job {job_id!r} (a registration's job is visible to its publisher's API key only)")
    now = now or now_utc()
    if job.state in PENDING and job.heartbeat_at < now - STALE:
        _fail(session, [job.id], INTERRUPTED, now)
        session.refresh(job)
    return job_view(job)


def fail_interrupted(session: Session, now: datetime) -> int:
    """Mark failed every pending job whose process stopped renewing its heartbeat; how many there were."""
    stale = session.exec(select(Job.id).where(col(Job.state).in_(PENDING), col(Job.heartbeat_at) < now - STALE)).all()
    _fail(session, list(stale), INTERRUPTED, now)
    return len(stale)


def _fail(session: Session, job_ids: list[str], error: dict[str, Any], now: datetime) -> None:
    """Only pending jobs change: one that finished meanwhile keeps its result."""
    if not job_ids:
        return
    statement = (
        update(Job)
        .where(col(Job.id).in_(job_ids), col(Job.state).in_(PENDING))
        .values(state="failed", finished_at=now, error=json.dumps(error))
    )
    session.exec(statement)
    session.commit()


# The stored kind and state as the view's literals: a value no job is given fails here, as it would in the view.
_JOB_KIND: TypeAdapter[views.JobKind] = TypeAdapter(views.JobKind)
_JOB_STATE: TypeAdapter[views.JobState] = TypeAdapter(views.JobState)


def job_view(job: Job) -> views.JobView:
    return views.JobView(
        id=job.id,
        kind=_JOB_KIND.validate_python(job.kind),
        state=_JOB_STATE.validate_python(job.state),
        progress=job.progress,
        created_at=job.created_at,
        finished_at=job.finished_at,
        result=None if job.result is None else json.loads(job.result),
        error=None if job.error is None else json.loads(job.error),
    )


def _json_safe(details: dict[str, Any]) -> dict[str, Any]:
    """An error's details as the API's error bodies carry them (JSON values only)."""
    return json.loads(json.dumps(details, default=str))
