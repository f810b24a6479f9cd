"""The publisher's side: build a statement, sign it with the publisher's Ed25519 key, send it to a registry.

Every publisher-signed action (register, revoke a registration, rotate the key, revoke a key) goes through
`PublisherClient`, which builds the statement (with a fresh `created_at` and `nonce`), signs it as
`registry.statements` verifies it (domain prefix + RFC 8785 JSON) and hands it to a transport: `LocalTransport`
calls the registry's service functions in this process (the CLI, tests, benchmarks); `HttpTransport` posts it to
a registry's HTTP API with the publisher's API key. Both return the same typed views and raise the same
`registry.errors` classes, so callers do not care which one they hold.

    with HttpTransport.connect("http://127.0.0.1:8000", api_key) as transport:
        client = PublisherClient(transport, publisher_id="pub_...", private_key=load_private_key(Path("planet.pem")))
        receipt = client.register(Path("photo.jpg").read_bytes(), {"title": "Press conference"})
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, RootModel, ValidationError

from fingerprint.kinds import sniff
from registry import errors, views
from registry.keys import key_id, raw_public_key
from registry.statements import DOMAINS, format_timestamp, new_nonce, sign

if TYPE_CHECKING:
    from sqlmodel import Session

    from registry.runtime import Registry

ViewT = TypeVar("ViewT", bound=BaseModel)
Progress = Callable[[float], None]


# --- statements -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedStatement:
    """A statement, the JSON text sent for it, and the signature over its canonical form."""

    statement: dict[str, Any]
    text: str
    signature: str


def new_statement(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` with a fresh `created_at` and `nonce`, as every signed request needs (fields may pin either)."""
    return {"created_at": format_timestamp(datetime.now(UTC)), "nonce": new_nonce(), **fields}


def sign_statement(private_key: Ed25519PrivateKey, statement: dict[str, Any]) -> SignedStatement:
    """Sign exactly `statement` under the domain of its `type`."""
    return SignedStatement(statement, json.dumps(statement), sign(private_key, DOMAINS[statement["type"]], statement))


def content_claim(content: bytes, media_type: str | None = None) -> dict[str, Any]:
    """What a registration statement says about the bytes: digest, media type (sniffed unless given) and size."""
    media_type = media_type or sniff(content)
    if media_type is None:
        raise errors.UnsupportedMedia(
            "not a supported image (JPEG, PNG, WebP, AVIF or HEIC) or video (MP4, MOV, WebM or Matroska)"
        )
    return {"sha256": hashlib.sha256(content).hexdigest(), "media_type": media_type, "size": len(content)}


def registration_statement(
    *,
    publisher_id: str,
    key_id: str,
    content: bytes,
    metadata: Mapping[str, Any] | None = None,
    media_type: str | None = None,
) -> dict[str, Any]:
    """A fresh registration statement for `content`, before signing (tests alter it to probe the checks)."""
    return new_statement(
        {
            "type": "registration",
            "publisher_id": publisher_id,
            "key_id": key_id,
            "content": content_claim(content, media_type),
            "metadata": dict(metadata or {}),
        }
    )


# --- transports -------------------------------------------------------------------------------------------------


class Transport(Protocol):
    """Delivers signed statements to a registry and returns its answer as a view."""

    def register(
        self, request: SignedStatement, content: bytes, progress: Progress | None = None
    ) -> views.RegistrationReceiptView:
        """`progress` hears the fraction done (0-1) as the registration moves through its stages."""
        ...

    def revoke_registration(self, request: SignedStatement) -> views.RevocationView: ...

    def rotate_key(self, request: SignedStatement, new_signature: str) -> views.PublisherView: ...

    def revoke_key(self, request: SignedStatement) -> views.KeyRevocationView: ...


