"""Analytics with a segment axis (CONTRACT 6.9): what each segment's members buy, over time.

One request: `filters` aggregations keyed by segment code over the stored membership
(plus `_all`, every customer, as the baseline), and inside each bucket a nested
aggregation over the orders created in the period, cut into calendar buckets (a
`date_histogram` in the configured time zone) with each bucket's order count, revenue (a
sum of the exact minor units) and buyers (a `reverse_nested` count of the customers owning
those orders). The period's totals are the buckets' sums (every order in the period falls
in exactly one bucket), except buyers, which do not add up across buckets: those are a
customer-level count of members with a matching nested order. Members are never read into
Python, so the cost does not grow with segment size.

Why this shape (bench/profiles/README.md, 1M customers, 17 segments, cache bypassed): the
node's cost is per member order and per sub-aggregation on it; a period-level `sum` and
`reverse_nested` beside the histogram's cost ~0.9 s of 3.1 s, the customer-level nested
query that replaces them ~0.1 s. One search runs on about one core (the index's largest
Lucene segment is one slice), so the segments are dealt into PARTS searches of about equal
membership sent as one `_msearch`, which the node runs side by side (20 segments at 1M:
3.8 s -> 2.4 s).

The query builder and the shaping of the answer are pure (today, the time zone and the
period are arguments); only `search` and `run` talk to Elasticsearch.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from elasticsearch import Elasticsearch

from segsearch.errors import Invalid
from segsearch.search.client import msearch

BASELINE = "_all"  # never a segment code: codes start with a letter or digit
INTERVALS = ("month", "week", "day")
MAX_SPAN_DAYS = 5 * 366  # "at most five years" of orders in one request
MAX_BUCKETS = 400  # per series: keeps the whole answer bounded (20 segments + baseline)
MAX_CODES = 20
MAX_STATUSES = 50
PARTS = 2  # searches per request: the node runs an msearch's searches in parallel
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Period:
    """A validated request: calendar days [start, end] in `tz`, cut into `interval` buckets."""
    start: date
    end: date
    interval: str
    tz: str
    statuses: tuple[str, ...] | None = None

    def bounds_utc(self) -> tuple[datetime, datetime]:
        """Half-open [start 00:00, day after end 00:00) in the zone, as UTC instants."""
        zone = ZoneInfo(self.tz)
        low = datetime.combine(self.start, time(), zone).astimezone(UTC)
        high = datetime.combine(self.end + timedelta(days=1), time(), zone).astimezone(UTC)
        return low, high

    def bucket_starts(self) -> list[date]:
        """The first day of every calendar bucket touching the period (weeks start on Monday,
        like Elasticsearch's calendar week); the first and last may be partial."""
        return list(_bucket_starts(self.start, self.end, self.interval))


def _floor(day: date, interval: str) -> date:
    if interval == "month":
        return day.replace(day=1)
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day


def _next(day: date, interval: str) -> date:
    if interval == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=7 if interval == "week" else 1)


def _bucket_starts(start: date, end: date, interval: str) -> Iterator[date]:
    day = _floor(start, interval)
    while day <= end:
        yield day
        day = _next(day, interval)


def make_period(*, start: date | None, end: date | None, interval: str | None, tz: str,
                today: date, statuses: Sequence[str] | None = None) -> Period:
    """Defaults (the last twelve calendar months up to today, monthly) and limits: every
    problem is a 422 naming its query parameter."""
    interval = interval or "month"
    errors: dict[str, list[str]] = {}
    if interval not in INTERVALS:
        errors["interval"] = [f"Must be one of: {', '.join(INTERVALS)}."]
    end = end or today
    if start is None:
        start = _floor(end, "month").replace(year=end.year - 1)
        start = _next(start, "month")
    if start > end:
        errors["from"] = ["Must be on or before 'to'."]
    elif (end - start).days + 1 > MAX_SPAN_DAYS:
        errors["from"] = [f"The period may span at most {MAX_SPAN_DAYS} days."]
    elif interval in INTERVALS and len(list(_bucket_starts(start, end, interval))) > MAX_BUCKETS:
        errors["interval"] = [(f"Too many {interval} buckets for this period (at most {MAX_BUCKETS}); "
                              "choose a longer interval or a shorter period.")]
    if statuses is not None and len(statuses) > MAX_STATUSES:
        errors["statuses"] = [f"At most {MAX_STATUSES} statuses."]
    if errors:
        raise Invalid("Invalid analytics request: " + ", ".join(sorted(errors)), errors)
    return Period(start, end, interval, tz, tuple(statuses) if statuses else None)


