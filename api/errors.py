"""Every error that leaves the app, in one place: domain errors and the framework's own (routing, body parsing,
validation) become `{"error": {"code", "message", "request_id", ...}}` with a documented status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from api import requestid
from registry import errors

HTTP_STATUS: dict[type[errors.RegistryError], int] = {
    errors.InvalidRequest: 422,
    errors.UnsupportedMedia: 415,
    errors.MediaTooLarge: 413,
    errors.MediaTooExpensive: 422,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.NotReady: 503,
    errors.Overloaded: 503,
    errors.ClientOverloaded: 429,
    errors.ClientGone: 499,  # nginx's "client closed request": only ever logged, nobody is there to read it
    errors.LogTampered: 503,
    errors.VerificationFailed: 422,
    errors.ConfigurationError: 500,
}


class FormLimits(TypedDict, total=False):
    """FastAPI's `form_limits` (its own TypedDict is private): what a multipart body may hold."""

    max_files: int
    max_fields: int
    max_part_size: int


# Upload endpoints take one file and a few short fields; anything beyond is refused while parsing (413).
FORM_LIMITS: FormLimits = {"max_files": 1, "max_fields": 8, "max_part_size": 1024 * 1024}


def status_for(exc: errors.RegistryError) -> int:
    """The status of the nearest mapped ancestor, so a new subclass inherits its family's status."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    request_id = requestid.current.get()
    extra = {"request_id": request_id} if request_id is not None else {}
    return {"error": {"code": code, "message": message, **details, **extra}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **details: Any
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **details), status_code=status, headers=headers)


def _multipart_error(exc: MultiPartException) -> JSONResponse:
    """Starlette reports its multipart limits as a bare 400 with a message; give each a status and a code."""
    message = exc.message
    if message.startswith(("Too many files", "Too many fields")):
        limits = f"at most {FORM_LIMITS['max_files']} file and {FORM_LIMITS['max_fields']} fields"
        return error_response(413, "too_many_parts", f"{message} This API takes {limits} per request.")
    if "exceeded maximum size" in message:
        return error_response(413, "part_too_large", f"{message} Send the media as the file part.")
    return error_response(422, "malformed_multipart", f"the multipart body cannot be parsed: {message}")


def _unexpected_content_type(request: Request) -> JSONResponse | None:
    """A 415 when the body was sent as something other than what the endpoint reads (JSON or multipart)."""
    route = request.scope.get("route")
    body_field = route.body_field if isinstance(route, APIRoute) else None
    if body_field is None:
        return None
    expected: str = getattr(body_field.field_info, "media_type", "application/json")
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if not sent and not has_body:
        return None
    acceptable = sent == expected or (expected == "application/json" and sent.endswith("+json"))
    if acceptable:
        return None
    return error_response(
        415, "unsupported_content_type", f"this endpoint reads {expected}, not {sent or 'a body without a type'}"
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.RegistryError)
    async def registry_error(_request: Request, exc: errors.RegistryError) -> JSONResponse:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status in (429, 503):
            headers = {"Retry-After": "5"}
        return error_response(status, exc.code, exc.message, headers, **exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        wrong_type = _unexpected_content_type(request)
        if wrong_type is not None:
            return wrong_type
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'] if part != 'body') or 'request'}: {error['msg']}"
            for error in exc.errors()
        )
        return error_response(422, "invalid_request", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__context__, MultiPartException):
            return _multipart_error(exc.__context__)
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (bad encoding, broken form)
            return error_response(422, "malformed_body", f"the request body cannot be parsed: {exc.detail}")
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no endpoint at {request.url.path}"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {allowed}"
        # Unknown routes and methods keep their established codes, `http_404` and `http_405`.
        return error_response(exc.status_code, f"http_{exc.status_code}", message, exc.headers)
