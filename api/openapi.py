"""The error responses in the OpenAPI schema, derived from each operation's shape, so the schema lists every status
an operation can answer with the body it really has (`{"error": {...}}`, never FastAPI's `{"detail": [...]}`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from api.ratelimit import EXEMPT_PATHS


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # some errors add fields (the limit that was hit, a conflicting id)

    code: str = Field(description="stable machine-readable code, e.g. `not_found`")
    message: str
    request_id: str | None = Field(default=None, description="the same as the `X-Request-ID` response header")


class ErrorView(BaseModel):
    error: ErrorDetail


DESCRIPTIONS = {
    401: "no credential, or not the one this operation needs",
    403: "the API key belongs to another publisher",
    404: "no such resource",
    408: "a request with media kept the server waiting for its body too long (`body_timeout`)",
    409: "conflicts with what is registered (reused nonce, duplicate)",
    413: "body, file or multipart part over its limit",
    415: "unsupported media, or a body of the wrong content type",
    422: "invalid parameters, body, statement or signature",
    429: "rate limited, or this caller's share of media requests in flight is taken; retry after `Retry-After` seconds",
    503: "not ready, or writes refused after a failed log audit; retry after `Retry-After` seconds",
}
_FRAMEWORK_SCHEMAS = ("HTTPValidationError", "ValidationError")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the domain errors an operation's shape does not reveal (a 404 for an index out of range)."""
    return {status: {"model": ErrorView, "description": DESCRIPTIONS[status]} for status in statuses}


def _error_statuses(path: str, operation: dict[str, Any], rate_limited: bool) -> set[int]:
    """What the middleware, the request validation, the dependencies and the domain errors can answer."""
    parameters = operation.get("parameters", [])
    in_path = any(parameter["in"] == "path" for parameter in parameters)
    has_body = "requestBody" in operation
    statuses: set[int] = set()
    if parameters or has_body:
        statuses.add(422)
    if has_body:
        statuses |= {413, 415}
        if "multipart/form-data" in operation["requestBody"].get("content", {}):
            statuses |= {408, 429}  # media admission: the body's deadline, the caller's share (api.admission)
    if in_path:
        statuses.add(404)
    if operation.get("security"):
        statuses.add(401)
        statuses |= ({403} if in_path else set()) | ({409} if has_body else set())
    if rate_limited and path not in EXEMPT_PATHS:
        statuses.add(429)
    if path.startswith("/v1/"):
        statuses.add(503)
    return statuses


def document_errors(app: FastAPI) -> None:
    """Wrap `app.openapi` so the generated schema carries the error responses (an explicit `responses=` wins)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error_schema = ErrorView.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error_schema.pop("$defs", {}))
        components["ErrorView"] = error_schema
        reference = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorView"}}}}
        rate_limited = app.state.rate_limiter is not None
        for path, item in schema["paths"].items():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                for status in sorted(_error_statuses(path, operation, rate_limited)):
                    declared = responses.get(str(status))
                    if declared is None or "HTTPValidationError" in str(declared):
                        responses[str(status)] = {"description": DESCRIPTIONS[status], **reference}
        for name in _FRAMEWORK_SCHEMAS:
            components.pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
