"""A hostile client against the real app (issue 8, items 6-10; CONTRACT 2 and 6.6).

Every bad request is a 4xx in the one JSON error shape naming what is wrong, never a 5xx;
503 only when Elasticsearch or Redis cannot be reached.
"""
from __future__ import annotations

import base64
import json
import re

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, BadRequestError
from elasticsearch import ConnectionError as EsConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from segsearch import limits
from tests.conftest import ApiClient

pytestmark = pytest.mark.integration

CUSTOMER = {"id": "c1", "first_name": "Alice", "email": "alice@example.com"}
ORDER = {"id": "o1", "customer_id": "c1", "created_at": "2025-05-01T10:00:00Z",
         "status": "paid", "total": 10}
RULE = {"match": "all", "groups": [{"block": "customer", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
BELOW_YEAR_1 = "0001-01-01T00:00:00+01:00"
ABOVE_YEAR_9999 = "9999-12-31T23:59:59-01:00"


def is_error(r, status: int, *fields: str) -> None:
    """`r` is the JSON error shape with `status`, naming each of `fields`."""
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    body = r.json
    assert set(body) == {"code", "status", "message", "errors"}, body
    assert body["code"] == status
    for field in fields:
        assert field in body["errors"], (field, body["errors"])


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def json_routes(app) -> list[tuple[str, str]]:
    """(method, url) of every write route under /api/v1, placeholders filled in."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x1", rule.rule)
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH"}):
            out.append((method, url))
    return out


# -- item 6: nesting --------------------------------------------------------------------------
def test_deep_json_is_422_on_every_json_endpoint(app, api):
    routes = json_routes(app)
    assert len(routes) >= 10
    for method, url in routes:
        for body in (deep(1000), deep(limits.MAX_JSON_DEPTH + 1), deep(100_000)):
            r = api._call(method, url, data=body, content_type="application/json")
            is_error(r, 422)
            assert "nested deeper" in r.json["message"], (method, url)


def test_nesting_within_the_limit_still_works(api):
    r = api.put("/api/v1/customers/c1", json={**CUSTOMER, "tags": ["a"]})
    assert r.status_code == 201


# -- item 7: datetimes whose UTC value leaves years 1..9999 ----------------------------------
def test_feed_datetimes_out_of_range(api):
    for moment in (BELOW_YEAR_1, ABOVE_YEAR_9999):
        feed_datetime_out_of_range(api, moment)


def feed_datetime_out_of_range(api, moment):
    is_error(api.put("/api/v1/customers/c1", json={**CUSTOMER, "created_at": moment}),
             422, "created_at")
    is_error(api.put("/api/v1/customers/c1", json={**CUSTOMER, "last_email_opened_at": moment}),
             422, "last_email_opened_at")
    api.put("/api/v1/customers/c1", json=CUSTOMER)
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "created_at": moment}), 422, "created_at")
    r = api.post("/api/v1/customers/_bulk", json={"customers": [
        {"id": "c2"}, {"id": "c3", "created_at": moment}]})
    assert r.status_code == 200 and r.json["indexed"] == 1
    assert r.json["errors"][0]["id"] == "c3" and "created_at" in r.json["errors"][0]["errors"]


def test_segment_windows_and_list_filters_out_of_range(api):
    for moment in (BELOW_YEAR_1, ABOVE_YEAR_9999):
        for key in ("starts_at", "expires_at"):
            body = {"code": "s1", "name": "S", "rule": RULE, key: moment}
            is_error(api.post("/api/v1/segments", json=body), 422, key)
    for moment in (BELOW_YEAR_1, ABOVE_YEAR_9999, "0001-01-01", "9999-12-31"):
        for key in ("created_from", "created_to"):
            is_error(api.get("/api/v1/segments", query_string={key: moment}), 422, f"query.{key}")


def condition_rule(condition: dict, block: str = "customer") -> dict:
    return {"match": "all", "groups": [{"block": block, "conditions": [condition]}]}


RULE_DATES = [
    ({"field": "created_at", "op": "between", "from": "0001-01-01"}, "from"),
    ({"field": "birthday", "op": "between", "to": "9999-12-31"}, "to"),
    ({"field": "created_at", "op": "relative", "from_days": -10**9}, "from_days"),
    ({"field": "birthday", "op": "relative", "to_days": 10**7}, "to_days"),
]


def test_rule_dates_out_of_range(api):
    for condition, path in RULE_DATES:
        r = api.post("/api/v1/segments/preview", json={"rule": condition_rule(condition)})
        is_error(r, 422, f"rule.groups.0.conditions.0.{path}")


# -- item 8: values the index refuses -------------------------------------------------------
@pytest.fixture
def custom(api):
    for code, kind in (("n", "integer"), ("d", "decimal"), ("s", "string")):
        r = api.put(f"/api/v1/custom-fields/{code}", json={"label": code, "type": kind})
        assert r.status_code == 201, r.json


CUSTOM_VALUES = [("n", 2**63), ("n", -(2**63) - 1), ("n", 10**30), ("d", 10**400),
                 ("s", "x" * (limits.MAX_KEYWORD_CHARS + 1)), ("s", "ж" * 9000)]


def test_custom_values_the_index_cannot_hold(api, custom):
    for code, value in CUSTOM_VALUES:
        custom_value_refused(api, code, value)
    for raw in ("1e400", "NaN", "Infinity", "-Infinity"):
        body = '{"id": "c1", "custom": {"d": ' + raw + '}}'  # not JSON-encodable in Python
        r = api.put("/api/v1/customers/c1", data=body, content_type="application/json")
        is_error(r, 422, "custom.d")


def custom_value_refused(api, code, value):
    r = api.put("/api/v1/customers/c1", json={**CUSTOMER, "custom": {code: value}})
    is_error(r, 422, f"custom.{code}")
    r = api.post("/api/v1/customers/_bulk", json={"customers": [
        {"id": "c2"}, {"id": "c3", "custom": {code: value}}]})
    assert r.status_code == 200 and r.json["indexed"] == 1, r.json
    assert f"custom.{code}" in r.json["errors"][0]["errors"]


def test_money_the_index_cannot_hold(api):
    api.put("/api/v1/customers/c1", json=CUSTOMER)
    for total in ("1e400", "NaN", "Infinity", 1e300, "92233720368547758.08", 10**20, "1e-400"):
        money_refused(api, total)


def money_refused(api, total):
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "total": total}), 422, "total")
    item = {"product_id": "p1", "quantity": 1, "price": total}
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "items": [item]}), 422, "items.0.price")
    r = api.post("/api/v1/orders/_bulk", json={"orders": [ORDER, {**ORDER, "id": "o2",
                                                                   "total": total}]})
    assert r.status_code == 200 and r.json["indexed"] == 1, r.json
    is_error(api.put("/api/v1/products/p1", json={"name": "P", "price": total}), 422, "price")


LONG_CUSTOMERS = [
    ({**CUSTOMER, "first_name": "x" * 40000}, "first_name"),
    ({**CUSTOMER, "email": "a" * 40000 + "@example.com"}, "email"),
    ({**CUSTOMER, "tags": ["t"] * (limits.MAX_TAGS + 1)}, "tags"),
    ({**CUSTOMER, "tags": ["x" * 40000]}, "tags.0"),
]


def test_long_keywords_and_lists(api):
    for body, field in LONG_CUSTOMERS:
        is_error(api.put("/api/v1/customers/c1", json=body), 422, field)
    api.put("/api/v1/customers/c1", json=CUSTOMER)
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "status": "x" * 40000}), 422, "status")
    items = [{"product_id": "p1", "quantity": 1}] * (limits.MAX_ORDER_ITEMS + 1)
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "items": items}), 422, "items")
    is_error(api.put("/api/v1/products/p1", json={"name": "x" * 40000}), 422, "name")


def test_rule_terms_too_long_or_too_many(api):
    long_term = {"field": "city", "op": "in", "include": ["x" * 40000]}
    is_error(api.post("/api/v1/segments/preview", json={"rule": condition_rule(long_term)}),
             422, "rule.groups.0.conditions.0.include.0")
    many = {"field": "city", "op": "in", "exclude": [f"c{i}" for i in range(limits.MAX_TERMS + 1)]}
    is_error(api.post("/api/v1/segments/preview", json={"rule": condition_rule(many)}),
             422, "rule.groups.0.conditions.0.exclude")
    where = {"field": "orders", "op": "count", "min": 1,
             "where": {"statuses": [f"s{i}" for i in range(limits.MAX_TERMS + 1)]}}
    is_error(api.post("/api/v1/segments/preview", json={"rule": condition_rule(where, "orders")}),
             422, "rule.groups.0.conditions.0.where.statuses")
    store = {"rule": RULE, "store": "x" * 40000}
    is_error(api.post("/api/v1/segments/preview", json=store), 422, "store")


# -- item 9: client errors are 4xx, not 503 ---------------------------------------------------
LIST_ARGS = [({"min_customers": 2**31}, "query.min_customers"),
             ({"max_customers": 10**20}, "query.max_customers"),
             ({"user_group": "x" * 40000}, "query.user_group"),
             ({"store": "x" * 40000}, "query.store")]
RULE_NUMBERS = [
    ({"field": "orders", "op": "count", "min": 10**20}, "orders", "min"),
    ({"field": "orders", "op": "count", "max": 2**31}, "orders", "max"),
    ({"field": "orders_count", "op": "between", "from": 2**31}, "orders", "from"),
    ({"field": "total_spent", "op": "between", "to": 10**400}, "orders", "to"),
    ({"field": "age", "op": "between", "from": 10**20}, "customer", "from"),
]


def test_segment_list_arguments_out_of_range(api):
    for query, field in LIST_ARGS:
        is_error(api.get("/api/v1/segments", query_string=query), 422, field)


def test_rule_numbers_out_of_range(api):
    for condition, block, path in RULE_NUMBERS:
        r = api.post("/api/v1/segments/preview", json={"rule": condition_rule(condition, block)})
        is_error(r, 422, f"rule.groups.0.conditions.0.{path}")


def test_custom_integer_between_beyond_long(api, custom):
    cond = {"field": "custom.n", "op": "between", "from": 2**63}
    r = api.post("/api/v1/segments/preview", json={"rule": condition_rule(cond)})
    is_error(r, 422, "rule.groups.0.conditions.0.from")
    cond = {"field": "custom.n", "op": "between", "from": 2**40, "to": 2**62}
    assert api.post("/api/v1/segments/preview", json={"rule": condition_rule(cond)}).status_code == 200


def forged(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


CURSORS = [
    "!!!", "bm90IGpzb24", forged({"sort": "-created_at", "after": ["zz", {"a": 1}]}),
    forged({"sort": "-created_at", "after": [10**30, "a"]}), forged(["x" * 40000, 1]),
    forged({"sort": "customers_count", "after": [2**40, "a"]}),
    forged({"sort": "id", "after": ["x" * 40000]}), forged([[1], [2]]), forged([None, None]),
    forged({"sort": "-created_at", "after": []}), forged([[[[1]]]]),
    base64.urlsafe_b64encode(("[" * 5000 + "]" * 5000).encode()).decode(),
]


def test_forged_cursors(api):
    for url in ("/api/v1/segments", "/api/v1/customers", "/api/v1/webhooks",
                "/api/v1/notifications"):
        for cursor in CURSORS:
            is_error(api.get(url, query_string={"cursor": cursor}), 422, "query.cursor")


def test_segment_cursor_round_trip_still_works(api):
    for code in ("a1", "a2", "a3"):  # the last one's refresh (1 shard) shows all three
        body = {"code": code, "name": code, "rule": RULE}
        url = "/api/v1/segments?refresh=wait_for" if code == "a3" else "/api/v1/segments"
        assert api.post(url, json=body).status_code == 201
    for sort in ("-created_at", "name", "customers_count", "-last_formed_at", "code"):
        first = api.get("/api/v1/segments", query_string={"page_size": 2, "sort": sort}).json
        rest = api.get("/api/v1/segments", query_string={
            "page_size": 2, "sort": sort, "cursor": first["next_cursor"]})
        assert rest.status_code == 200, rest.json
        assert len(first["items"]) + len(rest.json["items"]) == 3


def _api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(),
                           duration=0.0, node=NodeConfig("http", "127.0.0.1", 9200))
    return (BadRequestError if status == 400 else ApiError)("boom", meta, {"error": "x"})


BACKEND_ERRORS = [
    (EsConnectionError("refused"), 503, "Elasticsearch"),
    (_api_error(502), 503, "Elasticsearch"),
    (_api_error(503), 503, "Elasticsearch"),
    (_api_error(400), 422, None),
    (_api_error(500), 500, None),
    (RedisConnectionError("refused"), 503, "Redis"),
    (RedisTimeoutError("slow"), 503, "Redis"),
]


def test_backend_errors_map_to_statuses(app, api, monkeypatch):
    # The real outages are exercised by the fault tests; here each exception class the
    # client libraries raise is mapped, through the real app and its error handlers.
    for exc, status, names in BACKEND_ERRORS:
        def fail(*args, exc=exc, **kwargs):
            raise exc
        monkeypatch.setattr(app.extensions["segsearch"].feed, "get_customer", fail)
        r = api.get("/api/v1/customers/c1")
        is_error(r, status)
        if names:
            assert names in r.json["message"]


# -- item 10: page sizes, body size, ids, parents, 405, 404 ----------------------------------
def test_history_page_size(api):
    for url in ("/api/v1/customers/c1/segment-history", "/api/v1/segments/s1/history",
                "/api/v1/segments/s1/dynamics"):
        for size in ("abc", "0", "1001", "-5", "1e3", str(2**70)):
            is_error(api.get(url, query_string={"page_size": size}), 422, "query.page_size")
        assert api.get(url, query_string={"page_size": 1000}).status_code == 200


@pytest.fixture
def small_api(prefix, redis_conn):
    from segsearch import create_app
    from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient
    app = create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "INDEX_PREFIX": prefix,
                      "BOOTSTRAP_TOKEN": ADMIN_TOKEN, "MAX_BODY_BYTES": 4096})
    app.config["TESTING"] = True
    return ApiClient(app)


def test_body_size_limit(small_api):
    ok = {**CUSTOMER, "first_name": "x" * 100}
    assert small_api.put("/api/v1/customers/c1", json=ok).status_code == 201
    big = {**CUSTOMER, "first_name": "x" * 5000}
    is_error(small_api.put("/api/v1/customers/c1", json=big), 413)
    bulk = {"customers": [{"id": f"c{i}"} for i in range(500)]}
    is_error(small_api.post("/api/v1/customers/_bulk", json=bulk), 413)
    is_error(small_api.post("/api/v1/segments", json={"code": "s", "name": "x" * 5000}), 413)


def test_default_body_limit_is_16_mib(app):
    assert app.config["SEGSEARCH"]["MAX_BODY_BYTES"] == 16 * 1024 * 1024


BAD_IDS = ["a\x00b", "a\n", "a\u202eb", "=cmd()", "_bulk", "-1", "a b", "a/b", "é", "x" * 129, ""]


def test_body_ids_follow_the_alphabet(api):
    api.put("/api/v1/customers/c1", json=CUSTOMER)
    for bad in BAD_IDS:
        body_id_refused(api, bad)


def body_id_refused(api, bad):
    r = api.post("/api/v1/customers/_bulk", json={"customers": [{"id": bad}]})
    assert r.status_code == 200 and r.json["indexed"] == 0 and "id" in r.json["errors"][0]["errors"]
    r = api.post("/api/v1/orders/_bulk", json={"orders": [{**ORDER, "id": bad}]})
    assert r.json["indexed"] == 0 and "id" in r.json["errors"][0]["errors"]
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "customer_id": bad}), 422, "customer_id")
    item = {"product_id": bad, "quantity": 1}
    is_error(api.put("/api/v1/orders/o1", json={**ORDER, "items": [item]}), 422, "items.0.product_id")
    is_error(api.put("/api/v1/products/p1", json={"name": "P", "groups": [bad]}), 422, "groups.0")
    is_error(api.put("/api/v1/product-groups/g1", json={"name": "G", "parent_id": bad}),
             422, "parent_id")
    members = {"customer_ids": [bad]}
    body = {"code": "s1", "name": "S", "type": "static", "members": members}
    is_error(api.post("/api/v1/segments", json=body), 422, "members.customer_ids.0")


def test_path_ids_follow_the_alphabet(api):
    for bad in ("a%00b", "a%0A", "a%E2%80%AEb", "=cmd()", "x" * 129, "%C3%A9"):
        path_id_refused(api, bad)


def path_id_refused(api, bad):
    for method, url, name in (("PUT", f"/api/v1/customers/{bad}", "customer_id"),
                              ("GET", f"/api/v1/customers/{bad}", "customer_id"),
                              ("DELETE", f"/api/v1/customers/{bad}", "customer_id"),
                              ("PUT", f"/api/v1/orders/{bad}", "order_id"),
                              ("PUT", f"/api/v1/products/{bad}", "product_id"),
                              ("PUT", f"/api/v1/product-groups/{bad}", "group_id"),
                              ("GET", f"/api/v1/customers/{bad}/segment-history", "customer_id"),
                              ("POST", f"/api/v1/customers/{bad}/user-groups/VIP", "customer_id")):
        body = {"name": "x"} if method == "PUT" else None
        is_error(api._call(method, url, json=body), 422, f"path.{name}")


def test_a_bad_path_id_is_checked_after_the_caller(api):
    """Without a token a bad path id is a 401, with the wrong role a 403: the 422 that
    names the parameter is only for a caller allowed to use the route."""
    anonymous, viewer = ApiClient(api.app, None), api.as_role("viewer")
    for method, url in (("GET", "/api/v1/customers/=cmd()"), ("PUT", "/api/v1/orders/a%00b"),
                        ("GET", "/api/v1/customers/%C3%A9/segment-history")):
        body = {"name": "x"} if method == "PUT" else None
        assert anonymous._call(method, url, json=body).status_code == 401, url
    assert viewer._call("PUT", "/api/v1/orders/a%00b", json={"name": "x"}).status_code == 403
    is_error(viewer.get("/api/v1/customers/=cmd()"), 422, "path.customer_id")


def test_good_ids_still_work(api):
    for cid in ("c1", "C-1.a_b:c@d", "0" * 128):
        assert api.put(f"/api/v1/customers/{cid}", json={}).status_code == 201


def test_group_parent_must_exist(api):
    is_error(api.put("/api/v1/product-groups/g1", json={"name": "G", "parent_id": "nope"}),
             422, "parent_id")
    assert api.put("/api/v1/product-groups/root", json={"name": "R"}).status_code == 201
    r = api.put("/api/v1/product-groups/g1", json={"name": "G", "parent_id": "root"})
    assert r.status_code == 201


def test_demo_tree_loads_in_order(feed):
    from segsearch.feed.loader import load_catalog
    groups = [{"id": "b", "name": "B", "parent_id": "a"}, {"id": "a", "name": "A", "parent_id": None}]
    load_catalog(feed, product_groups=groups)
    assert set(feed.catalog.parents()) == {"a", "b"}


def test_405_carries_allow_and_json(api):
    r = api.patch("/api/v1/customers/c1", json={})
    is_error(r, 405)
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}


def test_unknown_api_url_is_json_404(api):
    is_error(api.get("/api/v1/no-such-thing"), 404)
    is_error(api.post("/api/v1/customers/c1/nothing", json={}), 404)


def test_malformed_json_is_422(api):
    r = api.put("/api/v1/customers/c1", data="{", content_type="application/json")
    is_error(r, 422)
    r = api.post("/api/v1/segments", data="{", content_type="application/json")
    is_error(r, 422)
