"""The oracle itself, proved on small hand-computed tables (and a few metamorphic checks).

Every expected set below was worked out by hand from CONTRACT.md section 5 (and the
readings listed at the top of tests/oracle/evaluator.py), not by running the evaluator.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oracle import strategies
from tests.oracle.evaluator import customer_profile, make_world, matching_ids

D = dt.date
GROUPS = strategies.PRODUCT_GROUPS  # tea > chinese-tea > pu-erh, tea > green-tea, coffee > ...
PRODUCTS = strategies.PRODUCTS  # p1 pu-erh, p2 chinese+green, p5 arabica, p6 coffee, p7 ...
CUSTOM = [
    {"code": "married", "label": "Married", "type": "boolean"},
    {"code": "occupation", "label": "Occupation", "type": "string"},
    {"code": "anniversary", "label": "Anniversary", "type": "date"},
    {"code": "children", "label": "Children", "type": "integer"},
    {"code": "discount", "label": "Discount", "type": "decimal"},
]


def ids(rule, customers, orders=(), *, today=D(2024, 6, 14), tz="UTC", store=None):  # noqa: B008 (a date is immutable)
    return matching_ids(rule, customers=list(customers), orders=list(orders),
                        products=PRODUCTS, product_groups=GROUPS, custom_fields=CUSTOM,
                        today=today, timezone=tz, store=store)


def group(*conditions, match="all", negate=False, block="customer"):
    return {"block": block, "match": match, "negate": negate, "conditions": list(conditions)}


def rule(*groups, match="all"):
    return {"match": match, "groups": list(groups)}


def one(condition, **group_kw):
    return rule(group(condition, **group_kw))


def order(oid, cid, created_at, total=10, status="paid", products=("p8",), store="msk-1",
          pipeline="retail"):
    return {"id": oid, "customer_id": cid, "created_at": created_at, "status": status,
            "pipeline": pipeline, "store": store, "total": total,
            "items": [{"product_id": p, "quantity": 1, "price": 1} for p in products]}


def born(**birthdays):
    return [{"id": cid, "birthday": b} for cid, b in birthdays.items()]


# ----------------------------------------------------------------- the seeds' examples


def test_everyone_except_moscow():
    customers = [{"id": "x1", "city": "Moscow"}, {"id": "x2", "city": "Kazan"},
                 {"id": "x3", "city": None}, {"id": "x4"},
                 {"id": "x5", "city": "moscow"}]  # R3: exact, case-sensitive
    cond = {"field": "city", "op": "in", "include": [], "exclude": ["Moscow"]}
    assert ids(one(cond), customers) == {"x2", "x3", "x4", "x5"}


SUMMER = born(a="1990-07-24", b="1990-07-25", c="1985-08-15", d="2000-09-28",
              e="2000-09-29", f=None) + [{"id": "g"}]


def test_birthday_between_ignoring_year():
    cond = {"field": "birthday", "op": "between", "ignore_year": True,
            "from": "07-25", "to": "09-28"}
    assert ids(one(cond), SUMMER) == {"b", "c", "d"}


WINTER = born(a="1990-12-01", b="1990-12-02", c="1980-12-31", d="2001-01-01",
              e="2001-01-03", f="2001-01-04", g="1999-06-15", h="2000-02-29")


@pytest.mark.parametrize("low, high, expected", [
    ("12-02", "01-03", {"b", "c", "d", "e"}),  # wraps the new year
    ("01-03", "12-02", {"a", "b", "e", "f", "g", "h"}),  # the other way round: no wrap
    ("12-31", "01-01", {"c", "d"}),
    ("02-28", "03-01", {"h"}),  # (2, 29) lies between (2, 28) and (3, 1)
    ("02-29", "02-29", {"h"}),
    ("12-02", "12-02", {"b"}),
])
def test_birthday_between_ignoring_year_wraps(low, high, expected):
    cond = {"field": "birthday", "op": "between", "ignore_year": True, "from": low, "to": high}
    assert ids(one(cond), WINTER) == expected


YEAR_END = born(b1="1990-12-29", b2="1990-12-30", b3="1985-12-31", b4="2000-01-01",
                b5="2000-01-02", b6="2000-01-03", b7="2000-01-04", b8="2000-02-29",
                b9="1999-02-28", b10="1999-03-01", b11="1999-03-02", b12="1999-03-03",
                b13="1999-02-26", b14=None)


@pytest.mark.parametrize("today, low, high, expected", [
    (D(2024, 12, 30), 0, 3, {"b2", "b3", "b4", "b5"}),  # 12-30 .. 01-02
    (D(2023, 12, 31), 0, 3, {"b3", "b4", "b5", "b6"}),  # 12-31 .. 01-03
    (D(2024, 12, 31), 0, 3, {"b3", "b4", "b5", "b6"}),
    (D(2024, 12, 31), -1, 1, {"b2", "b3", "b4"}),
    (D(2024, 1, 2), -3, -1, {"b2", "b3", "b4"}),  # 12-30 .. 01-01, in the past
    (D(2025, 2, 27), 0, 3, {"b8", "b9", "b10", "b11"}),  # 02-27 .. 03-02 holds 02-29
    (D(2024, 2, 28), 0, 3, {"b8", "b9", "b10", "b11"}),  # 02-28 .. 03-02 (leap year)
    (D(2024, 2, 28), 0, 1, {"b8", "b9"}),  # 02-28 .. 02-29
    (D(2025, 2, 28), 0, 1, {"b8", "b9", "b10"}),  # 02-28 .. 03-01 holds 02-29
    (D(2024, 2, 29), 0, 0, {"b8"}),
    (D(2024, 3, 1), -2, -1, {"b8", "b9"}),  # 02-28 .. 02-29
    (D(2025, 3, 1), -3, -1, {"b9", "b13"}),  # 02-26 .. 02-28: (2, 29) is after (2, 28)
])
def test_birthday_in_n_days_ignoring_year(today, low, high, expected):
    cond = {"field": "birthday", "op": "relative", "ignore_year": True,
            "from_days": low, "to_days": high}
    assert ids(one(cond), YEAR_END, today=today) == expected


TEA_CUSTOMERS = [{"id": f"k{i}"} for i in range(1, 8)]
TEA_ORDERS = [
    order("o1", "k1", "2024-05-01T10:00:00Z", products=["p1"]),  # pu-erh (under chinese)
    order("o2", "k2", "2024-01-10T10:00:00Z", products=["p2"]),  # chinese, too long ago
    order("o3", "k3", "2024-06-10T10:00:00Z", products=["p5"]),  # coffee only
    order("o4", "k5", "2023-11-01T10:00:00Z", products=["p1"]),  # pu-erh long ago ...
    order("o5", "k5", "2024-06-01T10:00:00Z", products=["p6"]),  # ... coffee recently
    order("o6", "k6", "2024-03-14T12:00:00Z", products=["p7"]),  # exactly 92 days ago
    order("o7", "k7", "2024-03-13T23:00:00Z", products=["p2"]),  # 14 Mar in Moscow only
]
LAST_ORDER_3_MONTHS = group({"field": "last_order_at", "op": "relative", "from_days": -92,
                             "to_days": 0}, block="orders")
BOUGHT_CHINESE_TEA = group({"field": "product_groups", "op": "in", "include": ["chinese-tea"],
                            "exclude": []}, block="products")


@pytest.mark.parametrize("tz, expected", [
    ("UTC", {"k1", "k5", "k6"}),
    ("Europe/Moscow", {"k1", "k5", "k6", "k7"}),
])
def test_bought_chinese_tea_last_order_within_three_months(tz, expected):
    segment = rule(BOUGHT_CHINESE_TEA, LAST_ORDER_3_MONTHS)
    assert ids(segment, TEA_CUSTOMERS, TEA_ORDERS, today=D(2024, 6, 14), tz=tz) == expected


def test_bought_chinese_tea_within_three_months_in_one_order():
    cond = {"field": "orders", "op": "count", "min": 1, "max": None,
            "where": {"product_groups": ["chinese-tea"],
                      "created": {"op": "relative", "from_days": -92, "to_days": 0}}}
    assert ids(one(cond, block="orders"), TEA_CUSTOMERS, TEA_ORDERS) == {"k1", "k6"}


NO_ORDERS_CUSTOMERS = [{"id": "m1"}, {"id": "m2"}, {"id": "m3"}, {"id": "m4"}]
NO_ORDERS_ORDERS = [
    order("o1", "m2", "2024-06-01T00:00:00Z", status="cancelled"),
    order("o2", "m3", "2024-06-01T00:00:00Z", status="paid"),
    order("o3", "m4", "2024-06-01T00:00:00Z", status="paid"),
    order("o4", "m4", "2024-06-02T00:00:00Z", status="delivered"),
]


@pytest.mark.parametrize("low, high, where, expected", [
    (0, 0, None, {"m1"}),
    (None, 0, None, {"m1"}),
    (0, 0, {"statuses": ["paid", "delivered"]}, {"m1", "m2"}),
    (1, None, {"statuses": ["paid"]}, {"m3", "m4"}),
    (2, 2, None, {"m4"}),
    (0, None, None, {"m1", "m2", "m3", "m4"}),
    (None, 1, None, {"m1", "m2", "m3"}),
])
def test_orders_count(low, high, where, expected):
    cond = {"field": "orders", "op": "count", "min": low, "max": high}
    if where is not None:
        cond["where"] = where
    assert ids(one(cond, block="orders"), NO_ORDERS_CUSTOMERS, NO_ORDERS_ORDERS) == expected


@pytest.mark.parametrize("today, birthday, age", [
    (D(2024, 2, 29), "2000-02-29", 24),
    (D(2024, 2, 29), "2000-03-01", 23),
    (D(2024, 2, 29), "2001-02-28", 23),
    (D(2024, 2, 29), "2000-02-28", 24),
    (D(2024, 2, 28), "2000-02-29", 23),
    (D(2025, 2, 28), "2004-02-29", 20),  # R7: a year older only on 1 March
    (D(2025, 2, 28), "2004-02-28", 21),
    (D(2025, 3, 1), "2004-02-29", 21),
    (D(2023, 12, 31), "2023-12-31", 0),
    (D(2024, 12, 31), "1950-01-01", 74),
])
def test_age_is_completed_years(today, birthday, age):
    world = make_world(orders=[], products=PRODUCTS, product_groups=GROUPS, custom_fields=[],
                       today=today)
    assert customer_profile({"id": "a", "birthday": birthday}, world)["age"] == age


def test_age_between_on_28_feb_of_a_non_leap_year():
    customers = born(a="2004-02-29", b="2004-02-28", c="2003-03-01", d="2003-02-28", e=None)
    cond = {"field": "age", "op": "between", "from": 21, "to": 21}
    assert ids(one(cond), customers, today=D(2025, 2, 28)) == {"b", "c"}
    assert ids(one(cond), customers, today=D(2025, 3, 1)) == {"a", "b"}
    assert ids(one({"field": "age", "op": "missing"}), customers) == {"e"}


# --------------------------------------------------------------------- dates and times

# 21:30Z on 28 Feb is 29 Feb in Moscow; 00:00Z on 29 Feb is still 28 Feb in New York.
TZ_CUSTOMERS = [
    {"id": "t1", "created_at": "2024-02-28T21:30:00Z"},
    {"id": "t2", "created_at": "2024-02-29T03:00:00+03:00"},
    {"id": "t3", "created_at": "2024-02-29T23:59:59-05:00"},  # 1 Mar 04:59:59Z
    {"id": "t4", "created_at": "2024-02-28T20:59:59+00:00"},
    {"id": "t5", "created_at": None},
]


@pytest.mark.parametrize("tz, expected", [
    ("UTC", {"t2"}),
    ("Europe/Moscow", {"t1", "t2"}),
    ("America/New_York", {"t3"}),
])
def test_datetime_day_is_taken_in_the_timezone(tz, expected):
    between = {"field": "created_at", "op": "between", "from": "2024-02-29", "to": "2024-02-29"}
    relative = {"field": "created_at", "op": "relative", "from_days": 0, "to_days": 0}
    assert ids(one(between), TZ_CUSTOMERS, tz=tz) == expected
    assert ids(one(relative), TZ_CUSTOMERS, today=D(2024, 2, 29), tz=tz) == expected


@pytest.mark.parametrize("low, high, expected", [
    (-1, None, {"t1", "t2", "t3", "t4"}),  # UTC days: t1, t4 28 Feb; t2 29 Feb; t3 1 Mar
    (None, -1, {"t1", "t4"}),
    (1, 1, {"t3"}),
    (None, None, {"t1", "t2", "t3", "t4"}),  # R6: open both ways = has a value
])
def test_relative_datetime_open_ends(low, high, expected):
    cond = {"field": "created_at", "op": "relative", "from_days": low, "to_days": high}
    assert ids(one(cond), TZ_CUSTOMERS, today=D(2024, 2, 29)) == expected


def test_date_fields_are_not_shifted_by_the_timezone():
    customers = born(a="2000-02-29", b="2000-02-28")
    cond = {"field": "birthday", "op": "between", "from": "2000-02-29", "to": "2000-03-31"}
    for tz in strategies.TIMEZONES:
        assert ids(one(cond), customers, tz=tz) == {"a"}


def test_plain_date_between_and_relative():
    customers = born(a="2024-06-10", b="2024-06-14", c="2024-06-15", d="1990-06-14")
    between = {"field": "birthday", "op": "between", "from": "2024-06-10", "to": None}
    assert ids(one(between), customers) == {"a", "b", "c"}
    relative = {"field": "birthday", "op": "relative", "from_days": -4, "to_days": 0}
    assert ids(one(relative), customers, today=D(2024, 6, 14)) == {"a", "b"}


# ----------------------------------------------------------------------- derived fields


def test_derived_fields():
    world = make_world(orders=[order("o1", "a", "2024-01-01T00:00:00Z", 0.1, "paid", ["p1"]),
                               order("o2", "a", "2024-03-01T00:00:00+03:00", 0.2, "new",
                                     ["p5", "p1"])],
                       products=PRODUCTS, product_groups=GROUPS, custom_fields=[],
                       today=D(2024, 6, 14))
    p = customer_profile({"id": "a", "email": "Ivan.Petrov@Mail.RU"}, world)
    assert p["email"] == "Ivan.Petrov@Mail.RU"
    assert p["email_domain"] == "mail.ru"
    assert p["orders_count"] == 2
    assert str(p["total_spent"]) == "0.3"
    assert p["average_order_value"] == pytest.approx(0.15)
    assert p["first_order_at"] == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert p["last_order_at"] == dt.datetime(2024, 2, 29, 21, tzinfo=dt.timezone.utc)
    assert p["order_statuses"] == {"paid", "new"}
    assert p["products"] == {"p1", "p5"}
    assert p["product_groups"] == {"pu-erh", "chinese-tea", "tea", "arabica", "coffee"}
    empty = customer_profile({"id": "b"}, world)
    assert (empty["orders_count"], empty["total_spent"]) == (0, 0)
    assert empty["average_order_value"] is None and empty["last_order_at"] is None
    assert not empty["products"] and not empty["product_groups"] and not empty["order_statuses"]


@pytest.mark.parametrize("email, domain", [
    ("a@Gmail.COM", "gmail.com"), ("odd@name@Yandex.ru", "yandex.ru"), (None, None),
    ("no-at-sign", None),
])
def test_email_domain(email, domain):
    world = make_world(orders=[], products=[], product_groups=[], custom_fields=[],
                       today=D(2024, 1, 1))
    assert customer_profile({"id": "a", "email": email}, world)["email_domain"] == domain


MONEY_CUSTOMERS = [{"id": "s1"}, {"id": "s2"}, {"id": "s3"}]
MONEY_ORDERS = [
    order("o1", "s1", "2024-06-01T00:00:00Z", 0.1),
    order("o2", "s1", "2024-06-02T00:00:00Z", 0.2),  # 0.1 + 0.2 == 0.3 exactly
    order("o3", "s2", "2024-06-01T00:00:00Z", 10),
    order("o4", "s2", "2024-06-03T00:00:00Z", 20, status="cancelled"),
]


@pytest.mark.parametrize("field, low, high, expected", [
    ("total_spent", 0.3, 0.3, {"s1"}),
    ("total_spent", None, 0.3, {"s1", "s3"}),  # R1: no orders = spent 0
    ("total_spent", 30, None, {"s2"}),  # every status counts
    ("orders_count", 0, 0, {"s3"}),
    ("orders_count", 2, 2, {"s1", "s2"}),
    ("average_order_value", 15, 15, {"s2"}),
    ("average_order_value", 0.15, 0.15, {"s1"}),
    ("average_order_value", None, 1000, {"s1", "s2"}),  # absent without orders
])
def test_order_aggregates_between(field, low, high, expected):
    cond = {"field": field, "op": "between", "from": low, "to": high}
    assert ids(one(cond, block="orders"), MONEY_CUSTOMERS, MONEY_ORDERS) == expected


@pytest.mark.parametrize("field, op, expected", [
    ("orders_count", "exists", {"s1", "s2", "s3"}),
    ("orders_count", "missing", set()),
    ("total_spent", "missing", set()),
    ("average_order_value", "exists", {"s1", "s2"}),
    ("average_order_value", "missing", {"s3"}),
    ("last_order_at", "missing", {"s3"}),
    ("order_statuses", "missing", {"s3"}),
])
def test_order_aggregates_presence(field, op, expected):
    cond = {"field": field, "op": op}
    assert ids(one(cond, block="orders"), MONEY_CUSTOMERS, MONEY_ORDERS) == expected


@pytest.mark.parametrize("low, high, where, expected", [
    (0.3, 0.3, None, {"s1"}),
    (None, 10, {"statuses": ["paid"]}, {"s1", "s2", "s3"}),  # empty sum = 0
    (10, 10, {"statuses": ["paid"]}, {"s2"}),
    (0.2, 0.2, {"created": {"op": "between", "from": "2024-06-02", "to": None}}, {"s1"}),
    (20, None, {"total": {"from": 15, "to": None}}, {"s2"}),
    (1, None, {"total": {"from": 0.1, "to": 0.1}}, set()),
])
def test_orders_sum(low, high, where, expected):
    cond = {"field": "orders", "op": "sum", "from": low, "to": high}
    if where is not None:
        cond["where"] = where
    assert ids(one(cond, block="orders"), MONEY_CUSTOMERS, MONEY_ORDERS) == expected


WHERE_CUSTOMERS = [{"id": "w1"}, {"id": "w2"}, {"id": "w3"}]
WHERE_ORDERS = [
    order("o1", "w1", "2024-02-28T22:00:00Z", products=["p1"], store="kzn-1", pipeline=None),
    order("o2", "w2", "2024-02-28T12:00:00Z", products=["p7", "p8"], pipeline="wholesale"),
    order("o3", "w3", "2024-02-29T04:30:00Z", products=["p3"], store="online"),
]


@pytest.mark.parametrize("where, tz, expected", [
    ({"product_groups": ["chinese-tea"]}, "UTC", {"w1", "w2"}),  # p1 is in pu-erh, below
    ({"product_groups": ["tea"]}, "UTC", {"w1", "w2", "w3"}),
    ({"product_groups": ["pu-erh", "coffee"]}, "UTC", {"w1"}),
    ({"product_ids": ["p8", "p3"]}, "UTC", {"w2", "w3"}),
    ({"pipelines": ["retail", "wholesale"]}, "UTC", {"w2", "w3"}),  # o1 has no pipeline
    ({"stores": ["kzn-1", "online"]}, "UTC", {"w1", "w3"}),
    ({"created": {"op": "relative", "from_days": 0, "to_days": 0}}, "UTC", {"w3"}),
    ({"created": {"op": "relative", "from_days": 0, "to_days": 0}}, "Europe/Moscow",
     {"w1", "w3"}),
    ({"created": {"op": "relative", "from_days": 0, "to_days": 0}}, "America/New_York",
     set()),
    ({"created": {"op": "between", "from": None, "to": "2024-02-28"}}, "America/New_York",
     {"w1", "w2", "w3"}),
    ({"statuses": ["paid"], "stores": ["msk-1"], "product_groups": ["accessories"]}, "UTC",
     {"w2"}),
])
def test_orders_where_parts(where, tz, expected):
    cond = {"field": "orders", "op": "count", "min": 1, "max": None, "where": where}
    got = ids(one(cond, block="orders"), WHERE_CUSTOMERS, WHERE_ORDERS,
              today=D(2024, 2, 29), tz=tz)
    assert got == expected


# ---------------------------------------------------------------- keywords and lists

KEYWORD_CUSTOMERS = [
    {"id": "a", "city": "Moscow", "tags": ["vip-club", "b2b"]},
    {"id": "b", "city": "Kazan", "tags": ["b2b"]},
    {"id": "c", "city": None, "tags": []},
    {"id": "d", "tags": None},
]


@pytest.mark.parametrize("field, include, exclude, expected", [
    ("city", ["Moscow", "Paris"], [], {"a"}),
    ("city", [], ["Kazan"], {"a", "c", "d"}),
    ("city", ["Moscow", "Kazan"], ["Kazan"], {"a"}),
    ("city", [], [], {"a", "b", "c", "d"}),  # R5
    ("tags", ["b2b"], [], {"a", "b"}),
    ("tags", ["b2b"], ["vip-club"], {"b"}),
    ("tags", [], ["vip-club"], {"b", "c", "d"}),
    ("tags", ["none-such"], [], set()),
])
def test_in(field, include, exclude, expected):
    cond = {"field": field, "op": "in", "include": include, "exclude": exclude}
    assert ids(one(cond), KEYWORD_CUSTOMERS) == expected


@pytest.mark.parametrize("field, op, expected", [
    ("city", "exists", {"a", "b"}), ("city", "missing", {"c", "d"}),
    ("tags", "exists", {"a", "b"}), ("tags", "missing", {"c", "d"}),  # [] is no value
])
def test_exists_missing(field, op, expected):
    assert ids(one({"field": field, "op": op}), KEYWORD_CUSTOMERS) == expected


PRODUCT_CUSTOMERS = [{"id": "q1"}, {"id": "q2"}, {"id": "q3"}, {"id": "q4"}]
PRODUCT_ORDERS = [order("o1", "q1", "2024-06-01T00:00:00Z", products=["p1"]),
                  order("o2", "q2", "2024-06-01T00:00:00Z", products=["p2"]),
                  order("o3", "q3", "2024-06-01T00:00:00Z", products=["p8"])]


@pytest.mark.parametrize("field, include, exclude, expected", [
    ("product_groups", ["tea"], [], {"q1", "q2"}),  # a group and its descendants
    ("product_groups", ["chinese-tea"], [], {"q1", "q2"}),
    ("product_groups", ["pu-erh"], [], {"q1"}),
    ("product_groups", [], ["tea"], {"q3", "q4"}),
    ("product_groups", [], ["pu-erh"], {"q2", "q3", "q4"}),
    ("product_groups", ["green-tea"], ["pu-erh"], {"q2"}),
    ("products", ["p1", "p8"], [], {"q1", "q3"}),
    ("products", [], ["p8"], {"q1", "q2", "q4"}),
])
def test_products_and_groups(field, include, exclude, expected):
    cond = {"field": field, "op": "in", "include": include, "exclude": exclude}
    got = ids(one(cond, block="products"), PRODUCT_CUSTOMERS, PRODUCT_ORDERS)
    assert got == expected


# --------------------------------------------------------------- booleans and custom

BOOL_CUSTOMERS = [{"id": "t", "vip": True}, {"id": "f", "vip": False},
                  {"id": "n", "vip": None}, {"id": "a"}]


@pytest.mark.parametrize("cond, expected", [
    ({"field": "vip", "op": "is", "value": True}, {"t"}),
    ({"field": "vip", "op": "is", "value": False}, {"f"}),  # null is not false
    ({"field": "vip", "op": "exists"}, {"t", "f"}),
    ({"field": "vip", "op": "missing"}, {"n", "a"}),
])
def test_boolean(cond, expected):
    assert ids(one(cond), BOOL_CUSTOMERS) == expected


CUSTOM_CUSTOMERS = [
    {"id": "u1", "custom": {"married": True, "occupation": "Boat builder",
                            "anniversary": "2010-12-31", "children": 2, "discount": 10.25}},
    {"id": "u2", "custom": {"married": False, "occupation": "Teacher",
                            "anniversary": "2015-01-02", "children": 0, "discount": 0}},
    {"id": "u3", "custom": {"married": None, "children": None}},
    {"id": "u4"},
]


@pytest.mark.parametrize("cond, expected", [
    ({"field": "custom.married", "op": "is", "value": True}, {"u1"}),
    ({"field": "custom.occupation", "op": "in", "include": ["Boat builder"], "exclude": []},
     {"u1"}),
    ({"field": "custom.occupation", "op": "in", "include": [], "exclude": ["Teacher"]},
     {"u1", "u3", "u4"}),
    ({"field": "custom.anniversary", "op": "between", "ignore_year": True,
      "from": "12-31", "to": "01-02"}, {"u1", "u2"}),
    ({"field": "custom.anniversary", "op": "between", "from": "2011-01-01", "to": None},
     {"u2"}),
    ({"field": "custom.children", "op": "between", "from": 0, "to": 1}, {"u2"}),
    ({"field": "custom.discount", "op": "between", "from": 10.25, "to": None}, {"u1"}),
    ({"field": "custom.children", "op": "missing"}, {"u3", "u4"}),
    ({"field": "custom.married", "op": "exists"}, {"u1", "u2"}),
])
def test_custom_fields(cond, expected):
    assert ids(one(cond), CUSTOM_CUSTOMERS) == expected


# ---------------------------------------------------------------------- rule structure

PEOPLE = [
    {"id": "p1", "city": "Moscow", "vip": True, "store": "msk-1"},
    {"id": "p2", "city": "Moscow", "vip": False, "store": "kzn-1"},
    {"id": "p3", "city": "Kazan", "vip": True},
    {"id": "p4"},
]
MOSCOW = {"field": "city", "op": "in", "include": ["Moscow"], "exclude": []}
VIP = {"field": "vip", "op": "is", "value": True}


@pytest.mark.parametrize("segment, store, expected", [
    (rule(), None, {"p1", "p2", "p3", "p4"}),
    (rule(match="any"), None, {"p1", "p2", "p3", "p4"}),
    (rule(group(MOSCOW, VIP)), None, {"p1"}),
    (rule(group(MOSCOW, VIP, match="any")), None, {"p1", "p2", "p3"}),
    (rule(group(MOSCOW), group(VIP)), None, {"p1"}),
    (rule(group(MOSCOW), group(VIP), match="any"), None, {"p1", "p2", "p3"}),
    (rule(group(MOSCOW, negate=True)), None, {"p3", "p4"}),
    (rule(group(MOSCOW, VIP, negate=True)), None, {"p2", "p3", "p4"}),
    (rule(group(MOSCOW, VIP, match="any", negate=True)), None, {"p4"}),
    (rule(group(VIP), group(MOSCOW, negate=True)), None, {"p3"}),
    (rule(group(VIP), group(MOSCOW, negate=True), match="any"), None, {"p1", "p3", "p4"}),
    (rule(group(MOSCOW)), "msk-1", {"p1"}),
    (rule(), "kzn-1", {"p2"}),
])
def test_rule_structure(segment, store, expected):
    assert ids(segment, PEOPLE, store=store) == expected


@pytest.mark.parametrize("cond", [
    {"field": "nope", "op": "exists"},
    {"field": "custom.nope", "op": "exists"},
    {"field": "city", "op": "between", "from": 1, "to": 2},
    {"field": "vip", "op": "in", "include": [True]},
    {"field": "created_at", "op": "between", "ignore_year": True, "from": "01-01", "to": "02-01"},
    {"field": "orders", "op": "exists"},
])
def test_invalid_conditions_fail_closed(cond):
    with pytest.raises(ValueError):
        ids(one(cond), PEOPLE)


# ---------------------------------------------------------- generators and metamorphic


def _everyone(dataset):
    return {c["id"] for c in dataset["customers"]}


def _eval(dataset, segment, today, tz, store=None):
    return matching_ids(segment, **dataset, today=today, timezone=tz, store=store)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_rules_evaluate_and_negation_complements(data):
    dataset = data.draw(strategies.datasets())
    assert 20 <= len(dataset["customers"]) <= 60
    known = _everyone(dataset)
    assert all(o["customer_id"] in known for o in dataset["orders"])
    rules = strategies.rules(dataset)
    for _ in range(10):
        segment = data.draw(rules)
        today, tz = data.draw(strategies.todays()), data.draw(strategies.timezones())
        store = data.draw(strategies.stores())
        got = _eval(dataset, segment, today, tz, store)
        assert got <= known
        if store is None and len(segment["groups"]) == 1:
            flipped = {**segment["groups"][0],
                       "negate": not segment["groups"][0]["negate"]}
            other = _eval(dataset, {**segment, "groups": [flipped]}, today, tz)
            assert got | other == known and not got & other
        if store is not None:
            assert got <= {c["id"] for c in dataset["customers"] if c.get("store") == store}


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_generated_conditions_split_the_customers(data):
    """exists/missing and include [v]/exclude [v] each split the customers in two."""
    dataset = data.draw(strategies.datasets())
    today, tz = data.draw(strategies.todays()), data.draw(strategies.timezones())
    everyone = _everyone(dataset)
    for field, pool in strategies.RULE_POOLS.items():
        if field.startswith("custom.") and not any(
                cf["code"] == field[7:] for cf in dataset["custom_fields"]):
            continue
        present = _eval(dataset, one({"field": field, "op": "exists"}), today, tz)
        absent = _eval(dataset, one({"field": field, "op": "missing"}), today, tz)
        assert present | absent == everyone and not present & absent
        value = data.draw(st.sampled_from(pool))
        inc = _eval(dataset, one({"field": field, "op": "in", "include": [value],
                                  "exclude": []}), today, tz)
        exc = _eval(dataset, one({"field": field, "op": "in", "include": [],
                                  "exclude": [value]}), today, tz)
        assert inc | exc == everyone and not inc & exc
