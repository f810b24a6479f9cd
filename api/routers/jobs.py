"""Jobs: long work (registering an hour of footage) answered `202` and polled here until done."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import OptionalPublisher, SessionDep
from registry import jobs, views

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=views.JobView)
def get_job(job_id: str, caller: OptionalPublisher, session: SessionDep) -> views.JobView:
    """State and progress; when `done`, `result` is the body the synchronous call answers. A registration's job
    answers only its publisher's API key (anyone else gets 404, as for an id that does not exist)."""
    return jobs.get_job(session=session, job_id=job_id, caller=caller)
