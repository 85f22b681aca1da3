"""The demo generator: deterministic, streaming, and in the feed's shapes (CONTRACT section 3)."""
from __future__ import annotations

import collections
import datetime
import inspect
import itertools
import json
import random
import re
import time
from decimal import Decimal

import pytest

from segsearch.demo.generator import DemoConfig, catalogue_data, generate, iter_customers

TODAY = datetime.date(2025, 11, 23)
BIG = DemoConfig(customers=20_000, seed=42, today=TODAY)

CUSTOMER_KEYS = {
    "id", "type", "first_name", "last_name", "email", "phone", "sex", "birthday", "city",
    "country", "store", "source", "manager", "tags", "vip", "created_at", "email_subscribed",
    "sms_subscribed", "last_email_opened_at", "custom",
}
ORDER_KEYS = {"id", "customer_id", "created_at", "status", "pipeline", "store", "total", "items"}
ITEM_KEYS = {"product_id", "quantity", "price"}
CUSTOM_TYPES = {"string": str, "integer": int, "decimal": (int, float), "date": str,
                "boolean": bool}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
SLUG = re.compile(r"^[a-z][a-z0-9-]*$")


def small(**overrides) -> DemoConfig:
    return DemoConfig(**{"customers": 300, "seed": 42, "today": TODAY, **overrides})


def decimals(value: float) -> int:
    """Decimal places of the shortest repr, i.e. what JSON will carry."""
    return max(0, -Decimal(repr(value)).as_tuple().exponent)


def age(birthday: datetime.date, today: datetime.date) -> int:
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


@pytest.fixture(scope="module")
def big() -> dict:
    """20,000 customers with their orders, generated once; prints the generation rate."""
    catalogue = catalogue_data(BIG)
    started = time.perf_counter()
    customers, orders = [], []
    for customer, its_orders in iter_customers(BIG):
        customers.append(customer)
        orders.extend(its_orders)
    elapsed = time.perf_counter() - started
    print(f"\n[demo] {len(customers)} customers, {len(orders)} orders in {elapsed:.2f} s: "
          f"{len(customers) / elapsed:,.0f} customers/s")
    return {**catalogue, "customers": customers, "orders": orders, "elapsed": elapsed}


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_output():
    assert json.dumps(generate(small())) == json.dumps(generate(small()))


def test_different_seed_gives_different_output():
    a, b = generate(small(seed=1)), generate(small(seed=2))
    assert a["customers"] != b["customers"]
    assert a["orders"] != b["orders"]
    assert [p["price"] for p in a["products"]] != [p["price"] for p in b["products"]]
    # The catalogue's structure does not depend on the seed.
    assert a["product_groups"] == b["product_groups"]
    assert [(p["id"], p["name"], p["groups"]) for p in a["products"]] == \
        [(p["id"], p["name"], p["groups"]) for p in b["products"]]


def test_global_random_state_is_neither_used_nor_changed():
    random.seed(1)
    first = generate(small(customers=50))
    random.seed(2)
    state = random.getstate()
    second = generate(small(customers=50))
    assert first == second
    assert random.getstate() == state


def test_customer_is_stable_for_its_index_whatever_the_size():
    fifty = list(iter_customers(small(customers=50)))
    assert list(itertools.islice(iter_customers(small(customers=500)), 50)) == fifty


def test_ranges_concatenate_to_the_full_stream():
    config = small(customers=120)
    parts = [list(iter_customers(config, start=lo, stop=lo + 40)) for lo in (0, 40, 80)]
    assert parts[0] + parts[1] + parts[2] == list(iter_customers(config))
    assert list(iter_customers(config, start=100, stop=10_000)) == parts[2][20:]


def test_history_is_relative_to_today_not_the_clock():
    later = generate(small(today=TODAY + datetime.timedelta(days=1)))
    assert later["customers"] != generate(small())["customers"]


# --------------------------------------------------------------------------- streaming


def test_iter_customers_is_a_lazy_generator():
    stream = iter_customers(DemoConfig(customers=1_000_000, seed=42, today=TODAY))
    assert inspect.isgenerator(stream)
    started = time.perf_counter()
    first = list(itertools.islice(stream, 10))
    assert time.perf_counter() - started < 1.0
    assert [c["id"] for c, _ in first] == [f"c{n:06d}" for n in range(1, 11)]


