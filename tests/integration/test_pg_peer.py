"""The PostgreSQL peer of the benchmark selects exactly the customers each rule selects.

Starts its own PostgreSQL (bench/pg_peer.py: own port and data dir), loads a small seeded
demo dataset, and checks the count of every hand-written SUITE query against the
independent oracle (tests/oracle/evaluator.py) over the very same generated data -- for
the bench's day in UTC and for a few other days and zones that exercise year wrap-around,
29 February, orders "in the future" of the evaluation day and a local day that differs
from the UTC one. A second database holds hand-made customers sitting exactly on every
boundary of every rule (a second either side of local midnight, age 25 to the day, born on
29 February, sums of exactly 300, an order with two tea items...), checked the same way.
Correctness only: no timing is asserted here.

Needs the Debian package postgresql, which scripts/setup.sh installs (`make test` runs
it first). Runs as root (the server then runs as the `postgres` system user) or as any
other user (the server runs as that user). If the binaries are missing or the server
cannot start, the tests fail with the error; they are not skipped.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest

from bench import pg_fast, pg_peer
from bench.rules import SUITE
from segsearch.demo.generator import DemoConfig, catalogue_data, generate
from tests.oracle.evaluator import matching_ids

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("SEGSEARCH_TEST_PG_PORT", "55432"))
# The normalised peer and the strongest one (aggregate columns kept by triggers): each
# count test runs on both.
VARIANTS = {"normalised": pg_peer, "fast": pg_fast}
CONFIG = DemoConfig(customers=3000, seed=42, today=dt.date(2026, 11, 23))

# The rules whose result depends on the evaluation day or the zone.
DATE_RULES = ["ordered-last-90-days", "birthday-next-7-days", "women-25-35",
              "3-paid-orders-in-a-year", "tea-spend-300-in-2-years", "new-never-cancelled"]

CASES = [(name, CONFIG.today, "UTC") for name in SUITE] + [
    (name, today, tz)
    for today, tz in [
        (dt.date(2026, 12, 28), "America/Los_Angeles"),  # the next 7 days wrap the new year
        (dt.date(2026, 6, 15), "Asia/Vladivostok"),  # orders after "today"; local day != UTC
        (dt.date(2025, 2, 28), "Europe/Moscow"),  # born 29 Feb: not a year older until 1 Mar
        (dt.date(2024, 2, 29), "UTC"),  # the leap day itself
    ]
    for name in DATE_RULES
]


# Boundary customers are made for every (day, zone) below, and every rule is checked on
# each: the days above, plus a zone whose midnight is repeated: Havana falls back from
# 01:00 to 00:00 on 2 Nov 2025 and 1 Nov 2026, which are today-90, today-365 and today-730
# of these days.
EDGE_DAYS = sorted({(today, tz) for _, today, tz in CASES} | {
    (dt.date(2027, 1, 30), "America/Havana"),
    (dt.date(2027, 11, 1), "America/Havana"),
    (dt.date(2027, 11, 2), "America/Havana"),
})
EDGE_CASES = [(name, today, tz) for today, tz in EDGE_DAYS for name in SUITE]


@pytest.fixture(scope="module")
def data() -> dict:
    return generate(CONFIG)


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """One server for both variants; each loads into a database of its own."""
    # Not pytest's tmp_path: its base is private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="segsearch-pg-peer-"))
    base.chmod(0o755)
    data_dir = base / "data"
    try:
        pg_peer.start(data_dir, PORT)
        conn = pg_peer.connect(PORT)
        try:
            yield conn
        finally:
            conn.close()
    finally:
        pg_peer.stop(data_dir)
        shutil.rmtree(base, ignore_errors=True)


def _database(server, name: str) -> Any:
    server.execute(f"DROP DATABASE IF EXISTS {name}")
    server.execute(f"CREATE DATABASE {name}")
    return pg_peer.connect(PORT, dbname=name)


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def pg(server, variant: str, data: dict) -> Iterator:
    module = VARIANTS[variant]
    conn = _database(server, f"demo_{variant}")
    try:
        loaded = module.load(conn, CONFIG)
        print(f"\n[{variant}] load: {loaded}")
        assert loaded["rows"]["customers"] == len(data["customers"])
        assert loaded["rows"]["orders"] == len(data["orders"])
        assert loaded["rows"]["order_items"] == sum(len(o["items"]) for o in data["orders"])
        yield conn
        print(f"\n[{variant}] suite: {module.run_suite(conn, CONFIG.today, 'UTC', calls=10)}")
    finally:
        conn.close()


def test_every_suite_rule_has_sql() -> None:
    for module in VARIANTS.values():
        assert set(module.SQL) == set(SUITE)
        for name in SUITE:
            assert pg_peer.count_sql(name, module.SQL).lstrip().upper().startswith(
                ("SELECT COUNT(", "SELECT (SELECT COUNT("))
    with pytest.raises(ValueError):
        pg_peer.count_sql("no-such-rule")


def test_derived_view_matches_the_orders(pg, data: dict) -> None:
    """The plain view holds the contract's derived aggregates (R1), computed from orders."""
    row = pg.execute("SELECT count(*), sum(orders_count), sum(total_spent), "
                     "count(average_order_value), count(last_order_at) "
                     "FROM customer_order_stats").fetchone()
    buyers = {o["customer_id"] for o in data["orders"]}
    total = sum((Decimal(str(o["total"])) for o in data["orders"]), Decimal(0))
    assert row == (len(data["customers"]), len(data["orders"]), total, len(buyers), len(buyers))


