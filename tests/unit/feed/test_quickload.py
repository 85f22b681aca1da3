"""QuickLoader loads exactly what Schema.load loads, and refuses with the same errors."""
from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, post_load, pre_load

from segsearch.demo.generator import DemoConfig, iter_customers
from segsearch.errors import Invalid
from segsearch.feed.quickload import QuickLoader
from segsearch.feed.schemas import CustomerSchema, OrderSchema, load

CUSTOMER, ORDER = CustomerSchema(), OrderSchema()
QUICK_CUSTOMER, QUICK_ORDER = QuickLoader(CUSTOMER), QuickLoader(ORDER)


def outcome(loader, schema, data) -> tuple:
    """(loaded item) or (message, errors) of the refusal, from either path."""
    try:
        return ("ok", loader(schema, data) if loader is load else loader.load(data))
    except Invalid as err:
        return ("invalid", err.message, err.errors)


def same(quick: QuickLoader, schema: Schema, data) -> None:
    assert outcome(quick, schema, data) == outcome(load, schema, data)


def test_the_schemas_take_the_quick_path() -> None:
    assert QUICK_CUSTOMER.quick and QUICK_ORDER.quick


def test_generated_customers_and_orders_load_the_same() -> None:
    config = DemoConfig(customers=400, seed=7, today=date(2026, 11, 30))
    for customer, orders in itertools.islice(iter_customers(config), 400):
        same(QUICK_CUSTOMER, CUSTOMER, customer)
        for order in orders:
            same(QUICK_ORDER, ORDER, order)


GOOD_CUSTOMER = {"id": "c1", "email": "a@b.ru", "birthday": "1990-02-03", "vip": True,
                 "created_at": "2025-01-02T03:04:05+03:00", "tags": ["x"], "custom": {"n": 1}}
GOOD_ORDER = {"id": "o1", "customer_id": "c1", "created_at": "2025-01-02T03:04:05Z",
              "status": "paid", "total": "12.50",
              "items": [{"product_id": "p1", "quantity": 2, "price": 6.25}]}


@pytest.mark.parametrize("change", [
    {}, {"id": None}, {"id": "_bad"}, {"id": "x" * 129}, {"unknown": 1}, {"type": None},
    {"type": "robot"}, {"vip": 1}, {"vip": 0}, {"vip": "true"}, {"birthday": "2020-1-5"},
    {"birthday": "2020-W01-1"}, {"birthday": "20200105"}, {"birthday": ""}, {"birthday": None},
    {"email": "not-an-email"}, {"email": "ü@exämple.com"}, {"email": "a@b.ru\n"},
    {"tags": None}, {"tags": "x"}, {"tags": [""]}, {"tags": ["x"] * 101}, {"custom": None},
    {"custom": {"n": float("nan")}}, {"custom": {"n": 2**70}}, {"custom": {"n": {"a": 1}}},
    {"created_at": "2025-01-02"}, {"created_at": "2025-01-02T03:04"}, {"created_at": 5},
    {"created_at": "0001-01-01T00:00:00+01:00"}, {"first_name": 5}, {"first_name": "x" * 257},
    {"sex": "other"}, {"phone": b"123"}])
def test_customer_edge_cases(change: dict) -> None:
    same(QUICK_CUSTOMER, CUSTOMER, {**GOOD_CUSTOMER, **change})


@pytest.mark.parametrize("drop", ["id", "created_at", "status", "total", "items"])
def test_order_without_a_field(drop: str) -> None:
    same(QUICK_ORDER, ORDER, {k: v for k, v in GOOD_ORDER.items() if k != drop})


@pytest.mark.parametrize("change", [
    {}, {"total": "12.345"}, {"total": True}, {"total": "1e3"}, {"total": -1}, {"total": "NaN"},
    {"total": 10**13}, {"total": " 5 "}, {"total": 5.5}, {"status": ""}, {"pipeline": None},
    {"items": None}, {"items": [{"product_id": "p1", "price": "1.234"}]},
    {"items": [{"product_id": "p1", "quantity": True}]}, {"items": [{"quantity": 1}]},
    {"items": [{"product_id": "p1", "colour": "red"}]}, {"items": ["p1"]},
    {"created_at": "2025-01-02T03:04:05"}, {"customer_id": "bad id"}])
def test_order_edge_cases(change: dict) -> None:
    same(QUICK_ORDER, ORDER, {**GOOD_ORDER, **change})


def test_not_an_object_is_refused_alike() -> None:
    for data in (None, [], "c1"):
        same(QUICK_CUSTOMER, CUSTOMER, data)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                   st.text(max_size=4), st.sampled_from(["2020-01-02", "2020-01-02T00:00:00Z",
                                                         "a@b.c", "c1", "12.34", "-1"]),
                   st.lists(st.text(max_size=3), max_size=3),
                   st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from([GOOD_CUSTOMER, GOOD_ORDER]),
       changes=st.dictionaries(st.sampled_from([*CUSTOMER.fields, *ORDER.fields, "other"]),
                               VALUES, max_size=4))
def test_any_values_load_or_fail_alike(base: dict, changes: dict) -> None:
    quick, schema = (QUICK_ORDER, ORDER) if base is GOOD_ORDER else (QUICK_CUSTOMER, CUSTOMER)
    same(quick, schema, {**base, **changes})


def test_schemas_with_hooks_it_does_not_replay_go_through_the_schema() -> None:
    class Hooked(Schema):
        name = fields.String()

        @pre_load
        def _strip(self, data, **kwargs):
            return {"name": data["name"].strip()}

    class Renamed(Schema):
        name = fields.String(data_key="Name")

    class PostLoaded(Schema):
        name = fields.String()

        @post_load
        def _upper(self, data, **kwargs):
            return {"name": data["name"].upper()}

    assert not QuickLoader(Hooked()).quick and not QuickLoader(Renamed()).quick
    assert QuickLoader(Hooked()).load({"name": " a "}) == {"name": "a"}
    assert QuickLoader(Renamed()).load({"Name": "a"}) == {"name": "a"}
    assert QuickLoader(PostLoaded()).quick
    assert QuickLoader(PostLoaded()).load({"name": "a"}) == {"name": "A"}
