"""The oracle's segment conditions (R16) and explain (R17), on hand-computed tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.oracle import strategies
from tests.oracle.evaluator import explain_customer, matching_ids

WORLD = {"products": strategies.PRODUCTS, "product_groups": strategies.PRODUCT_GROUPS,
         "custom_fields": [], "today": dt.date(2024, 6, 14), "timezone": "UTC"}
MEMBERS = [{"id": "a", "segments": ["vip"]}, {"id": "b", "segments": ["vip", "churned"]},
           {"id": "c", "segments": ["churned"]}, {"id": "d", "segments": []}, {"id": "e"}]


def seg(include=(), exclude=(), negate=False):
    return {"match": "all", "groups": [{"block": "segments", "negate": negate, "conditions": [
        {"field": "segments", "op": "in", "include": list(include), "exclude": list(exclude)}]}]}


@pytest.mark.parametrize(("rule", "expected"), [
    (seg(["vip"]), {"a", "b"}),
    (seg(["vip", "churned"]), {"a", "b", "c"}),
    (seg(exclude=["churned"]), {"a", "d", "e"}),  # a member of nothing passes an exclude
    (seg(["vip"], ["churned"]), {"a"}),
    (seg(["vip"], negate=True), {"c", "d", "e"}),
])
def test_segment_conditions_read_stored_membership(rule, expected):
    assert matching_ids(rule, customers=MEMBERS, orders=[], **WORLD) == expected


def test_only_in_is_allowed_on_segments():
    rule = {"groups": [{"block": "segments", "conditions": [{"field": "segments", "op": "exists"}]}]}
    with pytest.raises(ValueError):
        matching_ids(rule, customers=MEMBERS, orders=[], **WORLD)


def test_explain_truths_and_values():
    customers = [{"id": "x", "city": "Moscow", "birthday": "2000-06-15", "segments": ["vip"],
                  "store": "online"}]
    orders = [
        {"id": "o1", "customer_id": "x", "created_at": "2024-06-01T10:00:00Z", "status": "paid",
         "store": "online", "total": 0.1, "items": []},
        {"id": "o2", "customer_id": "x", "created_at": "2024-06-02T10:00:00Z", "status": "paid",
         "store": "online", "total": 0.2, "items": []},
        {"id": "o3", "customer_id": "x", "created_at": "2024-06-03T10:00:00Z", "status": "new",
         "store": "online", "total": 5, "items": []}]
    paid = {"statuses": ["paid"]}
    rule = {"match": "any", "groups": [
        {"block": "customer", "negate": True, "conditions": [
            {"field": "city", "op": "in", "include": ["Moscow"]},
            {"field": "age", "op": "between", "from": 24, "to": None}]},
        {"block": "orders", "match": "any", "conditions": [
            {"field": "orders", "op": "count", "min": 3, "where": paid},
            {"field": "orders", "op": "sum", "from": 0.3, "to": 0.3, "where": paid},
            {"field": "orders", "op": "count", "min": 4}]}]}
    got = explain_customer(rule, "x", customers=customers, orders=orders, **WORLD)
    # Group 0: Moscow (true) and age 23 >= 24 (false: the birthday is tomorrow) -> all is
    # false, negated true. Group 1: 2 paid (false), 0.1 + 0.2 == 0.3 (true), 3 orders (false).
    assert got == {"matches": True, "groups": [
        {"matches": True, "conditions": [{"matches": True, "value": "Moscow"},
                                         {"matches": False, "value": Decimal(23)}]},
        {"matches": True, "conditions": [{"matches": False, "value": 2},
                                         {"matches": True, "value": Decimal("0.3")},
                                         {"matches": False, "value": Decimal(3)}]}]}
    scoped = explain_customer(rule, "x", customers=customers, orders=orders, store="shop", **WORLD)
    assert scoped["matches"] is False and scoped["groups"] == got["groups"]