@pytest.mark.parametrize(("name", "today", "tz"), CASES,
                         ids=[f"{n}@{d}@{z}" for n, d, z in CASES])
def test_sql_count_equals_the_oracle(pg, variant: str, data: dict, name: str, today: dt.date,
                                     tz: str) -> None:
    expected = matching_ids(SUITE[name], customers=data["customers"], orders=data["orders"],
                            products=data["products"], product_groups=data["product_groups"],
                            custom_fields=data["custom_fields"], today=today, timezone=tz)
    got = VARIANTS[variant].count(pg, name, today, tz)
    assert got == len(expected), f"{name} on {today} in {tz}: SQL {got}, oracle {len(expected)}"
    # A rule that selects nobody (or everybody) would prove little.
    assert 0 < len(expected) < len(data["customers"]), (name, today, tz, len(expected))


# ------------------------------------------------------------------ boundary customers


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 Feb in a common year
        return day.replace(year=day.year - years, day=28)


def _md_date(day: dt.date) -> dt.date:
    """A birthday with the (month, day) of ``day`` (in a leap year, so 29 Feb exists)."""
    return dt.date(1992, day.month, day.day)


def edge_population(days: list[tuple[dt.date, str]]) -> tuple[list[dict], list[dict]]:
    """Customers and orders on the boundaries of every SUITE rule, for each (today, zone)."""
    customers: list[dict] = []
    orders: list[dict] = []

    def customer(cid: str, **fields: Any) -> str:
        base = {"id": cid, "type": "person", "first_name": "Edge", "last_name": cid,
                "email": f"{cid}@example.com", "phone": None, "sex": "male", "birthday": None,
                "city": "Tver", "country": "RU", "store": "online", "source": "Organic",
                "manager": None, "tags": [], "vip": False, "created_at": "2020-01-01T12:00:00+00:00",
                "email_subscribed": False, "sms_subscribed": False, "last_email_opened_at": None,
                "custom": {}}
        base.update(fields)
        if isinstance(base["birthday"], dt.date):
            base["birthday"] = base["birthday"].isoformat()
        customers.append(base)
        return cid

    def order(cid: str, at: dt.datetime, *, status: str = "delivered", total: str = "100.00",
              products: tuple[str, ...] = ("p31",)) -> None:
        n = sum(1 for o in orders if o["customer_id"] == cid) + 1
        orders.append({"id": f"o-{cid}-{n}", "customer_id": cid, "created_at": at.isoformat(),
                       "status": status, "pipeline": None, "store": "online",
                       "total": float(total),
                       "items": [{"product_id": p, "quantity": 1, "price": 1.0} for p in products]})

    second = dt.timedelta(seconds=1)
    # once: the fixed ignore-year range 12-20..01-10, and the other customer-block rules
    for md in ("12-19", "12-20", "12-31", "01-01", "01-10", "01-11", "02-29"):
        customer(f"md-{md}", birthday=dt.date.fromisoformat(f"2000-{md}"))
    customer("no-city-paid", city=None, source="Google Ads")
    customer("spb-paid", city="Saint Petersburg", source="Yandex.Direct")
    customer("sub-vip-null", email_subscribed=True, vip=None)
    customer("sub-vip", email_subscribed=True, vip=True)
    customer("sub-null", email_subscribed=None, vip=False)
    for level in (1, 2, 4, 5):
        customer(f"married-{level}", custom={"married": True, "loyalty_level": level})
    customer("married-nolevel", custom={"married": True})
    customer("single-3", custom={"married": False, "loyalty_level": 3})
    for total in ("499.99", "500.00", "5000.00", "5000.01"):
        order(customer(f"spent-{total}"), dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc), total=total)
    order(customer("spent-split"), dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc), total="0.10")
    order("spent-split", dt.datetime(2024, 6, 2, tzinfo=dt.timezone.utc), total="499.90")
    for count in (9, 10):
        cid = customer(f"orders-{count}")
        for i in range(count):
            order(cid, dt.datetime(2024, 1, 1 + i, tzinfo=dt.timezone.utc), total="1.00")
    customer("kazan-no-orders", city="Kazan")

    for k, (today, tz) in enumerate(days):
        zone = ZoneInfo(tz)

        def start(day: dt.date) -> dt.datetime:
            """The first instant of a local day (fold=0: the earlier of a repeated midnight)."""
            # Both helpers are called only within this iteration: binding late is fine (B023).
            return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.timezone.utc)  # noqa: B023

        def days_ago(n: int) -> dt.date:
            return today - dt.timedelta(days=n)  # noqa: B023

        p = f"e{k}"
        # age 25..35 (women), to the day; 29 Feb birthdays near both ends
        for years in (25, 36):
            b = _years_before(today, years)
            customer(f"{p}-age-{years}", sex="female", birthday=b)
            customer(f"{p}-age-{years}-plus1", sex="female", birthday=b + dt.timedelta(days=1))
        for year in range(today.year - 37, today.year - 23):
            if year % 4 == 0:
                customer(f"{p}-leap-{year}", sex="female", birthday=dt.date(year, 2, 29))
        # birthday in the next 7 days, ignoring the year
        for offset in (-1, 0, 7, 8):
            customer(f"{p}-bday{offset}", birthday=_md_date(today + dt.timedelta(days=offset)))
        # created within [today-365, today], and never a cancelled order
        for label, at in (("early", start(days_ago(365)) - second), ("first", start(days_ago(365))),
                          ("last", start(today + dt.timedelta(days=1)) - second),
                          ("future", start(today + dt.timedelta(days=1)))):
            customer(f"{p}-new-{label}", created_at=at.isoformat())
            order(customer(f"{p}-new-{label}-cancelled", created_at=at.isoformat()), at + second,
                  status="cancelled")
            order(customer(f"{p}-new-{label}-paid", created_at=at.isoformat()), at + second,
                  status="paid")
        # last order within [today-90, today]
        order(customer(f"{p}-last-early"), start(days_ago(90)) - second)
        order(customer(f"{p}-last-first"), start(days_ago(90)))
        order(customer(f"{p}-last-end"), start(today + dt.timedelta(days=1)) - second)
        order(customer(f"{p}-last-future"), start(days_ago(10)))
        order(f"{p}-last-future", start(today + dt.timedelta(days=1)))
        # three paid/delivered orders within [today-365, today]
        year_start, year_end = start(days_ago(365)), start(today + dt.timedelta(days=1)) - second
        for label, first, status in (("in", year_start, "paid"), ("early", year_start - second, "paid"),
                                     ("cancelled", year_start, "cancelled")):
            cid = customer(f"{p}-paid3-{label}")
            order(cid, first, status=status)
            order(cid, start(days_ago(100)), status="delivered")
            order(cid, year_end, status="paid")
        # tea spend >= 300 within [today-730, today]; an order with two tea items counts once
        two_years = start(days_ago(730))
        order(customer(f"{p}-tea-300"), two_years, total="300.00", products=("p1",))
        order(customer(f"{p}-tea-early"), two_years - second, total="300.00", products=("p1",))
        order(customer(f"{p}-tea-two-items"), two_years, total="150.00", products=("p1", "p6"))
        order(customer(f"{p}-tea-gift-set"), two_years, total="150.00", products=("p77", "p2"))
        order(customer(f"{p}-tea-split"), year_end, total="0.10", products=("p20",))
        order(f"{p}-tea-split", two_years, total="299.90", products=("p77", "p31"))
        order(customer(f"{p}-tea-coffee"), two_years, total="300.00", products=("p31",))
        order(customer(f"{p}-tea-future"), start(today + dt.timedelta(days=1)), total="300.00",
              products=("p1",))
        order(customer(f"{p}-chinese-white"), two_years, products=("p11",))
        order(customer(f"{p}-chinese-black"), two_years, products=("p20",))
    return customers, orders


