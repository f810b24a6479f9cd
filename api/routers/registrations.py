"""Registrations: a verified publisher's signed claim that it holds an authentic original."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from api.cancel import read_media, run_cancellable
from api.deps import CurrentPublisher, JobsDep, RegistryDep, SessionDep
from api.routers.publishers import SignedRequest
from registry import service, views

router = APIRouter(prefix="/v1/registrations", tags=["registrations"])


@router.post(
    "",
    status_code=201,
    response_model=views.RegistrationReceiptView,
    responses={202: {"model": views.JobAcceptedView, "description": "runs as a job: poll `url` (`Location`)"}},
)
async def create_registration(
    request: Request,
    file: Annotated[UploadFile, File(description="the original's exact bytes")],
    statement: Annotated[str, Form(description="the registration statement, JSON")],
    signature: Annotated[str, Form(description="base64 Ed25519 signature over the domain prefix + RFC 8785 JSON")],
    publisher: CurrentPublisher,
    session: SessionDep,
    registry: RegistryDep,
    jobs: JobsDep,
    response: Response,
    run_as_job: Annotated[
        bool,
        Query(
            alias="async",
            description="run as a job (`202`); a video longer than PROVREG_SYNC_VIDEO_SECONDS always does",
        ),
    ] = False,
) -> views.RegistrationReceiptView | JSONResponse:
    """Register an original (publisher API key). The statement is signed client side; the registry never sees
    the private key. The response carries a receipt that verifies offline; long work answers `202` with a job
    whose result, once done, is that same body."""
    content = await read_media(registry, file)
    arguments: dict[str, Any] = dict(
        session=session, registry=registry, statement=statement, signature=signature, content=content, caller=publisher
    )
    if run_as_job or await run_cancellable(request, service.runs_long, registry=registry, content=content):
        job = await anyio.to_thread.run_sync(lambda: service.register_in_background(jobs=jobs, **arguments))
        url = f"/v1/jobs/{job.id}"
        accepted = views.JobAcceptedView(job=job, url=url)
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers={"Location": url})
    registration = await run_cancellable(request, service.register, **arguments)
    response.headers["Location"] = f"/v1/registrations/{registration.id}"
    return registration


@router.get("/{registration_id}", response_model=views.RegistrationView)
def get_registration(registration_id: str, session: SessionDep) -> views.RegistrationView:
    return service.get_registration(session=session, registration_id=registration_id)


@router.get("/{registration_id}/receipt")
def get_receipt(registration_id: str, session: SessionDep) -> dict[str, Any]:
    """A fresh receipt (against the latest checkpoint): `{"log_index", "entry", "proof"}`."""
    return service.registration_receipt(session=session, registration_id=registration_id)


@router.post("/{registration_id}/revoke", response_model=views.RevocationView)
def revoke_registration(
    registration_id: str, body: SignedRequest, caller: CurrentPublisher, session: SessionDep, registry: RegistryDep
) -> views.RevocationView:
    """The publisher withdraws its registration (signed content_revocation statement)."""
    return service.revoke_registration(
        session=session,
        registry=registry,
        statement=body.statement,
        signature=body.signature,
        caller=caller,
        registration_id=registration_id,
    )
