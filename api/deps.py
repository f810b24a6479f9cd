"""Request dependencies, declared once as `Annotated` aliases."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from starlette.types import Scope

from api.ratelimit import bearer_token
from registry import publishers
from registry.errors import RegistryError, Unauthenticated
from registry.jobs import JobRunner
from registry.models import Publisher
from registry.runtime import Registry

_bearer = HTTPBearer(auto_error=False, description="a publisher's API key, or the admin token")


async def get_registry(request: Request) -> Registry:
    """`async` so that probes depending on it never wait for a worker thread (sync dependencies run in one)."""
    return request.app.state.registry


RegistryDep = Annotated[Registry, Depends(get_registry)]


def get_session(registry: RegistryDep) -> Iterator[Session]:
    with registry.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def current_publisher(session: SessionDep, credentials: BearerDep) -> Publisher:
    if credentials is None:
        raise Unauthenticated("send the publisher's API key as 'Authorization: Bearer <key>'")
    return publishers.authenticate(session=session, api_key=credentials.credentials)


CurrentPublisher = Annotated[Publisher, Depends(current_publisher)]


def optional_publisher(session: SessionDep, credentials: BearerDep) -> Publisher | None:
    """The publisher a key names when one is sent (a wrong key is still 401); None for anonymous callers."""
    return None if credentials is None else current_publisher(session, credentials)


OptionalPublisher = Annotated[Publisher | None, Depends(optional_publisher)]


async def get_jobs(request: Request) -> JobRunner:
    return request.app.state.jobs


JobsDep = Annotated[JobRunner, Depends(get_jobs)]


def require_admin(request: Request, credentials: BearerDep) -> None:
    expected: str = request.app.state.admin_token
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthenticated("this endpoint needs the admin token as 'Authorization: Bearer <token>'")


AdminDep = Annotated[None, Depends(require_admin)]


async def holds_valid_credential(scope: Scope) -> bool:
    """Whether the request carries a publisher's API key, the admin token or a signed-in page session that is valid
    now; the body caps ask it (once, for a body over its anonymous cap), long before any route's dependencies run."""
    request = Request(scope)
    state = request.app.state
    token = bearer_token(scope)
    if token is None:
        signed_in = getattr(state, "signed_in", None)  # the pages' session, when they are installed
        return signed_in is not None and await anyio.to_thread.run_sync(signed_in, request) is not None
    if hmac.compare_digest(token.encode(), state.admin_token.encode()):
        return True

    def known_key() -> bool:
        try:
            with state.registry.session() as session:
                publishers.authenticate(session=session, api_key=token)
        except RegistryError:
            return False
        return True

    return await anyio.to_thread.run_sync(known_key)