class LocalTransport:
    """Calls the registry's service functions in this process; access to the data directory is the authority.

    With `session`, every call uses it; without, each call opens its own (so one transport serves many threads).
    """

    def __init__(self, registry: Registry, session: Session | None = None) -> None:
        self.registry = registry
        self.session = session

    @contextmanager
    def _session(self) -> Iterator[Session]:
        if self.session is not None:
            yield self.session
        else:
            with self.registry.session() as session:
                yield session

    def _call(self, operation: Callable[..., ViewT], **arguments: Any) -> ViewT:
        with self._session() as session:
            return operation(session=session, registry=self.registry, **arguments)

    # The service modules are imported on use: a client that only speaks HTTP need not load the matching stack.

    def register(
        self, request: SignedStatement, content: bytes, progress: Progress | None = None
    ) -> views.RegistrationReceiptView:
        from registry import service

        return self._call(
            service.register, statement=request.text, signature=request.signature, content=content, progress=progress
        )

    def revoke_registration(self, request: SignedStatement) -> views.RevocationView:
        from registry import service

        return self._call(service.revoke_registration, statement=request.text, signature=request.signature)

    def rotate_key(self, request: SignedStatement, new_signature: str) -> views.PublisherView:
        from registry import publishers

        return self._call(
            publishers.rotate_key, statement=request.text, old_signature=request.signature, new_signature=new_signature
        )

    def revoke_key(self, request: SignedStatement) -> views.KeyRevocationView:
        from registry import publishers

        return self._call(publishers.revoke_key, statement=request.text, signature=request.signature)


class RegistryUnreachable(errors.NotReady):
    """The HTTP registry could not be reached (connection refused, timeout): nothing was recorded there."""

    code = "unreachable"


class UnexpectedResponse(errors.NotReady):
    """The HTTP registry answered with something that is not one of its documented responses: it is not serving
    properly (a proxy's error page, a server error), so callers treat it as not ready."""

    code = "unexpected_response"


_ERRORS_BY_CODE: dict[str, type[errors.RegistryError]] = {}


def _error_class(code: str) -> type[errors.RegistryError] | None:
    """The domain error class whose `code` the API sent, so remote failures raise what local ones would."""
    if not _ERRORS_BY_CODE:
        pending = [errors.RegistryError]
        while pending:
            cls = pending.pop()
            _ERRORS_BY_CODE.setdefault(cls.code, cls)
            pending.extend(cls.__subclasses__())
    return _ERRORS_BY_CODE.get(code)


class HttpTransport:
    """Posts signed statements to a registry's HTTP API, authenticated with the publisher's API key.

    `client` is any `httpx2.Client` whose `base_url` is the registry (FastAPI's TestClient is one).
    """

    def __init__(self, client: httpx2.Client, api_key: str, *, poll_seconds: float = 1.0) -> None:
        """`poll_seconds`: how often a registration that runs as a job (`202`) is polled until it ends."""
        self.client = client
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self.poll_seconds = poll_seconds

    @classmethod
    def connect(cls, base_url: str, api_key: str, *, timeout_s: float = 60.0) -> HttpTransport:
        return cls(httpx2.Client(base_url=base_url, timeout=timeout_s), api_key)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self.close()

    def register(
        self, request: SignedStatement, content: bytes, progress: Progress | None = None
    ) -> views.RegistrationReceiptView:
        """One request, or (a long video: `202`) a job polled until it ends, so no request has to outlast it."""
        media_type = request.statement.get("content", {}).get("media_type", "application/octet-stream")
        answer = self._post(
            "/v1/registrations",
            _RegistrationAnswer,
            files={"file": ("original", content, media_type)},
            data={"statement": request.text, "signature": request.signature},
        )
        if isinstance(answer.root, views.JobAcceptedView):
            return self._await_job(answer.root.url, answer.root.job, views.RegistrationReceiptView, progress)
        return answer.root

    def _await_job(self, url: str, job: views.JobView, view: type[ViewT], progress: Progress | None) -> ViewT:
        """Poll a job until it is done (its result as `view`) or failed (its error raised as a domain error)."""
        while True:
            if progress is not None:
                progress(job.progress)
            if job.state == "done" and job.result is not None:
                return _parsed(url, view, job.result)
            if job.state == "failed":
                error = dict(job.error or {"code": "error", "message": "the job failed without saying why"})
                code, message = error.pop("code"), error.pop("message")
                cls = _error_class(code) or UnexpectedResponse
                raise cls(message, **error)
            time.sleep(self.poll_seconds)
            job = self._request("GET", url, views.JobView)

    def revoke_registration(self, request: SignedStatement) -> views.RevocationView:
        return self._post(
            f"/v1/registrations/{request.statement['registration_id']}/revoke",
            views.RevocationView,
            json={"statement": request.text, "signature": request.signature},
        )

    def rotate_key(self, request: SignedStatement, new_signature: str) -> views.PublisherView:
        return self._post(
            f"/v1/publishers/{request.statement['publisher_id']}/keys/rotate",
            views.PublisherView,
            json={"statement": request.text, "old_signature": request.signature, "new_signature": new_signature},
        )

    def revoke_key(self, request: SignedStatement) -> views.KeyRevocationView:
        return self._post(
            f"/v1/publishers/{request.statement['publisher_id']}/keys/revoke",
            views.KeyRevocationView,
            json={"statement": request.text, "signature": request.signature},
        )

    def _post(self, path: str, view: type[ViewT], **kwargs: Any) -> ViewT:
        return self._request("POST", path, view, **kwargs)

    def _request(self, method: str, path: str, view: type[ViewT], **kwargs: Any) -> ViewT:
        try:
            response = self.client.request(method, path, headers=self._auth, **kwargs)
        except httpx2.TransportError as exc:
            raise RegistryUnreachable(f"cannot reach the registry at {self.client.base_url}: {exc}") from None
        if response.is_success:
            try:
                body = response.json()
            except ValueError as exc:
                problem = f"{path} answered {response.status_code} with a body that is not JSON: {exc}"
                raise UnexpectedResponse(problem) from None
            return _parsed(f"{path} answered {response.status_code}", view, body)
        raise _remote_error(path, response)


