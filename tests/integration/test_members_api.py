"""The customer list (members of a segment, filters, cursor paging) and the streamed CSV
export of a segment, against the real node through the API."""
from __future__ import annotations

import csv
import io
import time

import pytest
from elasticsearch import NotFoundError

from segsearch.segments.export import COLUMNS, export_csv
from segsearch.segments.membership import MembershipWriter
from tests.conftest import ApiClient

pytestmark = pytest.mark.integration

RULE = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
MOSCOW = {"term": {"city": "Moscow"}}


def make_segment(api, feed, code: str = "moscow", target: dict | None = MOSCOW,
                 user_group: str | None = None) -> None:
    """A stored segment whose members are put in directly (no worker needed)."""
    r = api.post("/api/v1/segments", json={"code": code, "name": code, "rule": RULE,
                                          "user_group": user_group})
    assert r.status_code == 201, r.json
    MembershipWriter(feed, {code: user_group}).apply(code, target)


def people(n: int, city: str, start: int = 0, **extra) -> list[dict]:
    return [{"id": f"c{i:06d}", "city": city, "store": "online", **extra}
            for i in range(start, start + n)]


def pages(api, url: str) -> list[dict]:
    out, cursor = [], None
    while True:
        page = api.get(url + (f"&cursor={cursor}" if cursor else "")).json
        out.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# -- the list --------------------------------------------------------------------------------
def test_pages_through_a_segment_exactly_once(api, feed):
    feed.import_dataset(customers=people(2345, "Moscow") + people(100, "Kazan", start=5000))
    make_segment(api, feed, user_group="VIP")
    got = pages(api, "/api/v1/customers?segment=moscow&page_size=1000")
    assert [len(p["items"]) for p in got] == [1000, 1000, 345]
    assert all(p["total"] == 2345 for p in got)
    ids = [c["id"] for p in got for c in p["items"]]
    assert len(set(ids)) == 2345 and ids == sorted(ids)
    assert set(ids) == {f"c{i:06d}" for i in range(2345)}
    first = got[0]["items"][0]
    assert "orders" not in first and "birthday_md" not in first
    assert first["segments"] == ["moscow"] and first["user_groups"] == ["VIP"]


def test_default_page_size_and_all_customers(api, feed):
    feed.import_dataset(customers=people(60, "Kazan"))
    page = api.get("/api/v1/customers").json
    assert len(page["items"]) == 50 and page["total"] == 60 and page["next_cursor"]
    rest = api.get(f"/api/v1/customers?cursor={page['next_cursor']}").json
    assert len(rest["items"]) == 10 and rest["next_cursor"] is None


def test_filters(api, feed):
    feed.import_dataset(customers=[
        {"id": "a1", "first_name": "Anna", "last_name": "Petrova", "email": "Anna@Example.com",
         "city": "Moscow", "store": "online"},
        {"id": "a2", "first_name": "Boris", "last_name": "Annenkov", "email": "boris@example.com",
         "city": "Moscow", "store": "shop-1"},
        {"id": "b1", "first_name": "Vera", "last_name": "Ivanova", "email": "vera@mail.ru",
         "city": "Kazan", "store": "online"},
    ])
    api.post("/api/v1/customers/b1/user-groups/Loyal?refresh=wait_for")

    def ids(query: str) -> list[str]:
        r = api.get(f"/api/v1/customers?{query}")
        assert r.status_code == 200, r.json
        assert r.json["total"] == len(r.json["items"])
        return [c["id"] for c in r.json["items"]]

    assert ids("city=Moscow") == ["a1", "a2"]
    assert ids("city=Moscow&store=online") == ["a1"]
    assert ids("store=online") == ["a1", "b1"]
    assert ids("email=anna@example.COM") == ["a1"]  # exact, any case
    assert ids("email=anna") == []
    assert ids("user_group=Loyal") == ["b1"]
    assert ids("q=ann") == ["a1", "a2"]  # first name, last name or email prefix, any case
    assert ids("q=ANN%20pet") == ["a1"]  # every word must match
    assert ids("q=vera@") == ["b1"]
    assert ids("q=a") == ["a1", "a2"]  # id prefix too ("a..."), and "Anna"/"Annenkov"
    assert ids("q=zzz") == []
    make_segment(api, feed)
    assert ids("segment=moscow&store=shop-1") == ["a2"]


