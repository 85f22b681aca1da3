"""POST /api/v1/segments/explain (CONTRACT 6.3): hand cases through the API.

(The property test in test_explain_property.py compares explain with the oracle on
generated data; these cases pin the exact response shape and the error statuses.)
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

URL = "/api/v1/segments/explain"
PAID = {"statuses": ["paid"]}
RULE = {"match": "any", "groups": [
    {"block": "customer", "negate": True, "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow"]},
        {"field": "vip", "op": "is", "value": True}]},
    {"block": "orders", "match": "any", "conditions": [
        {"field": "orders", "op": "count", "min": 2, "where": PAID},
        {"field": "orders", "op": "sum", "from": 20, "where": {"product_ids": ["p1"]}},
        {"field": "orders", "op": "count", "min": 5}]}]}


@pytest.fixture(autouse=True)
def no_formation(monkeypatch) -> None:
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation", lambda code, reason: None)


@pytest.fixture
def loaded(feed):
    def order(oid, status, total, product):
        return {"id": oid, "customer_id": "k1", "created_at": "2024-05-01T10:00:00Z",
                "status": status, "store": "online", "total": total,
                "items": [{"product_id": product, "quantity": 1, "price": total}]}

    feed.import_dataset(
        products=[{"id": "p1", "name": "Pu-erh", "price": 10.5, "groups": []},
                  {"id": "p5", "name": "Santos", "price": 2, "groups": []}],
        customers=[{"id": "k1", "city": "Moscow", "vip": True, "store": "online",
                    "birthday": "1990-01-01", "tags": ["a", "b"]},
                   {"id": "k2", "city": "Kazan", "store": "shop"}],
        orders=[order("o1", "paid", 10.5, "p1"), order("o2", "paid", 2.0, "p5"),
                order("o3", "new", 7.0, "p1")])
    assert not feed.patch_customers({"k1": lambda doc: {"segments": ["vip"]}}, ["segments"],
                                    refresh="wait_for")


def conditions(body: dict, group: int) -> list[tuple[bool, object]]:
    return [(c["matches"], c["value"]) for c in body["groups"][group]["conditions"]]


def test_negated_group_any_of_and_orders_with_where(api, loaded):
    r = api.post(URL, json={"customer_id": "k1", "rule": RULE})
    assert r.status_code == 200, r.json
    assert r.json == {"customer_id": "k1", "matches": True, "member": None, "groups": [
        {"index": 0, "matches": False, "conditions": [  # both true: NOT(all) is false
            {"index": 0, "field": "city", "op": "in", "matches": True, "value": "Moscow"},
            {"index": 1, "field": "vip", "op": "is", "matches": True, "value": True}]},
        {"index": 1, "matches": True, "conditions": [
            {"index": 0, "field": "orders", "op": "count", "matches": True, "value": 2},
            {"index": 1, "field": "orders", "op": "sum", "matches": False, "value": 17.5},
            {"index": 2, "field": "orders", "op": "count", "matches": False, "value": 3}]}]}
    k2 = api.post(URL, json={"customer_id": "k2", "rule": RULE}).json
    assert k2["matches"] is True and k2["groups"][0]["matches"] is True  # NOT(Kazan...) holds
    assert conditions(k2, 0) == [(False, "Kazan"), (False, None)]
    assert conditions(k2, 1) == [(False, 0), (False, 0), (False, 0)]


def test_values_of_derived_fields(api, loaded):
    rule = {"groups": [
        {"block": "customer", "conditions": [{"field": "age", "op": "between", "from": 18},
                                             {"field": "tags", "op": "in", "include": ["b"]}]},
        {"block": "segments", "conditions": [{"field": "segments", "op": "in", "include": ["vip"]}]},
        {"block": "orders", "conditions": [{"field": "total_spent", "op": "between", "from": 19.5}]}]}
    assert api.post("/api/v1/segments", json={"code": "vip", "name": "VIP", "rule": RULE}).status_code == 201
    body = api.post(URL, json={"customer_id": "k1", "rule": rule}).json
    assert body["matches"] is True
    age = body["groups"][0]["conditions"][0]["value"]
    assert isinstance(age, int) and age >= 34
    assert body["groups"][0]["conditions"][1]["value"] == ["a", "b"]
    assert body["groups"][1]["conditions"][0]["value"] == ["vip"]
    assert body["groups"][2]["conditions"][0]["value"] == 19.5


def test_by_code_reports_membership_and_the_segments_store(api, loaded):
    city = {"groups": [{"block": "customer", "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
    for body in ({"code": "vip", "name": "VIP", "rule": city},
                 {"code": "moscow-shop", "name": "Moscow shop", "rule": city, "store": "shop"},
                 {"code": "listed", "name": "Listed", "type": "static",
                  "members": {"customer_ids": ["k1"]}}):
        assert api.post("/api/v1/segments", json=body).status_code == 201
    vip = api.post(URL, json={"customer_id": "k1", "code": "vip"}).json
    assert (vip["matches"], vip["member"], vip["groups"][0]["matches"]) == (True, True, True)
    # The group holds, but the segment's store (shop) excludes an online customer.
    shop = api.post(URL, json={"customer_id": "k1", "code": "moscow-shop"}).json
    assert (shop["matches"], shop["member"], shop["groups"][0]["matches"]) == (False, False, True)
    listed = api.post(URL, json={"customer_id": "k1", "code": "listed"}).json
    assert listed == {"customer_id": "k1", "matches": True, "member": False, "groups": []}


def test_errors(api, loaded):
    assert api.post(URL, json={"customer_id": "nobody", "rule": RULE}).status_code == 404
    assert api.post(URL, json={"customer_id": "k1", "code": "no-such"}).status_code == 404
    bad = {"groups": [{"block": "customer", "conditions": [{"field": "age", "op": "in"}]}]}
    r = api.post(URL, json={"customer_id": "k1", "rule": bad})
    assert r.status_code == 422 and "rule.groups.0.conditions.0.op" in r.json["errors"]
    r = api.post(URL, json={"customer_id": "k1", "rule": {"groups": [{"block": "segments", "conditions": [
        {"field": "segments", "op": "in", "include": ["ghost"]}]}]}})
    assert r.status_code == 422 and r.json["errors"] == {
        "rule.groups.0.conditions.0.include": ["unknown segment 'ghost'"]}
    for body in ({"customer_id": "k1"}, {"customer_id": "k1", "rule": RULE, "code": "vip"},
                 {"rule": RULE}, {"customer_id": "k1", "code": "Bad Code"}):
        assert api.post(URL, json=body).status_code == 422, body
    assert type(api)(api.app, token=None).post(URL, json={"customer_id": "k1", "rule": RULE}).status_code == 401


def test_openapi_describes_explain_and_overlap(api):
    spec = api.get("/api/v1/openapi.json").json
    for path in ("/api/v1/segments/explain", "/api/v1/segments/overlap"):
        post = spec["paths"][path]["post"]
        assert "requestBody" in post and "200" in post["responses"] and "404" in post["responses"]
        assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
