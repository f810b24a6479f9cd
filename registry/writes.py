"""The write path every change takes: one serialised transaction, its transparency-log events, and the checks a
publisher-signed request passes before it changes anything (`authorise_statement`, then `signed_write`).

Publishers, registrations and re-indexing all write through here, so each change and its log entry commit together.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from registry.db import take_write_lock
from registry.errors import Conflict, Forbidden, InvalidStatement, NonceReused
from registry.log import store as log
from registry.models import Publisher, PublisherKey, UsedNonce, is_verified
from registry.runtime import Registry
from registry.statements import DOMAINS, DocumentLimits, StatementT, format_timestamp, parse_statement, verify


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def record(session: Session, registry: Registry, events: list[log.Event], now: datetime) -> list[dict[str, Any]]:
    """Append events and sign the new checkpoint, inside the caller's write transaction."""
    entries = log.append(session, events, now)
    log.sign_checkpoint(session, registry.keyring, now)
    return entries


@contextmanager
def write_transaction(session: Session, registry: Registry) -> Iterator[None]:
    """One writing transaction: refused on a store that failed its audit, serialised with other writers,
    committed on success and rolled back on any error (so a refused request leaves nothing behind)."""
    registry.require_writable()
    try:
        take_write_lock(session)
        yield
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict("a concurrent request changed the same thing; retry to see its result") from None
    except BaseException:
        session.rollback()
        raise


@dataclass(frozen=True, slots=True)
class SignedRequest(Generic[StatementT]):
    """A publisher-signed statement that passed every check: what it claims, whose it is, which key signed it."""

    claim: StatementT
    signed: dict[str, Any]  # the statement as signed (canonical JSON object)
    signature: str
    publisher: Publisher
    key: PublisherKey


def authorise_statement(
    *,
    session: Session,
    registry: Registry,
    statement: bytes | str,
    model: type[StatementT],
    signature: str,
    caller: Publisher | None,
    now: datetime,
    key_field: str = "key_id",
    lapsed_may: bool = False,
) -> SignedRequest[StatementT]:
    """Parse a publisher-signed statement and pass the checks every signed request passes before it changes anything.

    `caller` is the publisher an API key authenticated (None for local CLI use, where access to the data
    directory is the authority); it must be the publisher the statement names. `key_field` names the statement
    field that says which key signed it. `lapsed_may` lets a publisher whose verification lapsed still make this
    request: withdrawing its own content must not depend on the operator renewing it.
    """
    claim, signed = parse_statement(statement, model, DocumentLimits.from_settings(registry.settings))
    publisher_id = claim.publisher_id
    if caller is not None and caller.id != publisher_id:
        raise Forbidden(f"this API key belongs to {caller.id}, but the statement is for {publisher_id}")
    publisher = session.get(Publisher, publisher_id)
    if publisher is None:
        raise InvalidStatement(f"statement names unknown publisher {publisher_id!r}")
    key = session.get(PublisherKey, getattr(claim, key_field))
    if key is None or key.publisher_id != publisher.id:
        raise InvalidStatement(f"statement's {key_field} is not a key of this publisher")
    verify(key.public_key, DOMAINS[signed["type"]], signed, signature)
    if key.retired_at is not None:
        raise Forbidden("statement is signed with a retired key; sign with the publisher's current key")
    expires = publisher.verification_expires_at  # None: verified until withdrawn
    if not lapsed_may and expires is not None and not is_verified(publisher, now):
        raise Forbidden(f"publisher verification expired at {format_timestamp(expires)}")
    _check_fresh(claim.created, now, registry)
    return SignedRequest(claim, signed, signature, publisher, key)


class LogSigned(Protocol):
    def __call__(self, kind: str, subject: str, **fields: Any) -> dict[str, Any]:
        """Append the signed request as a log event of `kind` about `subject`; the entry as logged."""
        ...


@contextmanager
def signed_write(
    session: Session, registry: Registry, request: SignedRequest[Any], now: datetime
) -> Iterator[LogSigned]:
    """The one write sequence of every publisher-signed change: transaction, nonce, state rows and log event.

    Callers do their CPU work (decoding, hashing) before entering, so the write lock covers only the rows, the log
    leaf and the checkpoint. The yielded function logs the request; the nonce is spent only if everything commits.
    """
    with write_transaction(session, registry):
        if session.get(UsedNonce, (request.publisher.id, request.claim.nonce)) is not None:
            raise NonceReused("this statement's nonce was used before; sign a new statement")
        session.add(UsedNonce(publisher_id=request.publisher.id, nonce=request.claim.nonce))

        def log_signed(kind: str, subject: str, **fields: Any) -> dict[str, Any]:
            event = log.Event(
                kind,
                subject,
                {
                    **fields,
                    "publisher_id": request.publisher.id,
                    "key_id": request.key.key_id,
                    "public_key": b64(request.key.public_key),
                    "statement": request.signed,
                    "signature": request.signature,
                },
            )
            (entry,) = record(session, registry, [event], now)
            return entry

        yield log_signed


def _check_fresh(created: datetime, now: datetime, registry: Registry) -> None:
    settings = registry.settings
    if created > now + timedelta(seconds=settings.statement_max_skew_seconds):
        raise InvalidStatement("statement created_at is in the future; check the signing machine's clock")
    if created < now - timedelta(seconds=settings.statement_max_age_seconds):
        raise InvalidStatement(
            f"statement is older than {settings.statement_max_age_seconds} s; sign a fresh one for each request"
        )
