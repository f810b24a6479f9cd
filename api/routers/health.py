"""Liveness and readiness probes for orchestrators.

Both are `async`, so they answer from the event loop even while every worker thread is busy with uploads; the
one blocking call, readiness's database check, runs on its own two threads with a deadline of its own.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RegistryDep
from api.metrics import index_sizes

router = APIRouter(tags=["health"])

DATABASE_PROBE_SECONDS = 2.0
_database_probes = anyio.CapacityLimiter(2)  # a hung database holds these two threads, never the request pool


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it may still be loading its index)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "index still loading or database unreachable"}})
async def readyz(registry: RegistryDep) -> JSONResponse:
    """Ready to answer queries: the index is loaded and the database answers within two seconds."""
    database = False
    with anyio.move_on_after(DATABASE_PROBE_SECONDS):
        database = await anyio.to_thread.run_sync(
            registry.database_ok, limiter=_database_probes, abandon_on_cancel=True
        )
    ready = registry.ready and database
    body = {
        "status": "ready" if ready else "not_ready",
        "index": "loaded" if registry.ready else "loading",
        "database": "ok" if database else "unreachable",
        "log": "ok" if registry.log_problem is None else f"failed audit, writes refused: {registry.log_problem}",
        "indexed": index_sizes(registry),
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers=None if ready else {"Retry-After": "5"})
