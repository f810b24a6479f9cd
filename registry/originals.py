"""The registry's own originals as the detector's training data: the faces this registry will actually see.

Not in `registry.assessment`: the runtime imports that module, and this one needs the runtime.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sqlmodel import col, select

from fingerprint.media import CanonicalImage
from registry.clock import now_utc
from registry.media import decode_as
from registry.media import limits as media_limits
from registry.models import ContentRevocation, Publisher, Registration, is_verified
from registry.runtime import Registry


def registered_photos(registry: Registry) -> Iterator[tuple[str, np.ndarray]]:
    """(registration id, RGB pixels) of each distinct still image registered by a publisher verified now and not
    revoked, read from the content store and decoded under the registry's caps: training data for the detector
    (`provreg detector train --from-registry`), the faces this registry will actually see."""
    with registry.session() as session:
        rows = session.exec(
            select(Registration, Publisher)
            .join(Publisher, col(Publisher.id) == col(Registration.publisher_id))
            .where(Registration.kind == "image")
            .where(col(Registration.id).not_in(select(ContentRevocation.registration_id)))
            .order_by(col(Registration.log_index))
        ).all()
    now, seen, limits = now_utc(), set(), media_limits(registry.settings)
    for registration, publisher in rows:
        if registration.content_sha256 in seen or not is_verified(publisher, now):
            continue
        seen.add(registration.content_sha256)
        media = decode_as(registry.store.get(registration.content_sha256), limits, CanonicalImage)
        yield registration.id, media.pixels
