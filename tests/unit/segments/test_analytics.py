"""The pure parts of segment analytics: periods, buckets, the one search body."""
from __future__ import annotations

from datetime import date

import pytest

from segsearch.errors import Invalid
from segsearch.segments.analytics import BASELINE, analytics_body, deal, make_period, pick_segments

TODAY = date(2026, 11, 30)


@pytest.mark.parametrize("start,end,interval,first,last,count", [
    ("2025-01-15", "2025-03-02", "month", "2025-01-01", "2025-03-01", 3),
    ("2025-01-29", "2025-03-02", "week", "2025-01-27", "2025-02-24", 5),  # Mondays
    ("2024-02-28", "2024-03-01", "day", "2024-02-28", "2024-03-01", 3),  # 29 Feb included
    ("2024-12-31", "2025-01-01", "month", "2024-12-01", "2025-01-01", 2),
])
def test_buckets(start, end, interval, first, last, count):
    period = make_period(start=date.fromisoformat(start), end=date.fromisoformat(end),
                         interval=interval, tz="UTC", today=TODAY)
    starts = period.bucket_starts()
    assert (starts[0].isoformat(), starts[-1].isoformat(), len(starts)) == (first, last, count)


def test_defaults_are_twelve_months_to_today():
    period = make_period(start=None, end=None, interval=None, tz="UTC", today=TODAY)
    assert (period.start, period.end, period.interval) == (date(2025, 12, 1), TODAY, "month")
    assert len(period.bucket_starts()) == 12


@pytest.mark.parametrize("kwargs,field", [
    ({"start": date(2025, 2, 1), "end": date(2025, 1, 1)}, "from"),
    ({"start": date(2015, 1, 1), "end": date(2025, 1, 1)}, "from"),
    ({"start": date(2024, 1, 1), "end": date(2025, 6, 1), "interval": "day"}, "interval"),
    ({"interval": "year"}, "interval"),
    ({"statuses": [f"s{i}" for i in range(51)]}, "statuses"),
])
def test_bad_periods_name_the_parameter(kwargs, field):
    args = {"start": None, "end": None, "interval": None, "tz": "UTC", "today": TODAY, **kwargs}
    with pytest.raises(Invalid) as err:
        make_period(**args)
    assert field in err.value.errors


def test_the_body_is_one_search_with_a_baseline_and_zone_bounds():
    period = make_period(start=date(2025, 1, 1), end=date(2025, 1, 31), interval="week",
                         tz="Europe/Moscow", today=TODAY, statuses=["paid"])
    body = analytics_body(["a", "b", BASELINE], period)
    seg = body["aggs"]["seg"]
    assert set(seg["filters"]["filters"]) == {"a", "b", BASELINE}
    period_agg = seg["aggs"]["orders"]["aggs"]["period"]
    created = period_agg["filter"]["bool"]["filter"][0]["range"]["orders.created_at"]
    # Moscow midnight is 21:00 UTC the day before; the upper bound is exclusive
    assert (created["gte"], created["lt"]) == ("2024-12-31T21:00:00+00:00", "2025-01-31T21:00:00+00:00")
    assert period_agg["filter"]["bool"]["filter"][1] == {"terms": {"orders.status": ["paid"]}}
    hist = period_agg["aggs"]["hist"]["date_histogram"]
    assert (hist["calendar_interval"], hist["time_zone"]) == ("week", "Europe/Moscow")
    assert body["size"] == 0


def test_a_group_without_the_baseline_has_no_match_all():
    period = make_period(start=date(2025, 1, 1), end=date(2025, 1, 31), interval="month", tz="UTC", today=TODAY)
    assert set(analytics_body(["a"], period)["aggs"]["seg"]["filters"]["filters"]) == {"a"}
    assert set(analytics_body([], period)["aggs"]["seg"]["filters"]["filters"]) == {BASELINE}


@pytest.mark.parametrize(("counts", "parts", "groups"), [
    # the baseline weighs more than any segment (every customer), so it goes first
    ({"a": 10, "b": 5, "c": 4}, 2, [[BASELINE, "c"], ["a", "b"]]),
    ({"a": 10, "b": 9, "c": 8, "d": 1}, 2, [[BASELINE, "c", "d"], ["a", "b"]]),
    ({"a": 3}, 4, [[BASELINE], ["a"]]),  # never an empty search
    ({}, 2, [[BASELINE]]),
    ({"a": 3, "b": None}, 1, [[BASELINE, "a", "b"]]),  # a count not known yet weighs nothing
])
def test_deal_balances_membership(counts, parts, groups):
    segments = [{"code": c, "customers_count": n} for c, n in counts.items()]
    dealt = deal(segments, parts)
    assert dealt == groups
    assert sorted(c for g in dealt for c in g) == sorted([*counts, BASELINE])


def test_pick_segments():
    stored = [{"code": "b", "available_in_analytics": True}, {"code": "a", "available_in_analytics": True},
              {"code": "c"}]
    assert [s["code"] for s in pick_segments(stored, None)] == ["a", "b"]
    assert [s["code"] for s in pick_segments(stored, ["c", "a", "c"])] == ["c", "a"]
    with pytest.raises(Invalid) as err:
        pick_segments(stored, ["zz"])
    assert "codes" in err.value.errors
