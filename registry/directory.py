"""Listings for people rather than scripts: every publisher with its verification, a publisher's own registrations.

The web pages show them; the JSON API has no listing endpoints yet, so these stay read-only lookups over the service
views (`registry.views`), ordered for reading (publishers by name, registrations newest first).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from registry import views
from registry.clock import now_utc
from registry.models import Publisher, PublisherKey, Registration
from registry.publishers import publisher_view
from registry.service import get_registration

MAX_LISTED = 200


def list_publishers(*, session: Session, now: datetime | None = None) -> list[views.PublisherView]:
    """Every publisher with its current key and verification, by name."""
    now = now or now_utc()
    rows = session.exec(
        select(Publisher, PublisherKey)
        .join(PublisherKey, col(PublisherKey.publisher_id) == col(Publisher.id))
        .where(col(PublisherKey.retired_at).is_(None))
        .order_by(col(Publisher.name))
        .limit(MAX_LISTED)
    ).all()
    return [publisher_view(publisher, key.key_id, now) for publisher, key in rows]


def publisher_registrations(
    *, session: Session, publisher_id: str, limit: int = MAX_LISTED
) -> list[views.RegistrationView]:
    """A publisher's registrations, newest first (revoked ones included: they say so)."""
    ids = session.exec(
        select(Registration.id)
        .where(Registration.publisher_id == publisher_id)
        .order_by(col(Registration.log_index).desc())
        .limit(limit)
    ).all()
    now = now_utc()
    return [get_registration(session=session, registration_id=registration_id, now=now) for registration_id in ids]
