"""The only readers of the wall clock, so tests can freeze them in one place."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo


def now_iso() -> str:
    """Now, UTC, as the ISO string stored in documents."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def today(tz: str) -> date:
    """The calendar day in the configured timezone: the 'today' of relative dates."""
    return datetime.now(ZoneInfo(tz)).date()
