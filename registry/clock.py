"""The registry's one clock: every stored and logged time is an aware UTC datetime taken here."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC)
