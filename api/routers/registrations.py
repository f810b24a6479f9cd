"""Registrations: a verified publisher's signed claim that it holds an authentic original."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile

from api.deps import CurrentPublisher, RegistryDep, SessionDep
from registry import service, views

router = APIRouter(prefix="/v1/registrations", tags=["registrations"])


@router.post("", status_code=201, response_model=views.RegistrationView)
def create_registration(
    file: Annotated[UploadFile, File(description="the original's exact bytes")],
    statement: Annotated[str, Form(description="the registration statement, JSON")],
    signature: Annotated[str, Form(description="base64 Ed25519 signature over the domain prefix + RFC 8785 JSON")],
    publisher: CurrentPublisher,
    session: SessionDep,
    registry: RegistryDep,
    response: Response,
) -> views.RegistrationView:
    """Register an original (publisher API key). The statement is signed client side; the registry never sees
    the private key."""
    registration = service.register(
        session=session,
        registry=registry,
        statement=statement,
        signature=signature,
        content=file.file.read(),
        caller=publisher,
    )
    response.headers["Location"] = f"/v1/registrations/{registration.id}"
    return registration


@router.get("/{registration_id}", response_model=views.RegistrationView)
def get_registration(registration_id: str, session: SessionDep) -> views.RegistrationView:
    return service.get_registration(session=session, registration_id=registration_id)