@pytest.fixture(scope="module")
def edges(server, variant: str) -> Iterator[tuple[Any, dict]]:
    """A database per variant holding only the boundary customers."""
    conn = _database(server, f"edges_{variant}")
    try:
        world = catalogue_data(CONFIG)
        customers, orders = edge_population(EDGE_DAYS)
        by_customer: dict[str, list[dict]] = {}
        for o in orders:
            by_customer.setdefault(o["customer_id"], []).append(o)
        VARIANTS[variant].load_data(conn, world, ((c, by_customer.get(c["id"], [])) for c in customers))
        world.update(customers=customers, orders=orders)
        yield conn, world
    finally:
        conn.close()


@pytest.mark.parametrize(("name", "today", "tz"), EDGE_CASES,
                         ids=[f"{n}@{d}@{z}" for n, d, z in EDGE_CASES])
def test_sql_count_equals_the_oracle_on_boundaries(edges, variant: str, name: str, today: dt.date,
                                                   tz: str) -> None:
    conn, world = edges
    expected = matching_ids(SUITE[name], customers=world["customers"], orders=world["orders"],
                            products=world["products"], product_groups=world["product_groups"],
                            custom_fields=world["custom_fields"], today=today, timezone=tz)
    got = VARIANTS[variant].count(conn, name, today, tz)
    assert got == len(expected), f"{name} on {today} in {tz}: SQL {got}, oracle {len(expected)}"


