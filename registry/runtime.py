"""The long-lived parts a service call needs besides its session: settings, engine, store, match index."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from registry.db import init_db, make_engine
from registry.errors import LogTampered, NotReady
from registry.index import MatchIndex, open_index
from registry.log.audit import audit
from registry.log.keyring import LogKeyring
from registry.pictures import PictureStore
from registry.settings import Settings
from registry.store import ContentStore

log = logging.getLogger(__name__)


@dataclass
class Registry:
    settings: Settings
    engine: Engine
    store: ContentStore
    index: MatchIndex
    keyring: LogKeyring
    pictures: PictureStore
    # The fallback-assessment stage of `check` (the classifier, when one is configured); see matching.run_check.
    assessor: Callable[[Any, Any], Any | None] | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    log_problem: str | None = None  # why the last audit failed; writes are refused while this is set

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """Create the data directory and schema if needed; the index is loaded separately (`load`)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.sqlalchemy_url)
        init_db(engine)
        return cls(
            settings=settings,
            engine=engine,
            store=ContentStore(settings.data_dir / "originals"),
            index=open_index(settings.data_dir / "index"),
            keyring=LogKeyring.open(settings.data_dir / "log-keys", settings.log_origin),
            pictures=PictureStore(settings.data_dir / "pictures", settings.picture_ttl_seconds),
        )

    def load(self, *, audit_log: bool = True) -> None:
        """Load the index and, unless told not to, audit the log; a failed audit disables writes."""
        if audit_log:
            with self.session() as session:
                report = audit(session, self.keyring)
            if not report.ok:
                self.log_problem = "; ".join(report.problems[:3])
                log.error("the transparency log failed its audit; writes are refused: %s", self.log_problem)
        self.index.load(self.engine)
        self._ready.set()

    def load_in_background(self) -> threading.Thread:
        """Serve liveness at once while a large index loads; readiness and queries wait for it."""

        def run() -> None:
            try:
                self.load()
            except Exception:
                log.exception("loading the index failed; the registry stays not ready")

        thread = threading.Thread(target=run, name="provreg-index-load", daemon=True)
        thread.start()
        return thread

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
        if self.ready:
            self.index.save()
        self.engine.dispose()