def test_unknown_segment_is_404(api):
    r = api.get("/api/v1/customers?segment=nope")
    assert r.status_code == 404 and r.json["code"] == 404
    r = api.get("/api/v1/segments/nope/export.csv")
    assert r.status_code == 404 and r.json["code"] == 404 and r.is_json


@pytest.mark.parametrize("query, field", [
    ("page_size=0", "query.page_size"), ("page_size=1001", "query.page_size"),
    ("page_size=lots", "query.page_size"), ("cursor=not-a-cursor", "query.cursor"),
    ("cursor=eyJzb3J0IjoiY29kZSIsImFmdGVyIjpbIngiXX0", "query.cursor"),  # a segment-list cursor
    ("q=", "query.q"),
])
def test_bad_parameters_are_422(api, query, field):
    r = api.get(f"/api/v1/customers?{query}")
    assert r.status_code == 422, r.json
    assert field in r.json["errors"]


def test_roles(api, feed):
    make_segment(api, feed, target=None)
    ingest, viewer = api.as_role("ingest"), api.as_role("viewer")
    anonymous, forged = ApiClient(api.app, token=None), ApiClient(api.app, token="forged")
    for url in ("/api/v1/customers", "/api/v1/segments/moscow/export.csv"):
        assert ingest.get(url).status_code == 403
        assert viewer.get(url).status_code == 200
        assert anonymous.get(url).status_code == 401
        assert forged.get(url).status_code == 401


# -- the export --------------------------------------------------------------------------------
TRICKY = [
    {"id": "t1", "first_name": 'Smith, "Jr"\nII', "last_name": "=HYPERLINK(\"http://x\")",
     "email": "t1@example.com", "phone": "+7 916 000-00-00", "city": "Moscow", "store": "online",
     "manager": "@SUM(A1)", "tags": ["=cmd", "b;c"], "vip": True, "sex": "female",
     "birthday": "1990-02-28", "created_at": "2024-01-10T09:00:00+03:00",
     "email_subscribed": False, "source": "-2+3"},
    {"id": "t2", "first_name": "Ольга", "city": "Moscow"},
    {"id": "t3", "city": "Kazan"},
]
ORDERS = [{"id": "o1", "customer_id": "t1", "created_at": "2025-05-01T10:00:00Z", "status": "paid",
           "total": "25.00"},
          {"id": "o2", "customer_id": "t1", "created_at": "2025-06-01T10:00:00Z", "status": "new",
           "total": "12.50"}]