# ------------------------------------------- the fast variant's derived columns and triggers

# The derived columns recomputed from the normalised tables, per customer.
_RECOMPUTED = """
SELECT c.id,
       (SELECT count(*) FROM orders o WHERE o.customer_id = c.id)::integer,
       (SELECT coalesce(sum(o.total), 0) FROM orders o WHERE o.customer_id = c.id),
       (SELECT min(o.created_at) FROM orders o WHERE o.customer_id = c.id),
       (SELECT max(o.created_at) FROM orders o WHERE o.customer_id = c.id),
       (SELECT coalesce(array_agg(DISTINCT o.status ORDER BY o.status), '{}')
          FROM orders o WHERE o.customer_id = c.id AND o.status IS NOT NULL),
       (SELECT coalesce(array_agg(DISTINCT i.product_id ORDER BY i.product_id), '{}')
          FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.customer_id = c.id),
       (SELECT coalesce(array_agg(DISTINCT gc.ancestor ORDER BY gc.ancestor), '{}')
          FROM orders o JOIN order_items i ON i.order_id = o.id
          JOIN product_group_members m ON m.product_id = i.product_id
          JOIN product_group_closure gc ON gc.descendant = m.group_id WHERE o.customer_id = c.id)
FROM customers c ORDER BY c.id
"""
_STORED = """
SELECT id, orders_count, total_spent, first_order_at, last_order_at, order_statuses,
       product_ids, product_groups
FROM customers ORDER BY id
"""
_ORDER_GROUPS_WRONG = """
SELECT count(*) FROM orders o
WHERE o.product_groups IS DISTINCT FROM (
    SELECT coalesce(array_agg(DISTINCT gc.ancestor ORDER BY gc.ancestor), '{}')
    FROM order_items i JOIN product_group_members m ON m.product_id = i.product_id
    JOIN product_group_closure gc ON gc.descendant = m.group_id WHERE i.order_id = o.id)
"""


def _assert_derived_columns_follow(conn) -> None:
    stored, recomputed = conn.execute(_STORED).fetchall(), conn.execute(_RECOMPUTED).fetchall()
    assert len(stored) == len(recomputed)
    wrong = [(s, r) for s, r in zip(stored, recomputed, strict=True) if s != r]
    assert not wrong, wrong[:3]
    assert conn.execute("SELECT count(*) FROM customers WHERE average_order_value IS DISTINCT FROM "
                        "CASE WHEN orders_count > 0 THEN total_spent::float8 / orders_count END"
                        ).fetchone()[0] == 0
    assert conn.execute(_ORDER_GROUPS_WRONG).fetchone()[0] == 0
    unnested = conn.execute("SELECT g, id FROM customers, unnest(product_groups) g ORDER BY 1, 2").fetchall()
    assert conn.execute("SELECT group_id, customer_id FROM customer_product_groups ORDER BY 1, 2"
                        ).fetchall() == unnested


@pytest.fixture(scope="module")
def fast_small(server) -> Iterator[Any]:
    """A small fast-variant database the trigger test may write to."""
    conn = _database(server, "fast_triggers")
    try:
        pg_fast.load(conn, DemoConfig(customers=300, seed=7, today=CONFIG.today))
        yield conn
    finally:
        conn.close()


