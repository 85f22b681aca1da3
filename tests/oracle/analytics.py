"""Independent figures for CONTRACT 6.9 (analytics with a segment axis), the naive way.

Shares no code with segsearch: for each segment (a set of member ids) and for everyone,
loop over the orders, take each order's calendar day in the time zone, keep those within
[start, end] (and of the given statuses), and add them up per calendar bucket with exact
decimals. Weeks start on Monday; a bucket is named by its first day even when the period
starts inside it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo


def _day(created_at: str, tz: str) -> dt.date:
    moment = dt.datetime.fromisoformat(created_at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(ZoneInfo(tz)).date()


def _bucket(day: dt.date, interval: str) -> dt.date:
    if interval == "month":
        return dt.date(day.year, day.month, 1)
    if interval == "week":
        return day - dt.timedelta(days=day.weekday())
    return day


def _figures(orders: list[dict]) -> dict:
    revenue = sum((Decimal(str(o["total"])) for o in orders), Decimal(0))
    n = len(orders)
    return {"orders": n, "revenue": revenue, "buyers": len({o["customer_id"] for o in orders}),
            "average_order_value": (revenue / n).quantize(Decimal("0.01"), ROUND_HALF_UP) if n else None}


def figures(member_ids: Iterable[str], orders: list[dict], *, start: dt.date, end: dt.date,
            interval: str, tz: str, statuses: list[str] | None = None) -> dict:
    """customers, orders, revenue, buyers, average_order_value, and {bucket start: figures}."""
    members = set(member_ids)
    chosen = [o for o in orders if o["customer_id"] in members
              and start <= _day(o["created_at"], tz) <= end
              and (not statuses or o.get("status") in statuses)]
    per_bucket: dict[dt.date, list[dict]] = {}
    for order in chosen:
        per_bucket.setdefault(_bucket(_day(order["created_at"], tz), interval), []).append(order)
    return {"customers": len(members), **_figures(chosen),
            "series": {k: _figures(v) for k, v in sorted(per_bucket.items())}}