def test_ids_past_a_million_keep_their_shape():
    (customer, orders), = iter_customers(
        DemoConfig(customers=1_000_001, seed=42, today=TODAY), start=1_000_000)
    assert customer["id"] == "c1000001"
    assert all(o["id"].startswith("o1000001-") for o in orders)


def test_generate_matches_the_stream():
    config = small(customers=80)
    data = generate(config)
    pairs = list(iter_customers(config))
    assert data["customers"] == [c for c, _ in pairs]
    assert data["orders"] == [o for _, orders in pairs for o in orders]
    assert set(data) == {"product_groups", "products", "custom_fields", "customers", "orders"}

def test_product_groups_form_a_tree_listed_parents_first():
    groups = catalogue_data(small())["product_groups"]
    parents = {g["id"]: g["parent_id"] for g in groups}
    assert len(parents) == len(groups)
    seen: set[str] = set()
    for group in groups:
        assert set(group) == {"id", "name", "parent_id"}
        assert SLUG.match(group["id"]) and group["name"]
        assert group["parent_id"] is None or group["parent_id"] in seen  # exists, listed before
        seen.add(group["id"])
    for gid in parents:  # walking up always ends at a root: no cycles
        path = [gid]
        while parents[path[-1]] is not None:
            path.append(parents[path[-1]])
            assert len(path) <= len(parents)
    assert {"tea", "chinese-tea", "pu-erh", "oolong", "coffee", "teapots", "cups"} <= set(parents)
    assert parents["pu-erh"] == "chinese-tea" and parents["chinese-tea"] == "tea"


def test_products():
    catalogue = catalogue_data(small())
    groups = {g["id"] for g in catalogue["product_groups"]}
    parents = {g["parent_id"] for g in catalogue["product_groups"]}
    products = catalogue["products"]
    assert 60 <= len(products) <= 150
    assert [p["id"] for p in products] == [f"p{n}" for n in range(1, len(products) + 1)]
    for product in products:
        assert set(product) == {"id", "name", "price", "groups"}
        assert product["name"] and isinstance(product["price"], float)
        assert product["price"] > 0 and decimals(product["price"]) <= 2
        assert 1 <= len(product["groups"]) <= 2 and set(product["groups"]) <= groups
        assert product["groups"][0] not in parents  # a leaf group first
    assert any(len(p["groups"]) == 2 for p in products)
    assert any(decimals(p["price"]) == 2 for p in products)


def test_custom_fields():
    fields = catalogue_data(small())["custom_fields"]
    assert {f["code"]: f["type"] for f in fields} == {
        "married": "boolean", "occupation": "string", "loyalty_level": "integer",
        "anniversary": "date"}
    for field in fields:
        assert set(field) == {"code", "label", "type"}
        assert re.match(r"^[a-z][a-z0-9_]*$", field["code"]) and field["label"]


def test_catalogue_is_a_fresh_copy():
    config = small()
    catalogue_data(config)["products"][0]["groups"].append("x")
    catalogue_data(config)["custom_fields"][0]["code"] = "x"
    assert catalogue_data(config) == catalogue_data(small())


# --------------------------------------------------------------------------- customers


