"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors, metrics, web
from api.admission import MediaAdmission
from api.deps import holds_valid_credential
from api.limits import BodyCaps, BodySizeLimit
from api.observe import RequestContext
from api.openapi import document_errors
from api.ratelimit import RateLimit, RateLimiter
from api.routers import batch, health, jobs, log, matching, publishers, registrations
from registry.jobs import JobRunner
from registry.pool import pool_for
from registry.runtime import Registry
from registry.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the registry opens at start-up and loads its index in the background (see /readyz)."""
    settings = settings or Settings()
    admin_token = settings.resolved_admin_token()  # fail closed before serving anything

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry.open(settings)
        app.state.registry = registry
        registry.pool = app.state.media_pool = pool_for(settings)
        app.state.jobs = JobRunner.start(registry)
        loader = registry.load_in_background()
        if settings.index_before_serving:
            # Workers share one port: one still loading would answer 503 to the requests the kernel gives it, so it
            # starts accepting only once it can answer them (uvicorn listens after the start-up hook returns).
            await asyncio.to_thread(registry.wait_loaded, loader)
        try:
            yield
        finally:
            registry.pool.close()  # first: requests still waiting on media work end now, with 503
            app.state.jobs.close()
            if app.state.rate_limiter is not None:
                app.state.rate_limiter.close()
            registry.close()

    app = FastAPI(
        title="provenance-registry",
        version="0.1.0",
        summary="Signed originals, perceptual matching and provenance lookups for images.",
        lifespan=lifespan,
        form_limits=errors.FORM_LIMITS,
    )
    app.state.admin_token = admin_token
    app.state.metrics = metrics.Metrics()
    app.state.rate_limiter = RateLimiter.from_settings(settings, admin_token)
    # Last added runs first: request context, then the rate limit (and who the caller is), then the body caps, then
    # admission for media.
    app.add_middleware(MediaAdmission, settings=settings)
    app.add_middleware(BodySizeLimit, caps=BodyCaps.from_settings(settings), authenticated=holds_valid_credential)
    app.add_middleware(RateLimit, limiter=app.state.rate_limiter)
    app.add_middleware(RequestContext, metrics=app.state.metrics)
    errors.install(app)
    for router in (
        health.router,
        metrics.router,
        publishers.router,
        registrations.router,
        jobs.router,
        matching.router,
        batch.router,
        log.router,
    ):
        app.include_router(router)
    web.install(app)
    document_errors(app)
    return app