def test_export_is_the_members_as_parseable_csv(api, feed):
    feed.import_dataset(customers=TRICKY, orders=ORDERS)
    make_segment(api, feed, user_group="VIP")
    api.post("/api/v1/customers/t1/user-groups/Loyal?refresh=wait_for")
    r = api.get("/api/v1/segments/moscow/export.csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert r.headers["Content-Disposition"] == 'attachment; filename="moscow.csv"'
    text = r.get_data(as_text=True)
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    rows = {row["id"]: row for row in parse(text)}
    assert set(rows) == {"t1", "t2"}
    t1 = rows["t1"]
    assert t1["first_name"] == 'Smith, "Jr"\nII'  # comma, quote and newline survive
    # formula-injection guard: a cell a spreadsheet would run starts with a quote
    assert t1["last_name"] == "'=HYPERLINK(\"http://x\")"
    assert t1["manager"] == "'@SUM(A1)" and t1["source"] == "'-2+3"
    assert t1["phone"] == "+7 916 000-00-00"  # a phone cannot call a function: left as it is
    assert t1["tags"] == "'=cmd;b;c"
    assert t1["user_groups"] == "Loyal;VIP"
    assert (t1["vip"], t1["email_subscribed"], t1["sms_subscribed"]) == ("true", "false", "")
    assert (t1["orders_count"], t1["total_spent"], t1["average_order_value"]) == ("2", "37.5", "18.75")
    assert t1["birthday"] == "1990-02-28" and t1["created_at"].startswith("2024-01-10T06:00:00")
    assert t1["last_order_at"].startswith("2025-06-01T10:00:00")
    assert rows["t2"]["first_name"] == "Ольга" and rows["t2"]["orders_count"] == "0"


def test_empty_segment_exports_the_header_only(api, feed):
    feed.import_dataset(customers=TRICKY)
    make_segment(api, feed, target=None)
    r = api.get("/api/v1/segments/moscow/export.csv")
    assert r.status_code == 200 and r.get_data(as_text=True) == ",".join(COLUMNS) + "\r\n"


def test_export_pages_and_closes_its_pit_when_abandoned(api, feed, es, indices, monkeypatch):
    feed.import_dataset(customers=people(25, "Moscow"))
    make_segment(api, feed)
    opened, closed = [], []
    real_open, real_close = es.open_point_in_time, es.close_point_in_time
    monkeypatch.setattr(es, "open_point_in_time",
                        lambda **kw: opened.append(real_open(**kw)["id"]) or {"id": opened[-1]})
    monkeypatch.setattr(es, "close_point_in_time",
                        lambda **kw: closed.append(kw["id"]) or real_close(**kw))
    # read to the end in pages of 10: header + 3 chunks, every member once
    text = "".join(export_csv(es, indices.customers, "moscow", page_size=10))
    assert sorted(r["id"] for r in parse(text)) == [f"c{i:06d}" for i in range(25)]
    assert len(opened) == len(closed) == 1
    # abandoned after the first page (a client that disconnects): the PIT is released
    chunks = export_csv(es, indices.customers, "moscow", page_size=10)
    next(chunks), next(chunks)
    chunks.close()
    assert len(closed) == 2
    with pytest.raises(NotFoundError):  # the node no longer knows it
        es.search(pit={"id": closed[-1]}, size=1)
    # abandoned before the first byte left
    export_csv(es, indices.customers, "moscow").close()
    assert len(opened) == len(closed) == 3


def test_http_stream_closed_early_releases_the_pit(api, feed, monkeypatch):
    feed.import_dataset(customers=people(5000, "Moscow"))
    make_segment(api, feed)
    closed = []
    svc_es = api.app.extensions["segsearch"].es  # the app's own client
    real_close = svc_es.close_point_in_time
    monkeypatch.setattr(svc_es, "close_point_in_time",
                        lambda **kw: closed.append(kw["id"]) or real_close(**kw))
    r = api.http.get("/api/v1/segments/moscow/export.csv", buffered=False,
                     headers={"Authorization": f"Bearer {api.token}"})
    stream = iter(r.response)
    assert next(stream).decode().startswith("id,type,")
    next(stream)  # one page out of three
    r.close()
    assert len(closed) == 1


def test_large_export_streams(api, feed):
    n = 30_000
    started = time.perf_counter()
    feed.import_dataset(customers=[{**c, "first_name": f"Name{i}", "email": f"u{i}@example.com",
                                    "tags": ["a", "b"], "vip": i % 2 == 0}
                                   for i, c in enumerate(people(n, "Moscow"))]
                        + people(1000, "Kazan", start=n))
    make_segment(api, feed)
    print(f"\n  setup: {n} members in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    r = api.http.get("/api/v1/segments/moscow/export.csv", buffered=False,
                     headers={"Authorization": f"Bearer {api.token}"})
    ids, chunks, tail = set(), 0, ""
    for chunk in r.response:  # consumed as it streams, never held whole
        chunks += 1
        lines = (tail + chunk.decode()).split("\r\n")
        tail = lines.pop()
        ids.update(line.split(",", 1)[0] for line in lines)
    r.close()
    elapsed = time.perf_counter() - started
    ids.discard("id")
    assert tail == "" and len(ids) == n and chunks > n // 2000
    print(f"  export: {n} rows in {elapsed:.2f}s = {n / elapsed:,.0f} rows/s ({chunks} chunks)")