def _order_filter(period: Period) -> dict:
    low, high = period.bounds_utc()
    parts: list[dict] = [{"range": {"orders.created_at": {
        "gte": low.isoformat(), "lt": high.isoformat(), "format": "strict_date_optional_time"}}}]
    if period.statuses:
        parts.append({"terms": {"orders.status": list(period.statuses)}})
    return {"bool": {"filter": parts}}


def analytics_body(codes: Sequence[str], period: Period) -> dict:
    """One search: membership buckets x orders in the period x calendar buckets. BASELINE
    among the codes (or no codes at all: the whole request in one search) is every customer."""
    filters = {code: {"term": {"segments": code}} for code in codes if code != BASELINE}
    if BASELINE in codes or not codes:
        filters[BASELINE] = {"match_all": {}}
    histogram = {"date_histogram": {
        "field": "orders.created_at", "calendar_interval": period.interval,
        "time_zone": period.tz, "format": "yyyy-MM-dd", "min_doc_count": 1},
        "aggs": {"revenue": {"sum": {"field": "orders.total_minor"}},
                 "buyers": {"reverse_nested": {}}}}
    in_period = _order_filter(period)
    return {
        "size": 0, "track_total_hits": False,
        "aggs": {"seg": {"filters": {"filters": filters}, "aggs": {
            "buyers": {"filter": {"nested": {"path": "orders", "query": in_period}}},
            "orders": {"nested": {"path": "orders"}, "aggs": {
                "period": {"filter": in_period, "aggs": {"hist": histogram}}}}}}},
    }


def deal(segments: Sequence[Mapping], parts: int = PARTS) -> list[list[str]]:
    """The codes (and BASELINE, weighed as the largest) dealt into at most `parts` groups of
    about equal membership, largest first onto the lightest group: the node's cost grows
    with each segment's members, so equal membership is about equal time."""
    weights = {s["code"]: int(s.get("customers_count") or 0) for s in segments}
    weights[BASELINE] = max([*weights.values(), 1]) + 1
    groups: list[list[str]] = [[] for _ in range(max(1, min(parts, len(weights))))]
    loads = [0] * len(groups)
    for code in sorted(weights, key=lambda c: -weights[c]):
        lightest = loads.index(min(loads))
        groups[lightest].append(code)
        loads[lightest] += weights[code]
    return groups


def _numbers(orders: int, revenue_minor: float, buyers: int) -> dict:
    """Sums of whole cents are exact in a double up to 2^53; the average is rounded half-up
    to the cent from the exact figures (never from a rounded float)."""
    cents = round(revenue_minor)
    aov = (Decimal(cents) / orders / 100).quantize(CENT, ROUND_HALF_UP) if orders else None
    return {"orders": orders, "revenue": cents / 100, "buyers": buyers,
            "average_order_value": None if aov is None else float(aov)}


def _series(bucket: Mapping, period: Period) -> dict:
    inner = bucket["orders"]["period"]
    by_day = {b["key_as_string"]: b for b in inner["hist"]["buckets"]}
    revenue_minor = sum(round(b["revenue"]["value"]) for b in by_day.values())
    series = []
    for start in period.bucket_starts():
        b = by_day.get(start.isoformat())
        series.append({"start": start.isoformat(), **(
            _numbers(b["doc_count"], b["revenue"]["value"], b["buyers"]["doc_count"]) if b
            else _numbers(0, 0, 0))})
    return {"customers": bucket["doc_count"],
            **_numbers(inner["doc_count"], revenue_minor, bucket["buyers"]["doc_count"]),
            "series": series}


