"""Domain errors -> HTTP responses, in one place. Every error body is `{"error": {"code", "message", ...}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry import errors

log = logging.getLogger(__name__)

HTTP_STATUS: dict[type[errors.RegistryError], int] = {
    errors.InvalidRequest: 422,
    errors.UnsupportedMedia: 415,
    errors.MediaTooLarge: 413,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.NotReady: 503,
    errors.LogTampered: 503,
    errors.VerificationFailed: 422,
    errors.ConfigurationError: 500,
}


def status_for(exc: errors.RegistryError) -> int:
    """The status of the nearest mapped ancestor, so a new subclass inherits its family's status."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.RegistryError)
    async def registry_error(_request: Request, exc: errors.RegistryError) -> JSONResponse:
        status = status_for(exc)
        headers = {"Retry-After": "5"} if status == 503 else ({"WWW-Authenticate": "Bearer"} if status == 401 else None)
        return JSONResponse(error_body(exc.code, exc.message, **exc.details), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'] if part != 'body') or 'request'}: {error['msg']}"
            for error in exc.errors()
        )
        return JSONResponse(error_body("invalid_request", problems or "invalid request"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(f"http_{exc.status_code}", str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )
