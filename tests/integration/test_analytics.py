"""Analytics with a segment axis (CONTRACT 6.9) on the real node, against tests/oracle/analytics.py.

Segments are formed by the real engine; the expected figures come from the oracle's own
reading of the raw dataset (members decided by the oracle evaluator, days taken in the
configured time zone), so a wrong day boundary, a lost bucket or a wrong baseline shows up.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient
from tests.oracle.analytics import figures
from tests.oracle.strategies import datasets, rules

pytestmark = pytest.mark.integration

CUSTOMERS = [
    {"id": "c1", "city": "Moscow", "store": "online"},
    {"id": "c2", "city": "Moscow", "store": "shop"},
    {"id": "c3", "city": "Kazan", "store": "online"},
    {"id": "c4", "city": "Kazan", "store": "shop"},
]
# Day boundaries: 22:30 UTC on 31 Jan is 1 Feb in Moscow; 03:00 UTC on 1 Mar is still
# 28 Feb in New York. Totals with cents that float sums would smear.
ORDERS = [
    {"id": "o1", "customer_id": "c1", "created_at": "2025-01-31T22:30:00Z", "status": "paid", "total": 10.10},
    {"id": "o2", "customer_id": "c1", "created_at": "2025-03-01T03:00:00Z", "status": "new", "total": 0.20},
    {"id": "o3", "customer_id": "c2", "created_at": "2025-02-15T12:00:00Z", "status": "paid", "total": 99.99},
    {"id": "o4", "customer_id": "c3", "created_at": "2025-01-01T00:30:00+03:00", "status": "cancelled",
     "total": 5.00},
    {"id": "o5", "customer_id": "c4", "created_at": "2024-12-31T23:59:59Z", "status": "paid", "total": 1.01},
    {"id": "o6", "customer_id": "c3", "created_at": "2025-06-30T20:59:59Z", "status": "paid", "total": 0.01},
]
MOSCOW = {"match": "all", "groups": [{"block": "customer", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
ONLINE = {"match": "all", "groups": [{"block": "customer", "conditions": [
    {"field": "store", "op": "in", "include": ["online"]}]}]}


_runs = itertools.count(1)
_seen: dict[str, dict] = {}


@pytest.fixture(autouse=True)
def _forget_seen():
    """A test's index set may be a pooled one an earlier test used (and emptied)."""
    _seen.clear()


def make_api(prefix: str, tz: str) -> ApiClient:
    from segsearch import create_app
    app = create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "INDEX_PREFIX": prefix,
                      "BOOTSTRAP_TOKEN": ADMIN_TOKEN, "TIMEZONE": tz})
    app.config["TESTING"] = True
    return ApiClient(app)


def form(api: ApiClient, code: str, rule: dict, flagged: bool = True) -> None:
    from segsearch.segments.engine import Engine
    r = api.post("/api/v1/segments?refresh=wait_for", json={
        "code": code, "name": code.title(), "rule": rule, "available_in_analytics": flagged})
    assert r.status_code == 201, r.json
    Engine(api.app.extensions["segsearch"]).form(code, "created")


def compare(row: dict, expected: dict, buckets: list[str]) -> None:
    assert row["customers"] == expected["customers"]
    assert (row["orders"], row["buyers"]) == (expected["orders"], expected["buyers"])
    assert Decimal(str(row["revenue"])) == expected["revenue"]
    aov = expected["average_order_value"]
    assert row["average_order_value"] == (None if aov is None else float(aov))
    assert [b["start"] for b in row["series"]] == buckets
    for b in row["series"]:
        want = expected["series"].get(dt.date.fromisoformat(b["start"]))
        got = (b["orders"], b["buyers"], Decimal(str(b["revenue"])))
        assert got == ((want["orders"], want["buyers"], want["revenue"]) if want else (0, 0, 0)), b["start"]


# Each period in the zone whose day boundaries it tests (22:30 UTC on 31 Jan is 1 Feb in
# Moscow; 03:00 UTC on 1 Mar is 28 Feb in New York); the generated test mixes them further.
@pytest.mark.parametrize("tz,interval,start,end,statuses", [
    ("UTC", "month", "2025-01-01", "2025-06-30", None),
    ("Europe/Moscow", "month", "2025-01-01", "2025-06-30", None),
    ("America/New_York", "week", "2025-01-29", "2025-03-02", None),
    ("Europe/Moscow", "day", "2025-01-31", "2025-02-01", None),
    ("America/New_York", "day", "2025-02-28", "2025-03-01", None),
    ("UTC", "month", "2024-12-31", "2025-12-31", ["paid"]),
])
def test_figures_equal_the_oracle(prefix, feed, tz, interval, start, end, statuses):
    api = make_api(prefix, tz)
    feed.import_dataset(customers=CUSTOMERS, orders=ORDERS)
    form(api, "moscow", MOSCOW)
    form(api, "online", ONLINE)
    form(api, "hidden", ONLINE, flagged=False)
    query = f"from={start}&to={end}&interval={interval}"
    if statuses:
        query += "&statuses=" + ",".join(statuses)
    r = api.get(f"/api/v1/analytics/segments?{query}")
    assert r.status_code == 200, r.json
    body = r.json
    assert [s["code"] for s in body["segments"]] == ["moscow", "online"]  # flagged ones only
    period = {"start": dt.date.fromisoformat(start), "end": dt.date.fromisoformat(end),
                  "interval": interval, "tz": tz, "statuses": statuses}
    members = {"moscow": {"c1", "c2"}, "online": {"c1", "c3"}}
    for row in body["segments"]:
        compare(row, figures(members[row["code"]], ORDERS, **period), body["buckets"])
    compare(body["baseline"], figures({c["id"] for c in CUSTOMERS}, ORDERS, **period), body["buckets"])
    assert body["timezone"] == tz and body["interval"] == interval


