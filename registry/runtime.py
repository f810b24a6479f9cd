"""The long-lived parts a service call needs besides its session: settings, engine, store, match index."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar, TypeVarTuple

from sqlalchemy import Engine, text
from sqlmodel import Session

from detector import Assessment
from fingerprint.kinds import DecodedMedia, Fingerprint
from registry.assessment import assessor_for
from registry.db import make_engine
from registry.errors import ConfigurationError, LogTampered, NotReady
from registry.index import MatchIndex, open_index
from registry.log.audit import AuditReport, audit_and_mark, full_audit_due_in
from registry.log.fingerprints import commit_uncommitted
from registry.log.keyring import LogKeyring
from registry.migrations import init_db
from registry.pictures import PictureStore
from registry.settings import Settings
from registry.store import ContentStore

log = logging.getLogger(__name__)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")  # a media task's arguments, as its function takes them


class TaskRunner(Protocol):
    def run(self, fn: Callable[[*Ts], T], *args: *Ts, cancelled: threading.Event | None = None) -> T: ...

    def admit(self) -> None:
        """Raise `Overloaded` if a task would be refused right now."""
        ...


@dataclass
class Registry:
    settings: Settings
    engine: Engine
    store: ContentStore
    index: MatchIndex
    keyring: LogKeyring
    pictures: PictureStore
    # The fallback-assessment stage of `check` (registry.assessment, unless PROVREG_DETECTOR=off); it runs in the
    # media pool, so it must pickle. See matching.run_check.
    assessor: Callable[[DecodedMedia, Fingerprint], Assessment | None] | None = None
    # Where CPU-bound media work runs: the server's bounded worker pool, or (None) the calling thread.
    pool: TaskRunner | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _closing: threading.Event = field(default_factory=threading.Event)
    log_problem: str | None = None  # why the last audit failed; writes are refused while this is set

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """Create the data directory and schema if needed; the index is loaded separately (`load`)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url)
        init_db(engine, auto_migrate=settings.auto_migrate)
        return cls(
            settings=settings,
            engine=engine,
            store=ContentStore(settings.data_dir / "originals"),
            index=open_index(settings),
            keyring=LogKeyring.open(settings.data_dir / "log-keys", settings.log_origin),
            pictures=PictureStore.for_settings(settings),
            assessor=assessor_for(settings),
        )

    def load(self, *, audit_log: bool = True) -> None:
        """Load the index and, unless told not to, audit what the log gained since the last passing audit."""
        if audit_log:
            self.audit_log(full=False)
        self.index.load(self.engine)
        self._ready.set()

    def audit_log(self, *, full: bool) -> AuditReport:
        """Audit the log (incrementally unless `full`); a failed audit disables writes until a restart.

        A passing audit that found registrations logged before entries committed to their fingerprint rows (a data
        directory from an earlier release) commits their rows as they are now, once (README: "Audit").
        """
        with self.session() as session:
            report = audit_and_mark(session, self.keyring, full=full, now=datetime.now(UTC))
            if report.ok and report.uncommitted and self.log_problem is None:
                try:
                    report.backfilled = commit_uncommitted(session, self.keyring, report.uncommitted, datetime.now(UTC))
                except Exception:  # their rows stay pinned by the mark; the next passing audit tries again
                    log.exception("committing the fingerprint rows of earlier registrations failed")
                else:
                    log.info("committed the fingerprint rows of %d earlier registrations", report.backfilled)
        if not report.ok:
            self.log_problem = "; ".join(report.problems[:3])
            log.error("the transparency log failed its audit; writes are refused: %s", self.log_problem)
        return report

    def _full_audits(self) -> None:
        """Re-audit the whole log every PROVREG_FULL_AUDIT_INTERVAL_HOURS: what start-up audits cannot see."""
        interval = timedelta(hours=self.settings.full_audit_interval_hours)
        with self.session() as session:
            delay = full_audit_due_in(session, self.keyring, interval, datetime.now(UTC))
        while not self._closing.wait(delay):
            try:
                self.audit_log(full=True)
            except Exception as exc:  # an audit that can be made to crash must not be a way around it
                log.exception("the scheduled full audit failed to run")
                self.log_problem = f"the scheduled full audit failed to run: {exc!r}"
            delay = interval.total_seconds()

    def load_in_background(self) -> threading.Thread:
        """Serve liveness at once while a large index loads; readiness and queries wait for it."""

        def run() -> None:
            try:
                self.load()
                if self.settings.full_audit_interval_hours > 0:
                    self._full_audits()
            except Exception:
                log.exception("loading the index or auditing the log failed")

        thread = threading.Thread(target=run, name="provreg-index-load", daemon=True)
        thread.start()
        return thread

    def wait_loaded(self, loader: threading.Thread) -> None:
        """Block until `loader` (from `load_in_background`) has loaded the index; raise if it failed instead."""
        while not self._ready.wait(0.2):
            if not loader.is_alive():
                raise ConfigurationError("loading the index failed; the log above says why")

    def admit_media(self) -> None:
        """Refuse at once (503 `overloaded`) when the worker pool is full, before an upload is even read."""
        if self.pool is not None:
            self.pool.admit()

    def run_media(self, fn: Callable[[*Ts], T], *args: *Ts, cancelled: threading.Event | None = None) -> T:
        """Run a `registry.work` task in the worker pool when there is one, else here."""
        if self.pool is None:
            return fn(*args)
        return self.pool.run(fn, *args, cancelled=cancelled)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def require_ready(self) -> None:
        if not self.ready:
            raise NotReady("the registry is still loading its index; retry in a few seconds")

    def require_writable(self) -> None:
        if self.log_problem is not None:
            raise LogTampered(
                f"the stored log failed its audit, so this registry refuses writes: {self.log_problem}. "
                "Run 'provreg audit' for the full report."
            )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("database check failed")
            return False
        return True

    def close(self) -> None:
        """Save the index so the next start skips the rebuild; the database already holds everything."""
        self._closing.set()
        if self.ready:
            self.index.save()
        self.engine.dispose()
