"""Liveness and readiness probes for orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RegistryDep
from api.metrics import index_sizes

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up (it may still be loading its index)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "index still loading or database unreachable"}})
def readyz(registry: RegistryDep) -> JSONResponse:
    """Ready to answer queries: the index is loaded and the database answers."""
    database = registry.database_ok()
    ready = registry.ready and database
    body = {
        "status": "ready" if ready else "not_ready",
        "index": "loaded" if registry.ready else "loading",
        "database": "ok" if database else "unreachable",
        "log": "ok" if registry.log_problem is None else f"failed audit, writes refused: {registry.log_problem}",
        "indexed": index_sizes(registry),
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers=None if ready else {"Retry-After": "5"})