class _RegistrationAnswer(RootModel[views.JobAcceptedView | views.RegistrationReceiptView]):
    """`POST /v1/registrations` answers a receipt (`201`) or a job to poll (`202`)."""


def _parsed(source: str, view: type[ViewT], body: Any) -> ViewT:
    try:
        return view.model_validate(body)
    except ValidationError as exc:
        raise UnexpectedResponse(f"{source} with an unreadable body: {exc}") from None


def _remote_error(path: str, response: httpx2.Response) -> errors.RegistryError:
    """The domain error an error body names, with its details; a clear UnexpectedResponse for anything else."""
    try:
        body = response.json()["error"]
        code, message = body.pop("code"), body.pop("message")
    except (ValueError, KeyError, TypeError):
        return UnexpectedResponse(
            f"{path} answered {response.status_code}: {response.text[:200]}", status=response.status_code
        )
    cls = _error_class(code)
    if cls is None:
        return UnexpectedResponse(f"{path} answered {response.status_code} {code}: {message}", **body)
    return cls(message, **body)


# --- the client -------------------------------------------------------------------------------------------------


class PublisherClient:
    """One publisher's signed actions against one registry. After `rotate_key` it signs with the new key."""

    def __init__(self, transport: Transport, *, publisher_id: str, private_key: Ed25519PrivateKey) -> None:
        self.transport = transport
        self.publisher_id = publisher_id
        self.private_key = private_key

    @property
    def key_id(self) -> str:
        return key_id(raw_public_key(self.private_key))

    def register(
        self,
        content: bytes,
        metadata: Mapping[str, Any] | None = None,
        *,
        media_type: str | None = None,
        progress: Progress | None = None,
    ) -> views.RegistrationReceiptView:
        """Register `content` as an original of this publisher's; the answer carries its log receipt.
        `progress` hears the fraction done: worth showing for a long video."""
        statement = registration_statement(
            publisher_id=self.publisher_id,
            key_id=self.key_id,
            content=content,
            metadata=metadata,
            media_type=media_type,
        )
        return self.transport.register(sign_statement(self.private_key, statement), content, progress)

    def revoke_registration(self, registration_id: str, reason: str = "") -> views.RevocationView:
        fields = {"type": "content_revocation", "key_id": self.key_id, "registration_id": registration_id}
        return self.transport.revoke_registration(self._signed({**fields, "reason": reason}))

    def rotate_key(self, new_key: Ed25519PrivateKey) -> views.PublisherView:
        """Make `new_key` current: the current key signs for authority, the new one for possession."""
        new_public_key = base64.b64encode(raw_public_key(new_key)).decode()
        request = self._signed({"type": "key_rotation", "old_key_id": self.key_id, "new_public_key": new_public_key})
        view = self.transport.rotate_key(request, sign_statement(new_key, request.statement).signature)
        self.private_key = new_key
        return view

    def revoke_key(self, revoked_key_id: str, compromised_since: datetime) -> views.KeyRevocationView:
        """Report a retired key compromised since a moment (signed with the current key)."""
        return self.transport.revoke_key(
            self._signed(
                {
                    "type": "key_revocation",
                    "key_id": self.key_id,
                    "revoked_key_id": revoked_key_id,
                    "compromised_since": format_timestamp(compromised_since),
                }
            )
        )

    def _signed(self, fields: dict[str, Any]) -> SignedStatement:
        return sign_statement(self.private_key, new_statement({**fields, "publisher_id": self.publisher_id}))