def test_customer_shapes(big):
    fields = {f["code"]: f["type"] for f in big["custom_fields"]}
    start = datetime.datetime(TODAY.year - 3, TODAY.month, TODAY.day, tzinfo=datetime.timezone.utc)
    end = datetime.datetime.combine(TODAY, datetime.time(), datetime.timezone.utc)
    for number, c in enumerate(big["customers"], start=1):
        assert set(c) == CUSTOMER_KEYS
        assert c["id"] == f"c{number:06d}"
        assert c["type"] in ("person", "company")
        assert c["sex"] in ("male", "female", None)
        assert c["email"] is None or re.match(r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+$", c["email"])
        assert c["phone"] is None or re.match(r"^\+\d{10,13}$", c["phone"])
        for key in ("first_name", "city", "country", "source", "manager"):
            assert c[key] is None or (isinstance(c[key], str) and c[key])
        assert isinstance(c["last_name"], str) and c["last_name"]
        assert isinstance(c["store"], str) and c["store"]
        assert isinstance(c["tags"], list) and len(c["tags"]) == len(set(c["tags"])) <= 3
        for key in ("vip", "email_subscribed", "sms_subscribed"):
            assert isinstance(c[key], bool)
        assert ISO_UTC.match(c["created_at"])
        created = datetime.datetime.fromisoformat(c["created_at"])
        assert start <= created < end
        if c["last_email_opened_at"] is not None:
            assert ISO_UTC.match(c["last_email_opened_at"])
            assert created <= datetime.datetime.fromisoformat(c["last_email_opened_at"]) < end
        if c["birthday"] is not None:
            assert 16 <= age(datetime.date.fromisoformat(c["birthday"]), TODAY) <= 80
        assert set(c["custom"]) <= set(fields)
        for code, value in c["custom"].items():
            assert isinstance(value, CUSTOM_TYPES[fields[code]])
            if fields[code] == "date":
                assert datetime.date.fromisoformat(value) < TODAY
            if fields[code] == "integer":
                assert not isinstance(value, bool)


def test_companies(big):
    companies = [c for c in big["customers"] if c["type"] == "company"]
    assert 0.07 < len(companies) / len(big["customers"]) < 0.13
    for c in companies:
        assert c["first_name"] is None and c["last_name"]  # the company name
        assert c["sex"] is None and c["birthday"] is None
        assert "married" not in c["custom"]


def test_emails_are_unique(big):
    emails = [c["email"] for c in big["customers"] if c["email"] is not None]
    assert len(emails) == len(set(emails)) > 0.9 * len(big["customers"])
    domains = collections.Counter(e.split("@")[1] for e in emails)
    assert {"gmail.com", "yandex.ru", "mail.ru"} <= set(domains)


def test_twenty_ninth_of_february_birthdays(big):
    days = [datetime.date.fromisoformat(c["birthday"]) for c in big["customers"] if c["birthday"]]
    leap_days = [d for d in days if (d.month, d.day) == (2, 29)]
    # About one day in 1461, as in life: neither absent nor inflated.
    assert 3 <= len(leap_days) <= 4 * len(days) / 1461
    assert any(d is None for d in (c["birthday"] for c in big["customers"]))


def test_realistic_shares(big):
    customers = big["customers"]
    n = len(customers)
    cities = collections.Counter(c["city"] for c in customers)
    assert 0.25 < cities["Moscow"] / n < 0.35
    assert cities.most_common(2)[1][0] == "Saint Petersburg"
    assert {"Kazan", "Novosibirsk", "Yekaterinburg", None} <= set(cities)
    assert 0.03 < sum(c["vip"] for c in customers) / n < 0.07
    persons = [c for c in customers if c["type"] == "person"]
    assert 0 < sum(c["sex"] is None for c in persons) < 0.1 * len(persons)
    assert {"online", "moscow-main", "spb-nevsky"} <= {c["store"] for c in customers}
    assert {"Yandex.Direct", "Google Ads", "Instagram", "Organic", "Referral", "Email", None} == \
        {c["source"] for c in customers}
    assert any(re.search("[а-яё]", c["last_name"]) for c in persons)  # Russian names
    assert any(re.match("^[A-Za-z]+$", c["last_name"]) for c in persons)  # international
    assert {len(c["tags"]) for c in customers} == {0, 1, 2, 3}
    assert {"married", "occupation", "loyalty_level", "anniversary"} == \
        {code for c in customers for code in c["custom"]}
    assert any(c["custom"] == {} for c in customers)


# --------------------------------------------------------------------------- orders


def test_orders_reference_existing_customers_and_products(big):
    customers = {c["id"] for c in big["customers"]}
    prices = {p["id"]: p["price"] for p in big["products"]}
    for order in big["orders"]:
        assert order["customer_id"] in customers
        for item in order["items"]:
            assert item["product_id"] in prices
            assert item["price"] == prices[item["product_id"]]


def test_order_shapes_and_totals(big):
    ids = set()
    for order in big["orders"]:
        assert set(order) == ORDER_KEYS
        assert re.match(rf"^o{order['customer_id'][1:]}-\d+$", order["id"])
        ids.add(order["id"])
        assert order["status"] in ("new", "paid", "delivered", "cancelled")
        assert order["pipeline"] in ("retail", "wholesale", None)
        assert isinstance(order["store"], str) and order["store"]
        assert ISO_UTC.match(order["created_at"])
        assert 1 <= len(order["items"]) <= 4
        products = [item["product_id"] for item in order["items"]]
        assert len(products) == len(set(products))
        for item in order["items"]:
            assert set(item) == ITEM_KEYS
            assert isinstance(item["quantity"], int) and item["quantity"] >= 1
        total = order["total"]
        assert isinstance(total, float) and total >= 0 and decimals(total) <= 2
        expected = sum(Decimal(repr(i["price"])) * i["quantity"] for i in order["items"])
        assert Decimal(repr(total)) == expected
    assert len(ids) == len(big["orders"])


def test_orders_follow_sign_up_and_precede_today(big):
    created = {c["id"]: c["created_at"] for c in big["customers"]}
    end = datetime.datetime.combine(TODAY, datetime.time(), datetime.timezone.utc)
    by_customer = collections.defaultdict(list)
    for order in big["orders"]:
        at = datetime.datetime.fromisoformat(order["created_at"])
        assert datetime.datetime.fromisoformat(created[order["customer_id"]]) < at < end
        by_customer[order["customer_id"]].append((int(order["id"].split("-")[1]), at))
    for numbered in by_customer.values():  # o…-1, o…-2, … in time order
        assert [n for n, _ in numbered] == list(range(1, len(numbered) + 1))
        assert [at for _, at in numbered] == sorted(at for _, at in numbered)


def test_order_count_distribution(big):
    counts = collections.Counter(o["customer_id"] for o in big["orders"])
    per_customer = [counts.get(c["id"], 0) for c in big["customers"]]
    assert 2.7 < sum(per_customer) / len(per_customer) < 3.3  # the configured mean, 3.0
    assert per_customer.count(0) > 0.1 * len(per_customer)
    loyal = [n for n in per_customer if n >= 10]
    assert loyal and max(loyal) <= 30 and len(loyal) > 0.02 * len(per_customer)


def test_statuses_depend_on_order_age(big):
    end = datetime.datetime.combine(TODAY, datetime.time(), datetime.timezone.utc)
    recent, old = collections.Counter(), collections.Counter()
    for order in big["orders"]:
        days = (end - datetime.datetime.fromisoformat(order["created_at"])).days
        (recent if days < 3 else old)[order["status"]] += 1
    assert set(old) == {"new", "paid", "delivered", "cancelled"}
    assert recent["new"] / sum(recent.values()) > 0.3 > old["new"] / sum(old.values())
    assert old["delivered"] / sum(old.values()) > 0.6


def test_pipelines_and_stores(big):
    orders = big["orders"]
    assert {o["pipeline"] for o in orders} == {"retail", "wholesale", None}
    store = {c["id"]: c["store"] for c in big["customers"]}
    same = sum(o["store"] == store[o["customer_id"]] for o in orders)
    assert same > 0.8 * len(orders)


def test_zero_mean_gives_no_orders():
    data = generate(small(orders_per_customer=0))
    assert data["orders"] == [] and len(data["customers"]) == 300


def test_one_year_of_history():
    data = generate(small(years_of_history=1))
    first = datetime.datetime(TODAY.year - 1, TODAY.month, TODAY.day, tzinfo=datetime.timezone.utc)
    for record in data["customers"] + data["orders"]:
        assert datetime.datetime.fromisoformat(record["created_at"]) >= first


def test_today_on_the_twenty_ninth_of_february():
    leap = datetime.date(2024, 2, 29)
    data = generate(small(today=leap))
    for c in data["customers"]:
        if c["birthday"]:
            assert 16 <= age(datetime.date.fromisoformat(c["birthday"]), leap) <= 80


# --------------------------------------------------------------------------- config


def test_config_requires_today():
    with pytest.raises(ValueError):
        DemoConfig(customers=10)


def test_config_keeps_only_the_day_of_a_datetime():
    at = datetime.datetime(2025, 11, 23, 17, 45, tzinfo=datetime.timezone.utc)
    assert DemoConfig(today=at).today == TODAY
    assert generate(DemoConfig(customers=20, today=at)) == generate(small(customers=20))


@pytest.mark.parametrize("bad", [{"customers": -1}, {"orders_per_customer": -0.5},
                                 {"orders_per_customer": float("nan")}, {"years_of_history": 0}])
def test_config_refuses_nonsense(bad):
    with pytest.raises(ValueError):
        small(**bad)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        small().seed = 7  # type: ignore[misc]
