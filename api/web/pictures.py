"""The pictures a check made on the page can show later, drawn by the query's kind (`registry.kinds`: a video's frame
pairs for its timeline's spans).

The check keeps each match's picture plans (JSON, the kind's own) with its analysis (`api/web/kept.py`); a picture
is drawn only when someone opens it, in the media worker pool (`Registry.run_media`), under the check's decode
limits.
"""

from __future__ import annotations

from typing import Any

from api.web.kept import KeptChecks
from registry import views
from registry.errors import NotFound
from registry.kinds import adapter
from registry.kinds.base import MAX_PICTURES_PER_MATCH
from registry.media import limits
from registry.runtime import Registry

__all__ = ["MAX_PICTURES_PER_MATCH", "KindPictures", "plans_of"]


def plans_of(
    view: views.CheckView, registrations: dict[str, views.RegistrationView]
) -> dict[str, list[dict[str, Any]]]:
    """Each match's picture plans, by registration id (none for a kind that draws none)."""
    return adapter(view.kind).picture_plans(view, registrations)


class KindPictures:
    """Draws the pictures of a check the page kept (`KeptChecks`)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.kept = KeptChecks(registry)

    def render(self, check_id: str, registration_id: str, number: int) -> bytes:
        """The PNG of picture `number` (from 1) of `registration_id`'s match; NotFound when expired or unknown."""
        analysis = self.kept.analysis(check_id)
        listed = analysis["pairs"].get(registration_id) or []
        if not 1 <= number <= len(listed):
            raise NotFound(f"no frame pair {number} for {registration_id} in this check")
        plan = listed[number - 1]
        kind = adapter(views.CheckView.model_validate(analysis["view"]).kind)
        query = self.kept.query(analysis)
        original = self.registry.store.path(plan["original_sha256"])
        return self.registry.run_media(kind.draw_picture, query, original, limits(self.registry.settings), plan)
