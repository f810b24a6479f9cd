"""The page routes. Each renders a template from the service's views; a domain error is shown on the page in a
sentence, with what the user typed kept in the form, and the status the JSON API would have answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from api.cancel import read_media, run_cancellable
from api.deps import RegistryDep, SessionDep
from api.errors import status_for
from api.routers.matching import with_picture_urls
from api.web import result, words
from api.web.kept import KeptChecks
from api.web.pictures import MAX_PICTURES_PER_MATCH, KindPictures, plans_of
from api.web.security import PAGE_HEADERS, SESSION_SECONDS, Guard, load_secret
from registry import directory, jobs, matching, publishers, service, transparency, views, websessions
from registry.errors import InvalidRequest, NotFound, RegistryError, Unauthenticated
from registry.kinds import file_suffixes, page_media
from registry.log.receipts import unwrap_receipt, verify_receipt
from registry.models import Publisher
from registry.runtime import Registry
from registry.statements import DOMAINS

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals.update(
    day=words.day,
    verdict_sentence=words.verdict_sentence,
    transform_words=words.transform_words,
    score_words=words.score_words,
    region_words=words.region_words,
    warnings_for=words.warnings_for,
    data_uri=result.data_uri,
    displayable=result.DISPLAYABLE,
    max_pairs=MAX_PICTURES_PER_MATCH,
    page_media=page_media(),
    media_accept=",".join([page_media()[0], *sorted(file_suffixes())]),  # by type, and by name where types are unknown
)
STYLE = (Path(__file__).parent / "static" / "style.css").read_text()
# The evidence file is opened from disk later: its own styles are inline, its pictures data: URIs.
EVIDENCE_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

CsrfField = Annotated[str, Form(description="the page's CSRF token")]


def _guard(request: Request) -> Guard:
    """One per app, made on first use (the data directory exists only once the registry has opened)."""
    state = request.app.state
    if getattr(state, "web_guard", None) is None:
        state.web_guard = Guard(load_secret(state.registry.settings.data_dir))
    return state.web_guard


def signed_in_publisher(request: Request) -> str | None:
    """The publisher signed in on the pages, if any: the body caps ask it (blocking: call it from a worker thread)."""
    registry: Registry = request.app.state.registry
    with registry.session() as session:
        found = _signed_in(request, session)
    return None if found is None else found.id


def page(request: Request, registry: Registry, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render `name` with a CSRF token for its forms. `signed_in` (whether to offer signing out) defaults to whether
    the browser holds a session cookie: the publishing pages, which look the session up, say whether it holds."""
    guard = _guard(request)
    nonce, fresh = guard.csrf_nonce(request)
    context.setdefault("signed_in", bool(guard.session_token(request)))
    html = templates.get_template(name).render(request=request, csrf=guard.csrf_token(nonce), **context)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    if fresh:
        guard.remember_nonce(request, response, nonce)
    if guard.session_token(request) and not context["signed_in"]:
        guard.end_session(response)  # a session that ended elsewhere: the browser forgets its cookie too
    return response


def _sentence(said: RegistryError | str) -> str:
    message = (said.message if isinstance(said, RegistryError) else said).strip()
    return message[:1].upper() + message[1:] + ("" if message.endswith((".", "?", "!")) else ".")


# --- check ------------------------------------------------------------------------------------------------------


@router.api_route("/", methods=["GET", "HEAD"])  # HEAD: what uptime monitors and link checkers send
def check_page(request: Request, registry: RegistryDep) -> HTMLResponse:
    return page(request, registry, "check.html")


@router.post("/check")
async def check(
    request: Request,
    registry: RegistryDep,
    session: SessionDep,
    csrf: CsrfField,
    file: Annotated[UploadFile | None, File()] = None,
    partial: bool = False,
) -> HTMLResponse:
    """The result card: the whole page, or (`partial=true`, as the page's script asks) the card alone."""
    template = "_result.html" if partial else "check.html"
    try:
        _guard(request).check_csrf(request, csrf)
        if file is None or not file.filename:
            raise InvalidRequest("choose a picture to check first")
        content = await read_media(registry, file)
        view = await run_cancellable(
            request, matching.check, session=session, registry=registry, content=content, pictures="keep"
        )
        checked = await run_in_threadpool(
            _gather, session=session, registry=registry, view=view, query=content, file_name=file.filename
        )
    except RegistryError as exc:
        return page(request, registry, template, status=status_for(exc), error=_sentence(exc))
    return page(request, registry, template, checked=checked)


def _gather(
    *, session: Session, registry: Registry, view: views.CheckView, query: bytes, file_name: str
) -> result.CheckResult:
    """Everything the card shows, and what drawing its evidence package and frame pairs later needs, kept."""
    view = with_picture_urls(view)
    checked = result.gather(
        session=session,
        registry=registry,
        view=view,
        query=query,
        file_name=file_name,
        checked_at=datetime.now(UTC),
        package=False,
    )
    plans = plans_of(view, checked.registrations)
    checked.evidence_id = KeptChecks(registry).keep(checked, plans)
    if plans:  # matches with pictures to draw (a video's spans): drawn from the same kept check
        checked.frames_id = checked.evidence_id
    return checked


