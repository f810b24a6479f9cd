"""The web pages: check a file, download the evidence, browse publishers and the log, register as a publisher.

Served by the same app as the JSON API (`install`), outside its OpenAPI schema; templates in `templates/`, plain
vendored JavaScript and CSS in `static/` (no build step, nothing fetched from elsewhere), all under a strict
Content-Security-Policy (`api/web/security.py`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web.pages import router, signed_in_publisher

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.state.signed_in = signed_in_publisher  # a page session counts as a credential for the body caps
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
