"""Hypothesis strategies: random customer data and random VALID segment rules.

Values come from small pools so that conditions actually hit (and hit their edges):
birthdays on 29 Feb / 28 Feb / 1 Mar / 31 Dec / 1 Jan and around every tricky "today",
datetimes around midnight in Moscow (21:00Z) and New York (04:00Z / 05:00Z) written with
various UTC offsets, totals such as 0.1 + 0.2 whose float sum is not 0.3.

The product-group tree, the products and the custom-field definitions are fixed (each
dataset uses a subset of the custom fields): the data feed keeps one catalogue per index
set, so examples that share it must agree on it.

Public: ``todays()``, ``timezones()``, ``stores()``, ``datasets()``, ``rules(dataset)``.

``datasets(memberships=True)`` also gives every customer a stored ``segments`` list (codes
from SEGMENT_CODES) and the dataset ``segment_codes``; ``rules`` of such a dataset then
include ``segments`` conditions (CONTRACT 6.2). The feed refuses ``segments`` on a
customer: a test writes them as membership after the import.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from decimal import Decimal

from hypothesis import strategies as st

__all__ = [
    "CUSTOM_FIELDS",
    "PRODUCTS",
    "PRODUCT_GROUPS",
    "SEGMENT_CODES",
    "TIMEZONES",
    "TODAYS",
    "datasets",
    "rules",
    "stores",
    "timezones",
    "todays",
]

TODAYS = [
    dt.date(2023, 12, 31), dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1),
    dt.date(2025, 2, 28), dt.date(2025, 3, 1), dt.date(2024, 12, 31), dt.date(2024, 6, 14),
]
TIMEZONES = ["UTC", "Europe/Moscow", "America/New_York"]

PRODUCT_GROUPS = [
    {"id": "tea", "name": "Tea", "parent_id": None},
    {"id": "chinese-tea", "name": "Chinese tea", "parent_id": "tea"},
    {"id": "pu-erh", "name": "Pu-erh", "parent_id": "chinese-tea"},
    {"id": "green-tea", "name": "Green tea", "parent_id": "tea"},
    {"id": "coffee", "name": "Coffee", "parent_id": None},
    {"id": "arabica", "name": "Arabica", "parent_id": "coffee"},
    {"id": "accessories", "name": "Accessories", "parent_id": None},
]
PRODUCTS = [
    {"id": "p1", "name": "Shu pu-erh", "price": 12.5, "groups": ["pu-erh"]},
    {"id": "p2", "name": "Longjing", "price": 20.0, "groups": ["chinese-tea", "green-tea"]},
    {"id": "p3", "name": "Sencha", "price": 9.99, "groups": ["green-tea"]},
    {"id": "p4", "name": "Assam", "price": 7.0, "groups": ["tea"]},
    {"id": "p5", "name": "Santos", "price": 15.0, "groups": ["arabica"]},
    {"id": "p6", "name": "Espresso blend", "price": 11.0, "groups": ["coffee"]},
    {"id": "p7", "name": "Gaiwan", "price": 30.0, "groups": ["accessories", "chinese-tea"]},
    {"id": "p8", "name": "Gift card", "price": 50.0, "groups": []},
]
CUSTOM_FIELDS = [
    {"code": "married", "label": "Married", "type": "boolean"},
    {"code": "occupation", "label": "Occupation", "type": "string"},
    {"code": "anniversary", "label": "Anniversary", "type": "date"},
    {"code": "children", "label": "Children", "type": "integer"},
    {"code": "discount", "label": "Discount", "type": "decimal"},
]

SEGMENT_CODES = ["vip", "moscow", "churned", "loyal-2"]
STATUSES = ["new", "paid", "delivered", "cancelled"]
PIPELINES = ["retail", "wholesale"]
STORES = ["msk-1", "kzn-1", "online"]

KEYWORD_POOLS: dict[str, list[str]] = {
    "type": ["person", "company"],
    "first_name": ["Anna", "Ivan", "Olga"],
    "last_name": ["Petrova", "Ivanov", "Smith"],
    "email": ["anna@mail.ru", "Ivan.Petrov@Mail.RU", "olga@gmail.com", "boss@GMAIL.com",
              "shop@yandex.ru"],
    "phone": ["+79990001122", "+79990003344", "+33123456789"],
    "sex": ["male", "female"],
    "city": ["Moscow", "Kazan", "Paris"],
    "country": ["Russia", "France"],
    "store": STORES,
    "source": ["Yandex.Direct", "Google Ads", "organic"],
    "manager": ["ivanov", "petrova"],
    "custom.occupation": ["Boat builder", "Teacher", "Engineer"],
}
TAGS = ["newsletter", "wholesale", "b2b", "loyal"]
# What rules may ask for on derived or list fields (e-mail domains are lower-case).
RULE_POOLS: dict[str, list[str]] = {
    **{code: pool + ["Nowhere"] for code, pool in KEYWORD_POOLS.items()},
    "email_domain": ["mail.ru", "gmail.com", "yandex.ru", "example.org"],
    "tags": TAGS + ["unused-tag"],
    "order_statuses": STATUSES,
    "products": [p["id"] for p in PRODUCTS],
    "product_groups": [g["id"] for g in PRODUCT_GROUPS],
}

MONTH_DAYS = ["01-01", "01-02", "01-03", "01-04", "02-26", "02-27", "02-28", "02-29",
              "03-01", "03-02", "03-03", "06-12", "06-14", "06-15", "06-17", "07-24",
              "07-25", "08-15", "09-28", "09-29", "12-01", "12-02", "12-28", "12-29",
              "12-30", "12-31"]
BIRTH_YEARS = [1950, 1980, 1984, 1990, 1999, 2000, 2001, 2004, 2005, 2020, 2023]
DAY_OFFSETS = [-400, -366, -365, -120, -92, -91, -90, -89, -31, -30, -7, -3, -2, -1, 0, 1,
               2, 3, 4]
UTC_TIMES = [dt.time(0, 0), dt.time(0, 30), dt.time(3, 59, 59), dt.time(4, 0), dt.time(4, 30),
             dt.time(5, 0), dt.time(12, 0), dt.time(20, 59, 59), dt.time(21, 0),
             dt.time(21, 30), dt.time(23, 59, 59)]
OFFSETS = [None, dt.timedelta(0), dt.timedelta(hours=3), dt.timedelta(hours=-5),
           dt.timedelta(hours=5, minutes=30)]  # None = written with "Z"
TOTALS = [0.0, 0.1, 0.2, 0.3, 10.0, 99.99, 100.0, 250.5, 999.99]

NEAR_DAYS = sorted({t + dt.timedelta(days=d) for t in TODAYS for d in DAY_OFFSETS})


def todays() -> st.SearchStrategy[dt.date]:
    return st.sampled_from(TODAYS)


def timezones() -> st.SearchStrategy[str]:
    return st.sampled_from(TIMEZONES)


def stores() -> st.SearchStrategy[str | None]:
    """The segment's store: mostly none."""
    return st.one_of(st.just(None), st.just(None), st.just(None), st.sampled_from(STORES))