@router.get("/evidence/{evidence_id}")
def evidence(evidence_id: str, registry: RegistryDep, session: SessionDep) -> Response:
    """The evidence package of a check made on the page, as a download, until it expires: drawn now from what the
    check kept, streamed as it renders (each original it names is embedded)."""
    checked = KeptChecks(registry).result(session=session, check_id=evidence_id)
    package = templates.get_template("evidence.html").generate(checked=checked, style=STYLE)
    return StreamingResponse(
        (chunk.encode() for chunk in package),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="provreg-evidence-{evidence_id[:12]}.html"',
            "Content-Security-Policy": EVIDENCE_POLICY,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/frames/{frames_id}/{registration_id}/{number}.png")
async def frame_pair(frames_id: str, registration_id: str, number: int, registry: RegistryDep) -> Response:
    """One span's frame pair of a video checked on the page (original | this file | regions), while it is kept."""
    registry.admit_media()
    png = await run_in_threadpool(KindPictures(registry).render, frames_id, registration_id, number)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


# --- publishers and the log -------------------------------------------------------------------------------------


@router.get("/publishers")
def publisher_directory(request: Request, registry: RegistryDep, session: SessionDep) -> HTMLResponse:
    return page(request, registry, "publishers.html", publishers=directory.list_publishers(session=session))


def _log_page(
    request: Request, registry: Registry, session: Session, *, status: int = 200, **context: Any
) -> HTMLResponse:
    try:
        checkpoint: str | None = transparency.checkpoint(session=session)
    except NotFound:
        checkpoint = None  # nothing was ever written
    return page(
        request,
        registry,
        "log.html",
        status=status,
        checkpoint=checkpoint,
        keys=transparency.log_keys(keyring=registry.keyring),
        statement_domains={kind: domain.decode() for kind, domain in DOMAINS.items()},  # for the in-browser check
        **context,
    )


@router.get("/log")
def log_page(request: Request, registry: RegistryDep, session: SessionDep) -> HTMLResponse:
    return _log_page(request, registry, session)


@router.post("/log/verify")
def verify(
    request: Request,
    registry: RegistryDep,
    session: SessionDep,
    csrf: CsrfField,
    receipt: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Verify a pasted receipt (or a 201 body carrying one) against this registry's log keys."""
    try:
        _guard(request).check_csrf(request, csrf)
        if not receipt.strip():
            raise InvalidRequest("paste a receipt first: the JSON `provreg receipt` prints")
        verified = verify_receipt(unwrap_receipt(receipt), registry.keyring.verifiers)
    except RegistryError as exc:
        return _log_page(request, registry, session, status=status_for(exc), error=_sentence(exc), receipt=receipt)
    return _log_page(request, registry, session, verified=verified, receipt=receipt)


# --- publishing -------------------------------------------------------------------------------------------------


def _signed_in(request: Request, session: Session) -> Publisher | None:
    """The publisher whose desk session this browser holds, or None (none, or it ended: signed out, API key
    revoked, key compromised, verification ended, expired)."""
    return websessions.resolve(session=session, token=_guard(request).session_token(request))


def _caller(request: Request, session: Session) -> Publisher:
    found = _signed_in(request, session)
    if found is None:
        raise Unauthenticated("sign in with your publisher API key first (your session may have ended)")
    return found


def _publish_page(
    request: Request,
    registry: Registry,
    session: Session,
    *,
    status: int = 200,
    partial: bool = False,
    **context: Any,
) -> HTMLResponse:
    """The publisher's desk when signed in, else the sign-in form; `partial` (as the page's script asks): only what
    an action changes, the desk's status and, when signed in, the list of registrations (not while a job runs: the
    page polls it, and the list changes only once it ends)."""
    listed = not (partial and context.get("job"))
    found = _signed_in(request, session)
    if found is None:
        name = "_desk.html" if partial else "sign_in.html"
        return page(request, registry, name, status=status, signed_in=False, **context)
    return page(
        request,
        registry,
        "_desk.html" if partial else "publish.html",
        status=status,
        signed_in=True,
        publisher=publishers.get_publisher(session=session, publisher_id=found.id),
        registrations=directory.publisher_registrations(session=session, publisher_id=found.id) if listed else None,
        **context,
    )


@router.get("/publish")
def publish_page(request: Request, registry: RegistryDep, session: SessionDep) -> HTMLResponse:
    return _publish_page(request, registry, session)


@router.post("/publish/sign-in", response_model=None)
def sign_in(
    request: Request,
    registry: RegistryDep,
    session: SessionDep,
    csrf: CsrfField,
    api_key: Annotated[str, Form()] = "",
) -> Response:
    guard = _guard(request)
    try:
        guard.check_csrf(request, csrf)
        if not api_key.strip():
            raise Unauthenticated("enter the API key the registry's operator gave you")
        key = publishers.authenticated_key(session=session, api_key=api_key.strip())
        websessions.end(session=session, token=guard.session_token(request))  # this browser's previous one
        token = websessions.start(session=session, key=key, lifetime=timedelta(seconds=SESSION_SECONDS))
    except RegistryError as exc:
        # The key itself is never sent back into the page.
        return _publish_page(request, registry, session, status=status_for(exc), error=_sentence(exc))
    response = RedirectResponse("/publish", status_code=303)
    guard.start_session(request, response, token)
    return response


@router.post("/publish/sign-out")
def sign_out(request: Request, registry: RegistryDep, session: SessionDep, csrf: CsrfField) -> Response:
    """End the session on the server (every copy of its cookie stops working) and in this browser."""
    guard = _guard(request)
    guard.check_csrf(request, csrf)
    websessions.end(session=session, token=guard.session_token(request))
    response = RedirectResponse("/", status_code=303)
    guard.end_session(response)
    return response


@router.post("/publish/register")
async def register(
    request: Request,
    registry: RegistryDep,
    session: SessionDep,
    csrf: CsrfField,
    file: Annotated[UploadFile | None, File()] = None,
    statement: Annotated[str, Form()] = "",
    signature: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    partial: bool = False,
) -> HTMLResponse:
    """Register an original whose statement was signed in the browser (or elsewhere and pasted). What the JSON API
    runs as a job (long footage or sound) runs as one here too: `202` and the job's progress, followed on
    `/publish/jobs/{id}`."""
    entered = {"statement": statement, "signature": signature, "title": title}
    try:
        _guard(request).check_csrf(request, csrf)
        caller = _caller(request, session)
        if file is None or not file.filename:
            raise InvalidRequest("choose the original's file")
        if not statement.strip() or not signature.strip():
            raise InvalidRequest("sign the statement with your key file, or paste a statement and its signature")
        content = await read_media(registry, file)
        arguments: dict[str, Any] = dict(
            session=session,
            registry=registry,
            statement=statement,
            signature=signature.strip(),
            content=content,
            caller=caller,
        )
        if await run_cancellable(request, service.runs_long, registry=registry, content=content):
            runner = request.app.state.jobs
            job = await anyio.to_thread.run_sync(lambda: service.register_in_background(jobs=runner, **arguments))
            return _publish_page(request, registry, session, status=202, partial=partial, job=job)
        registration = await run_cancellable(request, service.register, **arguments)
    except RegistryError as exc:
        return _publish_page(
            request, registry, session, status=status_for(exc), partial=partial, error=_sentence(exc), entered=entered
        )
    return _publish_page(request, registry, session, status=201, partial=partial, registered=registration)


@router.get("/publish/jobs/{job_id}")
def registration_job(
    request: Request, registry: RegistryDep, session: SessionDep, job_id: str, partial: bool = False
) -> HTMLResponse:
    """A registration running in the background, as the desk shows it: its progress, then what was registered or
    why it failed (the job answers only the publisher who submitted it)."""
    try:
        job = jobs.get_job(session=session, job_id=job_id, caller=_caller(request, session))
    except RegistryError as exc:
        return _publish_page(request, registry, session, status=status_for(exc), partial=partial, error=_sentence(exc))
    return _publish_page(request, registry, session, partial=partial, **_job_outcome(job))


def _job_outcome(job: views.JobView) -> dict[str, Any]:
    if job.state == "done" and job.result is not None:
        return {"registered": views.RegistrationReceiptView.model_validate(job.result)}
    if job.state == "failed":
        message = (job.error or {}).get("message", "the registration failed")
        return {"error": _sentence(message)}
    return {"job": job}


@router.post("/publish/revoke")
def revoke(
    request: Request,
    registry: RegistryDep,
    session: SessionDep,
    csrf: CsrfField,
    registration_id: Annotated[str, Form()] = "",
    statement: Annotated[str, Form()] = "",
    signature: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Withdraw one of the publisher's registrations (a content_revocation statement signed in the browser)."""
    try:
        _guard(request).check_csrf(request, csrf)
        caller = _caller(request, session)
        if not statement.strip() or not signature.strip():
            raise InvalidRequest("choose your key file so the revocation can be signed")
        revoked = service.revoke_registration(
            session=session,
            registry=registry,
            statement=statement,
            signature=signature.strip(),
            caller=caller,
            registration_id=registration_id,
        )
    except RegistryError as exc:
        return _publish_page(request, registry, session, status=status_for(exc), error=_sentence(exc))
    return _publish_page(request, registry, session, revoked=revoked)
