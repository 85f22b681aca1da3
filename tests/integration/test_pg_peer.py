"""The PostgreSQL peer of the benchmark selects exactly the customers each rule selects.

Starts its own PostgreSQL (bench/pg_peer.py: own port and data dir), loads a small seeded
demo dataset, and checks the count of every hand-written SUITE query against the
independent oracle (tests/oracle/evaluator.py) over the very same generated data -- for
the bench's day in UTC and for a few other days and zones that exercise year wrap-around,
29 February, orders "in the future" of the evaluation day and a local day that differs
from the UTC one. Correctness only: no timing is asserted here.

Needs the Debian package postgresql (pg_peer installs it when missing, as root); if the
server cannot be installed or started the tests fail with the error, they are not skipped.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from bench import pg_peer
from bench.rules import SUITE
from segsearch.demo.generator import DemoConfig, generate
from tests.oracle.evaluator import matching_ids

pytestmark = pytest.mark.integration

PORT = int(os.environ.get("SEGSEARCH_TEST_PG_PORT", "55432"))
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


@pytest.fixture(scope="module")
def data() -> dict:
    return generate(CONFIG)


@pytest.fixture(scope="module")
def pg(data: dict) -> Iterator:
    # Not pytest's tmp_path: its base is private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="segsearch-pg-peer-"))
    base.chmod(0o755)
    data_dir = base / "data"
    try:
        pg_peer.start(data_dir, PORT)
        conn = pg_peer.connect(PORT)
        try:
            loaded = pg_peer.load(conn, CONFIG)
            print(f"\n[pg_peer] load: {loaded}")
            assert loaded["rows"]["customers"] == len(data["customers"])
            assert loaded["rows"]["orders"] == len(data["orders"])
            assert loaded["rows"]["order_items"] == sum(len(o["items"]) for o in data["orders"])
            yield conn
            print(f"\n[pg_peer] suite: {pg_peer.run_suite(conn, CONFIG.today, 'UTC', calls=10)}")
        finally:
            conn.close()
    finally:
        pg_peer.stop(data_dir)
        shutil.rmtree(base, ignore_errors=True)


def test_every_suite_rule_has_sql() -> None:
    assert set(pg_peer.SQL) == set(SUITE)
    for name in SUITE:
        assert pg_peer.count_sql(name).lstrip().upper().startswith("SELECT COUNT(")
    with pytest.raises(ValueError):
        pg_peer.count_sql("no-such-rule")


def test_derived_view_matches_the_orders(pg, data: dict) -> None:
    """The plain view holds the contract's derived aggregates (R1), computed from orders."""
    row = pg.execute("SELECT count(*), sum(orders_count), sum(total_spent), "
                     "count(average_order_value), count(last_order_at) "
                     "FROM customer_order_stats").fetchone()
    buyers = {o["customer_id"] for o in data["orders"]}
    from decimal import Decimal
    total = sum((Decimal(str(o["total"])) for o in data["orders"]), Decimal(0))
    assert row == (len(data["customers"]), len(data["orders"]), total, len(buyers), len(buyers))


@pytest.mark.parametrize(("name", "today", "tz"), CASES,
                         ids=[f"{n}@{d}@{z}" for n, d, z in CASES])
def test_sql_count_equals_the_oracle(pg, data: dict, name: str, today: dt.date, tz: str) -> None:
    expected = matching_ids(SUITE[name], customers=data["customers"], orders=data["orders"],
                            products=data["products"], product_groups=data["product_groups"],
                            custom_fields=data["custom_fields"], today=today, timezone=tz)
    got = pg_peer.count(pg, name, today, tz)
    assert got == len(expected), f"{name} on {today} in {tz}: SQL {got}, oracle {len(expected)}"
    # A rule that selects nobody (or everybody) would prove little.
    assert 0 < len(expected) < len(data["customers"]), (name, today, tz, len(expected))
