"""Questions anyone may ask: is this media a copy of a registered original, and which originals have this hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile

from api.deps import RegistryDep, SessionDep
from registry import service, views

router = APIRouter(prefix="/v1", tags=["matching"])


@router.post("/check", response_model=views.CheckView)
def check(
    file: Annotated[UploadFile, File(description="the media to check")], session: SessionDep, registry: RegistryDep
) -> views.CheckView:
    """Verdict `copy` (with the matching originals) or `unregistered`."""
    return service.check(session=session, registry=registry, content=file.file.read())


@router.get("/lookup", response_model=views.LookupView)
def lookup(
    session: SessionDep,
    registry: RegistryDep,
    alg: Annotated[str, Query(description=f"one of {', '.join(service.LOOKUP_ALGORITHMS)}")],
    hash: Annotated[str, Query(description="hex value")],
    max_distance: Annotated[int | None, Query(description="default: the algorithm's match threshold")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LOOKUP_RESULTS)] = 100,
) -> views.LookupView:
    """Registrations whose hash is within `max_distance` of `hash` (exact for sha256)."""
    return service.lookup(
        session=session, registry=registry, alg=alg, value=hash, max_distance=max_distance, limit=limit
    )