# ------------------------------------------------------------------------------- data


def _valid_date(year: int, md: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(f"{year:04d}-{md}")
    except ValueError:
        return None


BIRTHDAYS = sorted({d for y in BIRTH_YEARS for md in MONTH_DAYS
                    if (d := _valid_date(y, md)) is not None})


def _iso_instant(day: dt.date, time: dt.time, offset: dt.timedelta | None) -> str:
    instant = dt.datetime.combine(day, time, tzinfo=dt.UTC)
    if offset is None:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    return instant.astimezone(dt.timezone(offset)).isoformat()


# A dataset is some 40 values per customer: drawn one by one through hypothesis, 60
# customers overrun its 8 KiB example budget (and take half a second). So a dataset is
# built by a plain random.Random seeded from ONE hypothesis draw: cheap, reproducible
# from the printed seed, never shrunk (the property test prints the guilty customers).


class _Gen:
    """Random values from the pools above."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def maybe(self, make, none_chance: float = 0.3):
        return None if self.rng.random() < none_chance else make()

    def pick(self, pool):
        return self.rng.choice(pool)

    def instant(self) -> str:
        return _iso_instant(self.pick(NEAR_DAYS), self.pick(UTC_TIMES), self.pick(OFFSETS))

    def total(self) -> float:
        if self.rng.random() < 0.4:
            return self.pick(TOTALS)
        return self.rng.randint(0, 99_999) / 100  # repr has at most two decimals

    def custom_value(self, code: str):
        return {
            "married": lambda: self.pick([True, False]),
            "occupation": lambda: self.pick(KEYWORD_POOLS["custom.occupation"]),
            "anniversary": lambda: self.pick(BIRTHDAYS + NEAR_DAYS).isoformat(),
            "children": lambda: self.rng.randint(0, 4),
            "discount": lambda: self.pick([0, 5.5, 10.25, 12, 99.99]),
        }[code]()

    def without_some_nulls(self, raw: dict) -> dict:
        """A missing value is sometimes an absent key and sometimes an explicit null."""
        return {k: v for k, v in raw.items() if v is not None or self.rng.random() < 0.5}

    def customer(self, cid: str, custom_codes: list[str]) -> dict:
        raw: dict = {"id": cid}
        for code, pool in KEYWORD_POOLS.items():
            if not code.startswith("custom."):
                raw[code] = self.maybe(lambda pool=pool: self.pick(pool))
        raw["birthday"] = self.maybe(lambda: self.pick(BIRTHDAYS).isoformat())
        # The feed defaults an absent type to "person" and refuses a null type or null
        # tags (CustomerSchema): the generators stay inside that.
        raw["type"] = self.pick(KEYWORD_POOLS["type"])
        tags = self.rng.sample(TAGS, self.rng.randint(0, 3))
        for code in ("vip", "email_subscribed", "sms_subscribed"):
            raw[code] = self.maybe(lambda: self.pick([True, False]))
        raw["created_at"] = self.maybe(self.instant)
        raw["last_email_opened_at"] = self.maybe(self.instant)
        raw["custom"] = self.without_some_nulls(
            {code: self.maybe(lambda code=code: self.custom_value(code)) for code in custom_codes})
        customer = self.without_some_nulls(raw)
        if self.rng.random() < 0.8:
            customer["tags"] = tags
        return customer

    def order(self, oid: str, cid: str) -> dict:
        items = [{"product_id": self.pick(PRODUCTS)["id"], "quantity": self.rng.randint(1, 3),
                  "price": self.pick([7.0, 9.99, 12.5, 20.0])}
                 for _ in range(self.pick([0, 1, 1, 1, 2, 2, 3]))]
        return {"id": oid, "customer_id": cid, "created_at": self.instant(),
                "status": self.pick(STATUSES), "pipeline": self.maybe(lambda: self.pick(PIPELINES)),
                "store": self.pick(STORES), "total": self.total(), "items": items}


def _build_dataset(seed: int, custom_fields: list[dict], size: int,
                   memberships: bool = False) -> dict:
    gen = _Gen(seed)
    codes = [cf["code"] for cf in custom_fields]
    customers = [gen.customer(f"c{i}", codes) for i in range(1, size + 1)]
    orders: list[dict] = []
    for customer in customers:
        for _ in range(gen.pick([0, 0, 1, 1, 2, 3, 4, 5])):
            orders.append(gen.order(f"o{len(orders) + 1}", customer["id"]))
    extra: dict = {}
    if memberships:  # drawn last, so the rest of a seed's dataset stays the same
        for customer in customers:
            count = gen.pick([0, 0, 1, 1, 2, 3])
            customer["segments"] = sorted(gen.rng.sample(SEGMENT_CODES, count))
        extra["segment_codes"] = SEGMENT_CODES
    return copy.deepcopy({
        "product_groups": PRODUCT_GROUPS,
        "products": PRODUCTS,
        "custom_fields": custom_fields,
        "customers": customers,
        "orders": orders,
        **extra,
    })


def datasets(memberships: bool = False) -> st.SearchStrategy[dict]:
    """One dataset: {"product_groups", "products", "custom_fields", "customers", "orders"}.

    20-60 customers c1.., 0-5 orders each (o1..), 1-3 of the custom fields; with
    `memberships` also each customer's stored ``segments`` and ``segment_codes``.
    """
    custom_fields = st.lists(st.sampled_from(CUSTOM_FIELDS), min_size=1, max_size=3,
                             unique_by=lambda cf: cf["code"])
    return st.builds(_build_dataset, st.integers(0, 2**64 - 1), custom_fields,
                     st.integers(20, 60), st.just(memberships))


# ------------------------------------------------------------------------------ rules


def _maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.none(), strategy)


_BLOCK_FIELDS: dict[str, dict[str, str]] = {
    "customer": {
        **{code: "keyword" for code in ("type", "first_name", "last_name", "email",
                                         "email_domain", "phone", "sex", "city", "country",
                                         "store", "source", "manager")},
        "tags": "keywords", "birthday": "date", "age": "number", "vip": "boolean",
        "created_at": "datetime",
    },
    "orders": {
        "orders_count": "number", "total_spent": "number", "average_order_value": "number",
        "first_order_at": "datetime", "last_order_at": "datetime",
        "order_statuses": "keywords", "orders": "orders",
    },
    "products": {"products": "keywords", "product_groups": "keywords"},
    "communications": {"email_subscribed": "boolean", "sms_subscribed": "boolean",
                       "last_email_opened_at": "datetime"},
}
_CUSTOM_TYPES = {"string": "keyword", "integer": "number", "decimal": "number",
                 "date": "date", "boolean": "boolean"}


def _number_pools(dataset: dict) -> dict[str, list]:
    spent: dict[str, Decimal] = {}
    count: dict[str, int] = {}
    for o in dataset["orders"]:
        spent[o["customer_id"]] = spent.get(o["customer_id"], Decimal(0)) + Decimal(str(o["total"]))
        count[o["customer_id"]] = count.get(o["customer_id"], 0) + 1
    sums = sorted({float(v) for v in spent.values()})
    averages = sorted({float(v) / count[c] for c, v in spent.items()})
    return {
        "orders_count": list(range(7)),
        "total_spent": [0, 0.3, 100, 500, 1000.5] + sums,
        "average_order_value": [0, 0.15, 50, 99.99, 100, 333.33] + averages,
        "age": list(range(77)),
        "custom.children": [0, 1, 2, 3, 4],
        "custom.discount": [0, 5.5, 10, 10.25, 12, 99.99],
        "sum": [0, 0.1, 0.3, 0.6, 50, 99.99, 100, 250.5, 500, 1000] + sums,
        "segment_codes": list(dataset.get("segment_codes") or []),
    }


def _range(values: list) -> st.SearchStrategy[tuple]:
    """(low, high) with low <= high, either end possibly None but never both."""
    end = _maybe(st.sampled_from(values))

    def order(pair):
        low, high = pair
        if low is not None and high is not None and low > high:
            return high, low
        return pair

    return st.tuples(end, end).filter(lambda p: p != (None, None)).map(order)


def _in_condition(code: str, pool: list[str] | None = None) -> st.SearchStrategy[dict]:
    values = st.lists(st.sampled_from(pool or RULE_POOLS[code]), max_size=2, unique=True)
    return st.tuples(values, values).filter(lambda p: p[0] or p[1]).map(
        lambda p: {"field": code, "op": "in", "include": p[0], "exclude": p[1]})


def _presence(code: str) -> st.SearchStrategy[dict]:
    return st.sampled_from(["exists", "missing"]).map(lambda op: {"field": code, "op": op})


def _between(code: str, values: list, as_text=lambda v: v) -> st.SearchStrategy[dict]:
    return _range(values).map(lambda p: {
        "field": code, "op": "between",
        "from": None if p[0] is None else as_text(p[0]),
        "to": None if p[1] is None else as_text(p[1])})


def _relative(code: str, offsets: list) -> st.SearchStrategy[dict]:
    return _range(offsets).map(lambda p: {"field": code, "op": "relative",
                                          "from_days": p[0], "to_days": p[1]})


def _ignore_year_between(code: str) -> st.SearchStrategy[dict]:
    # Any order: from > to wraps the new year.
    return st.tuples(st.sampled_from(MONTH_DAYS), st.sampled_from(MONTH_DAYS)).map(
        lambda p: {"field": code, "op": "between", "ignore_year": True,
                   "from": p[0], "to": p[1]})


def _ignore_year_relative(code: str) -> st.SearchStrategy[dict]:
    spans = st.sampled_from([0, 1, 2, 3, 7, 30, 60, 180, 300, 364])
    return st.tuples(st.sampled_from([-7, -3, -1, 0, 1, 2]), spans).map(
        lambda p: {"field": code, "op": "relative", "ignore_year": True,
                   "from_days": p[0], "to_days": p[0] + p[1]})


_DATE_OFFSETS = DAY_OFFSETS + [-36_500, -18_000, -9_000, -7_300]
_ISO = dt.date.isoformat


def _date_condition(code: str) -> st.SearchStrategy[dict]:
    return st.one_of(_between(code, BIRTHDAYS + NEAR_DAYS, _ISO), _relative(code, _DATE_OFFSETS),
                     _ignore_year_between(code), _ignore_year_between(code),
                     _ignore_year_relative(code), _ignore_year_relative(code), _presence(code))


def _datetime_condition(code: str) -> st.SearchStrategy[dict]:
    return st.one_of(_between(code, NEAR_DAYS, _ISO), _between(code, NEAR_DAYS, _ISO),
                     _relative(code, DAY_OFFSETS), _relative(code, DAY_OFFSETS),
                     _presence(code))


def _where() -> st.SearchStrategy[dict | None]:
    def some(pool):
        return st.lists(st.sampled_from(pool), min_size=1, max_size=2, unique=True)

    created = st.one_of(
        _range(NEAR_DAYS).map(lambda p: {"op": "between",
                                         "from": p[0] and _ISO(p[0]), "to": p[1] and _ISO(p[1])}),
        _range(DAY_OFFSETS).map(lambda p: {"op": "relative",
                                           "from_days": p[0], "to_days": p[1]}))
    parts = {
        "statuses": some(STATUSES),
        "stores": some(STORES),
        "pipelines": some(PIPELINES),
        "product_ids": some([p["id"] for p in PRODUCTS]),
        "product_groups": some([g["id"] for g in PRODUCT_GROUPS]),
        "created": created,
        "total": _range(TOTALS + [50.0, 500.0]).map(lambda p: {"from": p[0], "to": p[1]}),
    }
    chosen = st.lists(st.sampled_from(sorted(parts)), min_size=1, max_size=3, unique=True)
    made: dict[tuple, st.SearchStrategy] = {}  # one strategy per choice: each new one is validated

    def dictionary(keys: list[str]) -> st.SearchStrategy[dict]:
        if tuple(keys) not in made:
            made[tuple(keys)] = st.fixed_dictionaries({k: parts[k] for k in keys})
        return made[tuple(keys)]

    return _maybe(chosen.flatmap(dictionary))


def _with_where(cond: dict, where: dict | None) -> dict:
    return {**cond, "where": where} if where is not None else cond


def _orders_condition(sums: list) -> st.SearchStrategy[dict]:
    counts = st.sampled_from([(0, 0), (None, 0), (1, None), (2, None), (1, 1), (2, 3),
                              (0, 2), (None, 1), (0, None)])
    count = st.tuples(counts, _where()).map(lambda p: _with_where(
        {"field": "orders", "op": "count", "min": p[0][0], "max": p[0][1]}, p[1]))
    total = st.tuples(_range(sums), _where()).map(lambda p: _with_where(
        {"field": "orders", "op": "sum", "from": p[0][0], "to": p[0][1]}, p[1]))
    return st.one_of(count, count, total)


def _condition(code: str, ftype: str, numbers: dict[str, list]) -> st.SearchStrategy[dict]:
    if ftype in ("keyword", "keywords"):
        return st.one_of(_in_condition(code), _in_condition(code), _in_condition(code),
                         _presence(code))
    if ftype == "number":
        return st.one_of(_between(code, numbers[code]), _between(code, numbers[code]),
                         _presence(code))
    if ftype == "date":
        return _date_condition(code)
    if ftype == "datetime":
        return _datetime_condition(code)
    if ftype == "boolean":
        return st.one_of(st.booleans().map(lambda v: {"field": code, "op": "is", "value": v}),
                         st.booleans().map(lambda v: {"field": code, "op": "is", "value": v}),
                         _presence(code))
    if ftype == "segments":
        return _in_condition(code, numbers["segment_codes"])
    assert ftype == "orders"
    return _orders_condition(numbers["sum"])


def _block_fields(dataset: dict) -> dict[str, dict[str, str]]:
    blocks = {block: dict(fields) for block, fields in _BLOCK_FIELDS.items()}
    for cf in dataset["custom_fields"]:
        blocks["customer"]["custom." + cf["code"]] = _CUSTOM_TYPES[cf["type"]]
    if dataset.get("segment_codes"):  # stored membership exists: conditions on it
        blocks["segments"] = {"segments": "segments"}
    return blocks


def rules(dataset: dict) -> st.SearchStrategy[dict]:
    """Random valid rules over every operator, for the fields of ``dataset``."""
    numbers = _number_pools(dataset)
    blocks = _block_fields(dataset)
    by_block = {
        block: st.one_of(*[_condition(code, ftype, numbers) for code, ftype in fields.items()])
        for block, fields in blocks.items()
    }
    # The orders block leans on the `orders` condition, the richest one.
    by_block["orders"] = st.one_of(by_block["orders"], _orders_condition(numbers["sum"]))
    conditions = {block: st.one_of(st.lists(strategy, min_size=1, max_size=1),
                                   st.lists(strategy, min_size=1, max_size=2),
                                   st.lists(strategy, min_size=1, max_size=3))
                  for block, strategy in by_block.items()}
    groups = {block: st.fixed_dictionaries({
        "block": st.just(block),
        "match": st.sampled_from(["all", "all", "any"]),
        "negate": st.sampled_from([False, False, False, True]),
        "conditions": conditions[block],
    }) for block in blocks}
    group = st.sampled_from(sorted(blocks)).flatmap(groups.__getitem__)
    return st.fixed_dictionaries({
        "match": st.sampled_from(["all", "all", "all", "any"]),
        # A rule without groups (everyone) is left to the tests: hypothesis would draw
        # that simplest case far too often.
        "groups": st.one_of(st.lists(group, min_size=1, max_size=1),
                            st.lists(group, min_size=1, max_size=2),
                            st.lists(group, min_size=1, max_size=3)),
    })