def shape(response: Mapping, segments: Sequence[Mapping], period: Period) -> dict:
    """The answer: every segment and the all-customers baseline, in total and per bucket."""
    buckets = response["aggregations"]["seg"]["buckets"]
    baseline = _series(buckets[BASELINE], period)
    total = baseline["revenue"]
    out = []
    for seg in segments:
        figures = _series(buckets[seg["code"]], period)
        figures["revenue_share"] = round(figures["revenue"] / total, 4) if total else None
        out.append({"code": seg["code"], "name": seg.get("name") or seg["code"], **figures})
    return {
        "from": period.start.isoformat(), "to": period.end.isoformat(),
        "interval": period.interval, "timezone": period.tz,
        "statuses": list(period.statuses) if period.statuses else None,
        "buckets": [d.isoformat() for d in period.bucket_starts()],
        "segments": out,
        "baseline": {"code": None, "name": "All customers", **baseline, "revenue_share": 1.0 if total else None},
    }


def pick_segments(stored: Sequence[Mapping], codes: Sequence[str] | None) -> list[Mapping]:
    """The segments flagged for analytics, or exactly those named (flag or not), in order."""
    if not codes:
        return sorted((s for s in stored if s.get("available_in_analytics")), key=lambda s: s["code"])
    if len(codes) > MAX_CODES:
        raise Invalid("Invalid analytics request: codes", {"codes": [f"At most {MAX_CODES} codes."]})
    known = {s["code"]: s for s in stored}
    unknown = [c for c in dict.fromkeys(codes) if c not in known]
    if unknown:
        raise Invalid("Invalid analytics request: codes",
                      {"codes": [f"Unknown segment: {', '.join(unknown)}."]})
    return [known[c] for c in dict.fromkeys(codes)]


def search(es: Elasticsearch, index: str, segments: Sequence[Mapping], period: Period, *,
           request_cache: bool | None = None) -> dict:
    """One `_msearch` of the dealt groups; their buckets merged as if from one search."""
    searches: list[dict] = []
    for group in deal(segments):
        header: dict[str, Any] = {"index": index}
        if request_cache is not None:
            header["request_cache"] = request_cache
        searches += [header, analytics_body(group, period)]
    response = msearch(es, searches)
    buckets: dict[str, Any] = {}
    for answer in response["responses"]:
        buckets.update(answer["aggregations"]["seg"]["buckets"])
    return {"aggregations": {"seg": {"buckets": buckets}},
            "took": max(a["took"] for a in response["responses"])}


def run(es: Elasticsearch, index: str, segments: Sequence[Mapping], period: Period) -> dict:
    """One request to the node; the shaped answer with `took_ms` (the slowest search's)."""
    res = search(es, index, segments, period)
    answer = shape(res, segments, period)
    answer["took_ms"] = res["took"]
    return answer


def table_csv(answer: Mapping[str, Any]) -> str:
    """The analytics table (segments, then the baseline) as CSV text, formula-guarded."""
    import csv
    import io

    from segsearch.segments.export import cell
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["code", "name", "customers", "buyers", "orders", "revenue",
                     "average_order_value", "revenue_share"])
    for row in [*answer["segments"], answer["baseline"]]:
        writer.writerow([cell(row[k]) for k in ("code", "name", "customers", "buyers", "orders",
                                                 "revenue", "average_order_value", "revenue_share")])
    return out.getvalue()


def report(es: Elasticsearch, indices: Any, *, codes: Sequence[str] | None, period: Period) -> dict:
    """The service call the API and the admin share: pick the segments, run the search."""
    from segsearch.segments.store import SegmentStore
    stored = [{"code": s["code"], "name": s.get("name"), "customers_count": s.get("customers_count"),
               "available_in_analytics": s.get("available_in_analytics", False)}
              for s in SegmentStore(es, indices).scan()]
    return run(es, indices.customers, pick_segments(stored, codes), period)
