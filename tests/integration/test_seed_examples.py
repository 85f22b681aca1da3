"""The seeds' own examples, end to end: rule -> compiler -> the real node."""
from __future__ import annotations

from datetime import date

import pytest

from segsearch.rules.compiler import compile_rule
from segsearch.rules.fields import catalogue
from segsearch.rules.validation import validate_rule

pytestmark = pytest.mark.integration

GROUPS = [{"id": "tea", "name": "Tea", "parent_id": None},
          {"id": "chinese-tea", "name": "Chinese tea", "parent_id": "tea"},
          {"id": "pu-erh", "name": "Pu-erh", "parent_id": "chinese-tea"},
          {"id": "coffee", "name": "Coffee", "parent_id": None}]
PRODUCTS = [{"id": "p-puerh", "name": "Shu pu-erh", "price": 10, "groups": ["pu-erh"]},
            {"id": "p-coffee", "name": "Arabica", "price": 5, "groups": ["coffee"]}]
CUSTOMERS = [
    {"id": "moscow", "city": "Moscow", "birthday": "1990-07-25"},
    {"id": "kazan", "city": "Kazan", "birthday": "1985-09-28"},
    {"id": "nocity", "birthday": "2000-09-29"},
    {"id": "dec", "city": "Paris", "birthday": "1970-12-02"},
    {"id": "jan3", "city": "Paris", "birthday": "1971-01-03"},
    {"id": "jan4", "city": "Paris", "birthday": "1971-01-04"},
    {"id": "leap", "city": "Paris", "birthday": "1992-02-29"},
    {"id": "tea-recent", "city": "Kazan"},
    {"id": "tea-old", "city": "Kazan"},
    {"id": "coffee-recent", "city": "Kazan"},
]
ORDERS = [
    {"id": "o1", "customer_id": "tea-recent", "created_at": "2025-10-01T10:00:00Z", "status": "paid",
     "total": 10, "items": [{"product_id": "p-puerh", "quantity": 1, "price": 10}]},
    {"id": "o2", "customer_id": "tea-old", "created_at": "2025-03-01T10:00:00Z", "status": "paid",
     "total": 10, "items": [{"product_id": "p-puerh", "quantity": 1, "price": 10}]},
    {"id": "o3", "customer_id": "coffee-recent", "created_at": "2025-11-01T10:00:00Z", "status": "paid",
     "total": 5, "items": [{"product_id": "p-coffee", "quantity": 1, "price": 5}]},
]


@pytest.fixture
def run(feed):
    feed.import_dataset(product_groups=GROUPS, products=PRODUCTS, customers=CUSTOMERS, orders=ORDERS)
    fields = catalogue()

    def run_rule(groups, today=date(2025, 11, 23), match="all"):
        rule = validate_rule({"match": match, "groups": groups}, fields)
        query = compile_rule(rule, fields, today=today, timezone="UTC")
        res = feed.es.search(index=feed.indices.customers, query=query, size=100, _source=False)
        return {h["_id"] for h in res["hits"]["hits"]}
    return run_rule


def cond(block, *conditions, negate=False):
    return {"block": block, "match": "all", "negate": negate, "conditions": list(conditions)}


def test_everyone_except_moscow(run):
    got = run([cond("customer", {"field": "city", "op": "in", "exclude": ["Moscow"]})])
    assert got == {c["id"] for c in CUSTOMERS} - {"moscow"}


def test_birthday_25_07_to_28_09_ignoring_year(run):
    got = run([cond("customer", {"field": "birthday", "op": "between", "ignore_year": True,
                                 "from": "07-25", "to": "09-28"})])
    assert got == {"moscow", "kazan"}


def test_birthday_2_12_to_3_01_ignoring_year_wraps(run):
    got = run([cond("customer", {"field": "birthday", "op": "between", "ignore_year": True,
                                 "from": "12-02", "to": "01-03"})])
    assert got == {"dec", "jan3"}


def test_birthday_in_3_days(run):
    rule = [cond("customer", {"field": "birthday", "op": "relative", "ignore_year": True,
                              "from_days": 0, "to_days": 3})]
    assert run(rule, today=date(2025, 12, 31)) == {"jan3"}
    assert run(rule, today=date(2025, 11, 29)) == {"dec"}
    # 29 Feb birthdays in a non-leap year: (02,29) lies between 02-28 and 03-01
    assert run(rule, today=date(2025, 2, 25)) == set()  # 25..28 Feb
    assert run(rule, today=date(2025, 2, 26)) == {"leap"}  # 26 Feb..1 Mar
    assert run(rule, today=date(2025, 3, 1)) == set()


def test_bought_chinese_tea_last_order_within_3_months(run):
    got = run([cond("products", {"field": "product_groups", "op": "in", "include": ["chinese-tea"]}),
               cond("orders", {"field": "last_order_at", "op": "relative", "from_days": -92, "to_days": 0})])
    assert got == {"tea-recent"}


def test_everyone_except_moscow_as_negated_group(run):
    got = run([cond("customer", {"field": "city", "op": "in", "include": ["Moscow"]}, negate=True)])
    assert got == {c["id"] for c in CUSTOMERS} - {"moscow"}