def test_codes_choose_segments_and_bad_requests_name_the_parameter(prefix, feed):
    api = make_api(prefix, "UTC")
    feed.import_dataset(customers=CUSTOMERS, orders=ORDERS)
    form(api, "hidden", ONLINE, flagged=False)
    r = api.get("/api/v1/analytics/segments?codes=hidden&from=2025-01-01&to=2025-12-31")
    assert r.status_code == 200 and [s["code"] for s in r.json["segments"]] == ["hidden"]
    assert r.json["segments"][0]["customers"] == 2
    bad = {
        "from=2025-02-01&to=2025-01-01": "from",
        "from=2015-01-01&to=2025-01-01": "from",
        "from=2020-01-01&to=2025-01-01&interval=day": "interval",
        "interval=year": "query.interval",
        "from=2025-13-01": "query.from",
        "codes=nope": "codes",
        "codes=" + ",".join(f"s{i}" for i in range(21)): "codes",
    }
    for query, field in bad.items():
        r = api.get(f"/api/v1/analytics/segments?{query}")
        assert r.status_code == 422, (query, r.json)
        assert field in r.json["errors"], (query, r.json)
    # defaults: twelve calendar months up to today, monthly
    r = api.get("/api/v1/analytics/segments")
    assert r.status_code == 200 and len(r.json["buckets"]) == 12 and r.json["segments"] == []
    viewer = api.as_role("viewer")
    assert viewer.get("/api/v1/analytics/segments").status_code == 200
    assert api.as_role("ingest").get("/api/v1/analytics/segments").status_code == 403


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_generated_data_and_rules(prefix, feed, data):
    dataset = data.draw(datasets(), label="dataset")
    tz = data.draw(st.sampled_from(["UTC", "Europe/Moscow", "America/New_York"]), label="tz")
    api = make_api(prefix, tz)
    run = f"g{next(_runs)}-"
    es = api.app.extensions["segsearch"].es
    # Each example's customers and orders get their own id prefix (one index set per test).
    customers = [{**c, "id": run + c["id"]} for c in dataset["customers"]]
    orders = [{**o, "id": run + o["id"], "customer_id": run + o["customer_id"]} for o in dataset["orders"]]
    # Rules see every example's customers in this index set: the expectation does too.
    seen = _seen.setdefault(feed.indices.customers, {"ids": set(), "orders": []})
    first = not seen["ids"]
    seen["ids"].update(c["id"] for c in customers)
    seen["orders"].extend(orders)
    feed.import_dataset(product_groups=dataset["product_groups"] if first else [],
                        products=dataset["products"] if first else [],
                        custom_fields=dataset["custom_fields"], customers=customers, orders=orders)
    members = {}
    for i in range(2):
        rule = data.draw(rules(dataset), label=f"rule {i}")
        code = f"{run}{i}"
        form(api, code, rule)
        es.indices.refresh(index=feed.indices.customers)
        stored = {h["_id"] for h in es.search(index=feed.indices.customers, size=1000, _source=False,
                                              query={"term": {"segments": code}})["hits"]["hits"]}
        members[code] = stored
    start = data.draw(st.dates(dt.date(2023, 1, 1), dt.date(2025, 12, 31)), label="from")
    end = start + dt.timedelta(days=data.draw(st.integers(0, 700), label="days"))
    interval = data.draw(st.sampled_from(["month", "week"]), label="interval")
    r = api.get(f"/api/v1/analytics/segments?from={start}&to={end}&interval={interval}"
                f"&codes={','.join(members)}")
    assert r.status_code == 200, r.json
    period = {"start": start, "end": end, "interval": interval, "tz": tz}
    for row in r.json["segments"]:
        compare(row, figures(members[row["code"]], seen["orders"], **period), r.json["buckets"])
    compare(r.json["baseline"], figures(seen["ids"], seen["orders"], **period), r.json["buckets"])
