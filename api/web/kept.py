"""What a check made on the page keeps, so that its evidence package and its kind's pictures (a video's frame pairs)
are drawn later, on demand, instead of being rendered for every check: the analysis (the check's view, the file's
name and time, each match's picture plans) and, where the package or the pictures show it, the query's bytes.

A package embeds every original it names: rendered ahead for each check it cost up to 226x the upload (76.6 MB
for a photo matching five large originals), while most packages are never downloaded. Both files live in the
kept-files store (`registry.pictures`) under its caps, as long as comparison pictures; a download gathers the
registrations, receipts and originals again from the registry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from api.web import result
from registry import views
from registry.errors import NotFound
from registry.pictures import PictureStore
from registry.runtime import Registry


class KeptChecks:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.analyses = PictureStore.for_settings(registry.settings, suffix=".json")
        self.queries = PictureStore.for_settings(registry.settings, suffix=".bin")

    def keep(self, checked: result.CheckResult, plans: dict[str, list[dict[str, Any]]]) -> str:
        """Keep what the package and the pictures of `checked` need; the id both are drawn from."""
        query_id = None
        shown = checked.view.media_type in result.DISPLAYABLE or bool(plans)
        if shown and self.queries.fits(len(checked.query)):
            query_id, _ = self.queries.keep(checked.query)
        analysis = {
            "view": checked.view.model_dump(mode="json"),
            "file_name": checked.file_name,
            "checked_at": checked.checked_at.isoformat(),
            "query": query_id,
            "pairs": plans,  # the kind's picture plans by registration id (named when they were video frame pairs)
        }
        check_id, _ = self.analyses.keep(json.dumps(analysis).encode())
        return check_id

    def analysis(self, check_id: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = json.loads(self.analyses.get(check_id))
        except NotFound:
            raise NotFound("no such check, or it has expired; run the check again") from None
        return found

    def query(self, analysis: dict[str, Any]) -> bytes:
        """The checked file's bytes, if the check kept them and they are still kept."""
        if analysis["query"] is None:
            raise NotFound("this check did not keep its file")
        try:
            return self.queries.get(analysis["query"])
        except NotFound:
            raise NotFound("the checked file is no longer kept; run the check again") from None

    def result(self, *, session: Session, check_id: str) -> result.CheckResult:
        """The check as its evidence package shows it, gathered again from the kept analysis."""
        analysis = self.analysis(check_id)
        view = views.CheckView.model_validate(analysis["view"])
        query = self.query(analysis) if view.media_type in result.DISPLAYABLE else b""
        return result.gather(
            session=session,
            registry=self.registry,
            view=view,
            query=query,
            file_name=analysis["file_name"],
            checked_at=datetime.fromisoformat(analysis["checked_at"]),
        )