def test_fast_derived_columns_equal_the_orders_after_load(fast_small) -> None:
    _assert_derived_columns_follow(fast_small)
    assert fast_small.execute("SELECT count(*) FROM customers WHERE orders_count > 0 "
                              "AND cardinality(product_groups) > 0").fetchone()[0] > 0


def test_fast_triggers_keep_the_derived_columns(fast_small) -> None:
    """Writes after the load -- a new customer, orders and items inserted in bulk, a status
    and total changed, an order moved to another customer, items and orders deleted --
    leave every derived column equal to a recomputation, and every rule's fast count equal
    to the normalised query's count over the same rows (checked against the oracle above)."""
    conn = fast_small

    def product(external_id: str) -> int:
        return conn.execute("SELECT id FROM products WHERE external_id = %s", (external_id,)).fetchone()[0]

    tea, chinese_black, coffee = product("p1"), product("p20"), product("p31")
    new_id, other = conn.execute("SELECT max(id) + 1, min(id) FROM customers").fetchone()
    conn.execute("INSERT INTO customers (id, external_id, city) VALUES (%s, 'c-new', 'Kazan')", (new_id,))
    assert conn.execute("SELECT orders_count, total_spent, average_order_value, last_order_at, "
                        "order_statuses, product_ids, product_groups FROM customers WHERE id = %s",
                        (new_id,)).fetchone() == (0, 0, None, None, [], [], [])
    first = conn.execute("SELECT max(id) + 1 FROM orders").fetchone()[0]
    with conn.transaction():
        conn.execute("INSERT INTO orders (id, external_id, customer_id, created_at, status, total) "
                     "VALUES (%s, 'o-new-1', %s, %s, 'paid', 120.50), "
                     "(%s, 'o-new-2', %s, %s, 'new', 30), (%s, 'o-new-3', %s, %s, 'paid', 10)",
                     (first, new_id, dt.datetime(2026, 11, 1, 10, tzinfo=dt.timezone.utc),
                      first + 1, new_id, dt.datetime(2026, 11, 20, 10, tzinfo=dt.timezone.utc),
                      first + 2, other, dt.datetime(2026, 11, 21, 10, tzinfo=dt.timezone.utc)))
        conn.execute("INSERT INTO order_items (order_id, product_id, quantity, price) VALUES "
                     "(%s, %s, 1, 60), (%s, %s, 1, 60.5), (%s, %s, 2, 15), (%s, %s, 1, 10)",
                     (first, tea, first, chinese_black, first + 1, coffee, first + 2, chinese_black))
    row = conn.execute("SELECT orders_count, total_spent, average_order_value, order_statuses, "
                       "'chinese-tea' = ANY(product_groups), 'tea' = ANY(product_groups) "
                       "FROM customers WHERE id = %s", (new_id,)).fetchone()
    assert row == (2, Decimal("150.50"), 75.25, ["new", "paid"], True, True)
    _assert_derived_columns_follow(conn)

    conn.execute("UPDATE orders SET status = 'cancelled', total = 99 WHERE id = %s", (first,))
    conn.execute("UPDATE orders SET customer_id = %s WHERE id = %s", (other, first + 1))
    conn.execute("UPDATE order_items SET product_id = %s WHERE order_id = %s", (coffee, first + 2))
    _assert_derived_columns_follow(conn)
    assert conn.execute("SELECT orders_count, order_statuses FROM customers WHERE id = %s",
                        (new_id,)).fetchone() == (1, ["cancelled"])
    _assert_same_counts_as_normalised(conn)

    with conn.transaction():
        conn.execute("DELETE FROM order_items WHERE order_id >= %s", (first,))
        conn.execute("DELETE FROM orders WHERE id >= %s", (first,))
    _assert_derived_columns_follow(conn)
    assert conn.execute("SELECT orders_count, total_spent, product_groups FROM customers WHERE id = %s",
                        (new_id,)).fetchone() == (0, 0, [])
    _assert_same_counts_as_normalised(conn)


def _assert_same_counts_as_normalised(conn) -> None:
    for today, tz in [(CONFIG.today, "UTC"), (dt.date(2026, 11, 20), "Asia/Vladivostok")]:
        for name in SUITE:
            assert pg_fast.count(conn, name, today, tz) == pg_peer.count(conn, name, today, tz), \
                (name, today, tz)
