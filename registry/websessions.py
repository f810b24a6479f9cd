"""The publisher desk's sessions, kept in the database so that every API process sees one end at once.

    token = start(session=session, key=publishers.authenticated_key(...), lifetime=timedelta(hours=8))  # sign-in
    publisher = resolve(session=session, token=token)    # each request: None once the session has ended
    end(session=session, token=token)                    # sign-out

A session is valid while its row exists, it has not expired and the API key it was opened with is not revoked (so a
key revoked by any means closes its sessions even before their rows go). The publisher's own changes end them with
`end_for_publisher` inside the change's transaction: API keys revoked or rotated, a key reported compromised, the
verification ended. A session opened while the publisher is verified also ends when that verification lapses.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from registry.keys import api_key_hash
from registry.models import ApiKey, Publisher, WebSession

# Sessions one publisher may hold at once; signing in beyond that ends its oldest (a leaked key cannot grow the table).
MAX_PER_PUBLISHER = 50


def start(*, session: Session, key: ApiKey, lifetime: timedelta, now: datetime | None = None) -> str:
    """Sign in with an authenticated API key: the new session's token (the cookie's value, shown once).

    A revocation of `key` committed meanwhile still wins: `resolve` checks the key on every request.
    """
    now = now or datetime.now(UTC)
    publisher = session.get(Publisher, key.publisher_id)
    assert publisher is not None  # a foreign key
    expires_at = now + lifetime
    lapses = publisher.verification_expires_at
    if lapses is not None and now < lapses < expires_at:
        expires_at = lapses
    token = secrets.token_urlsafe(32)
    try:
        session.execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
        oldest = session.exec(
            select(WebSession.token_sha256)
            .where(WebSession.publisher_id == publisher.id)
            .order_by(col(WebSession.created_at).desc())
            .offset(MAX_PER_PUBLISHER - 1)
        ).all()
        if oldest:
            session.execute(delete(WebSession).where(col(WebSession.token_sha256).in_(oldest)))
        session.add(
            WebSession(
                token_sha256=api_key_hash(token),
                publisher_id=publisher.id,
                api_key_id=key.id,
                created_at=now,
                expires_at=expires_at,
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return token


def resolve(*, session: Session, token: str, now: datetime | None = None) -> Publisher | None:
    """The signed-in publisher, or None: no such session, it ended or expired, or its API key was revoked."""
    if not token or len(token) > 100:
        return None
    found = session.exec(
        select(Publisher)
        .join(WebSession, col(WebSession.publisher_id) == Publisher.id)
        .join(ApiKey, col(ApiKey.id) == WebSession.api_key_id)
        .where(
            WebSession.token_sha256 == api_key_hash(token),
            col(WebSession.expires_at) > (now or datetime.now(UTC)),
            col(ApiKey.revoked_at).is_(None),
        )
    ).first()
    return found


def end(*, session: Session, token: str) -> None:
    """Sign out: the session's row goes, so its cookie opens nothing on any process, whoever holds a copy."""
    session.exec(delete(WebSession).where(col(WebSession.token_sha256) == api_key_hash(token)))
    session.commit()


def end_for_publisher(session: Session, publisher_id: str, *, api_key_ids: list[str] | None = None) -> int:
    """End the publisher's sessions (only those opened with `api_key_ids`, when given), inside the caller's
    transaction; how many ended."""
    ending = delete(WebSession).where(col(WebSession.publisher_id) == publisher_id)
    if api_key_ids is not None:
        ending = ending.where(col(WebSession.api_key_id).in_(api_key_ids))
    return session.exec(ending).rowcount
