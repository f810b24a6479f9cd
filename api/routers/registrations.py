"""Registrations: a verified publisher's signed claim that it holds an authentic original."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from api.cancel import read_media, run_cancellable
from api.deps import CurrentPublisher, RegistryDep, SessionDep
from api.routers.publishers import SignedRequest
from registry import service, views

router = APIRouter(prefix="/v1/registrations", tags=["registrations"])


@router.post("", status_code=201, response_model=views.RegistrationReceiptView)
async def create_registration(
    request: Request,
    file: Annotated[UploadFile, File(description="the original's exact bytes")],
    statement: Annotated[str, Form(description="the registration statement, JSON")],
    signature: Annotated[str, Form(description="base64 Ed25519 signature over the domain prefix + RFC 8785 JSON")],
    publisher: CurrentPublisher,
    session: SessionDep,
    registry: RegistryDep,
    response: Response,
) -> views.RegistrationReceiptView:
    """Register an original (publisher API key). The statement is signed client side; the registry never sees
    the private key. The response carries a receipt that verifies offline."""
    registration = await run_cancellable(
        request,
        service.register,
        session=session,
        registry=registry,
        statement=statement,
        signature=signature,
        content=await read_media(registry, file),
        caller=publisher,
    )
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
