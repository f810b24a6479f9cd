"""The transparency log: checkpoints, proofs and entries anyone can fetch and verify."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.deps import RegistryDep, SessionDep
from api.openapi import error_responses
from registry import transparency, views
from registry.log.store import MAX_ENTRIES_PAGE

router = APIRouter(prefix="/v1/log", tags=["transparency log"])

NonNegative = Annotated[int, Query(ge=0)]


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(session: SessionDep) -> str:
    """The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)."""
    return transparency.checkpoint(session=session)


@router.get("/proof/inclusion", response_model=views.InclusionProofView, responses=error_responses(404))
def inclusion_proof(session: SessionDep, index: NonNegative, size: NonNegative) -> views.InclusionProofView:
    return transparency.inclusion_proof(session=session, log_index=index, tree_size=size)


@router.get("/proof/consistency", response_model=views.ConsistencyProofView, responses=error_responses(404))
def consistency_proof(session: SessionDep, first: NonNegative, second: NonNegative) -> views.ConsistencyProofView:
    return transparency.consistency_proof(session=session, first=first, second=second)


@router.get("/entries", response_model=views.LogEntriesView)
def entries(
    session: SessionDep,
    start: NonNegative,
    end: Annotated[int, Query(gt=0, description=f"exclusive; at most {MAX_ENTRIES_PAGE} entries per page")],
) -> views.LogEntriesView:
    return transparency.entries(session=session, start=start, end=end)


@router.get("/key", response_model=views.LogKeysView)
def key(registry: RegistryDep) -> views.LogKeysView:
    """The registry's checkpoint verifier keys in signed-note vkey form (active ones sign new checkpoints)."""
    return transparency.log_keys(keyring=registry.keyring)
