"""Questions anyone may ask: is this media a (doctored) copy of a registered original, and which have this hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from api.cancel import read_media, run_cancellable
from api.deps import RegistryDep, SessionDep
from api.metrics import MetricsDep
from registry import matching, views
from registry.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/v1", tags=["matching"])

ModeQuery = Annotated[
    matching.CheckMode,
    Query(description="full: verify, transform and localise (default); fast: global hashes only, no analysis"),
]


@router.post("/check", response_model=views.CheckView)
async def check(
    request: Request,
    file: Annotated[UploadFile, File(description="the media to check")],
    session: SessionDep,
    registry: RegistryDep,
    metrics: MetricsDep,
    mode: ModeQuery = "full",
    pictures: Annotated[
        bool,
        Query(
            description="also keep a comparison picture of each match, listed in `comparisons`, and the assessment's "
            "heat-map (full mode)"
        ),
    ] = False,
) -> views.CheckView:
    """Verdict `copy`, `altered` or `unregistered`, with the matching originals, transforms and altered regions."""
    if pictures and mode == "fast":
        raise InvalidRequest("pictures need the full analysis: drop mode=fast")
    view = await run_cancellable(
        request,
        matching.check,
        session=session,
        registry=registry,
        content=await read_media(registry, file),
        mode=mode,
        pictures="keep" if pictures else "none",
    )
    metrics.record_verdict(view.verdict, mode)
    return with_picture_urls(view)


def with_picture_urls(view: views.CheckView) -> views.CheckView:
    """The view with each kept picture's URL (`check_picture_kept`): the comparisons and the assessment's heat-map,
    as the API and the pages serve them."""
    update: dict[str, object] = {
        "comparisons": [
            picture.model_copy(update={"url": f"/v1/check/pictures/{picture.id}"}) for picture in view.comparisons
        ]
    }
    if view.assessment is not None and view.assessment.heatmap is not None:
        heatmap = view.assessment.heatmap.model_copy(update={"url": f"/v1/check/pictures/{view.assessment.heatmap.id}"})
        update["assessment"] = view.assessment.model_copy(update={"heatmap": heatmap})
    return view.model_copy(update=update)


@router.get(
    "/check/pictures/{picture_id}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "original | query aligned | altered regions"}},
)
def check_picture_kept(picture_id: str, registry: RegistryDep) -> Response:
    """A comparison or heat-map picture kept by `POST /v1/check?pictures=true`, until it expires."""
    return Response(content=registry.pictures.get(picture_id), media_type="image/png")


@router.post(
    "/check/picture",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "original | query aligned | altered regions"}},
)
async def check_picture(
    request: Request,
    file: Annotated[UploadFile, File(description="the media to check")],
    session: SessionDep,
    registry: RegistryDep,
    registration_id: Annotated[str | None, Form(description="which match to draw; default: the best")] = None,
) -> Response:
    """The comparison picture of a check, as PNG: the original, the query aligned to it, the altered regions."""
    outcome = await run_cancellable(
        request,
        matching.run_check,
        session=session,
        registry=registry,
        content=await read_media(registry, file),
        pictures="draw",
    )
    drawn = outcome.pictures
    if registration_id is not None and registration_id not in drawn:
        raise NotFound(f"the query does not match registration {registration_id!r}")
    if not drawn:
        raise NotFound("the query matches no registered original, so there is nothing to draw")
    chosen = registration_id or next(
        (m.registration_id for m in outcome.view.matches if m.registration_id in drawn), next(iter(drawn))
    )
    return Response(
        content=drawn[chosen],
        media_type="image/png",
        headers={"X-Provreg-Registration": chosen, "X-Provreg-Verdict": outcome.view.verdict},
    )


@router.get("/lookup", response_model=views.LookupView)
def lookup(
    session: SessionDep,
    registry: RegistryDep,
    alg: Annotated[str, Query(description=f"one of {', '.join(matching.LOOKUP_ALGORITHMS)}")],
    hash: Annotated[str, Query(description="hex value")],
    max_distance: Annotated[int | None, Query(description="default: the algorithm's match threshold")] = None,
    limit: Annotated[int, Query(ge=1, le=matching.MAX_LOOKUP_RESULTS)] = 100,
) -> views.LookupView:
    """Registrations whose hash is within `max_distance` of `hash` (exact for sha256)."""
    return matching.lookup(
        session=session, registry=registry, alg=alg, value=hash, max_distance=max_distance, limit=limit
    )
