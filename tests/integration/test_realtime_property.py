"""Property: random feed writes (customer upserts, orders, order moves, deletes, product
regrouping) interleaved with real-time batches (whole or partial) and formations, once
settled, leave every customer's segments and user groups, and every segment's
customers_count, equal to what the independent evaluator (tests/oracle) computes on the
final data.

Each example gets its own index set and Redis keys (a fresh prefix), so examples never
see each other's segments. Knobs: SEGSEARCH_REALTIME_PROPERTY_EXAMPLES (default 4),
SEGSEARCH_REALTIME_PROPERTY_STEPS (default 25 operations per example at most).
"""
from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rq import SimpleWorker

from segsearch.realtime.changes import PendingChanges
from segsearch.realtime.follower import Follower
from segsearch.search import indices as idx
from tests.oracle.evaluator import matching_ids

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SEGSEARCH_REALTIME_PROPERTY_EXAMPLES", "4"))
STEPS = int(os.environ.get("SEGSEARCH_REALTIME_PROPERTY_STEPS", "25"))
CUSTOMERS = [f"c{i}" for i in range(6)]
ORDERS = [f"o{i}" for i in range(8)]
PRODUCTS = ["p1", "p2", "p3"]
GROUPS = [{"id": "g1", "name": "G1", "parent_id": None}, {"id": "g2", "name": "G2", "parent_id": "g1"},
          {"id": "g3", "name": "G3", "parent_id": None}]
DAY = "2025-05-01T10:00:00Z"


def _rule(*conditions: dict, block: str = "customer") -> dict:
    return {"match": "all", "groups": [{"block": block, "match": "all", "conditions": list(conditions)}]}


SEGMENTS = {  # code -> (rule, store, user_group)
    "moscow": (_rule({"field": "city", "op": "in", "include": ["Moscow"]}), None, "M"),
    "big-g1": (_rule({"field": "orders", "op": "sum", "from": 100, "to": None,
                      "where": {"product_groups": ["g1"]}}, block="orders"), None, "BIG"),
    "vip-online": (_rule({"field": "vip", "op": "is", "value": True}), "online", "M"),
    "paid-twice": (_rule({"field": "orders", "op": "count", "min": 2, "max": None,
                          "where": {"statuses": ["paid"]}}, block="orders"), None, None),
}
STATIC = {"code": "listed", "members": ["c0", "c1"], "user_group": "L"}

customer_ops = st.tuples(st.just("customer"), st.sampled_from(CUSTOMERS),
                         st.sampled_from(["Moscow", "Kazan"]), st.sampled_from(["online", "shop"]),
                         st.booleans())
order_ops = st.tuples(st.just("order"), st.sampled_from(ORDERS), st.sampled_from(CUSTOMERS),
                      st.sampled_from(["paid", "new"]), st.sampled_from([20, 60, 120]),
                      st.sampled_from(PRODUCTS))
delete_ops = st.tuples(st.just("delete"), st.sampled_from(CUSTOMERS))
regroup_ops = st.tuples(st.just("regroup"), st.sampled_from(PRODUCTS),
                        st.sampled_from([["g1"], ["g2"], ["g3"], []]))
follow_ops = st.tuples(st.just("follow"), st.integers(min_value=1, max_value=6))
formation_ops = st.tuples(st.just("form"), st.sampled_from(sorted(SEGMENTS)))
operations = st.lists(st.one_of(customer_ops, order_ops, delete_ops, regroup_ops, follow_ops,
                                formation_ops), min_size=1, max_size=STEPS)


class World:
    """The model: what the feed was told, in API shapes (the oracle's input)."""

    def __init__(self) -> None:
        self.customers = {cid: {"id": cid, "city": "Kazan", "store": "online", "vip": False}
                          for cid in CUSTOMERS}
        self.orders: dict[str, dict] = {}
        self.products = {pid: {"id": pid, "name": pid, "price": 1, "groups": [g]}
                         for pid, g in zip(PRODUCTS, ["g2", "g3", "g1"])}
        self.static = set(STATIC["members"])

    def expected(self) -> dict[str, set[str]]:
        """segment code -> its members by the oracle."""
        out = {code: matching_ids(rule, customers=list(self.customers.values()),
                                  orders=list(self.orders.values()), products=list(self.products.values()),
                                  product_groups=GROUPS, custom_fields=[], today=dt.date(2025, 6, 1),
                                  store=store)
               for code, (rule, store, _) in SEGMENTS.items()}
        out[STATIC["code"]] = self.static & set(self.customers)
        return out


class Example:
    """One example's own instance: an app on a fresh prefix, cleaned afterwards."""

    def __init__(self, es, redis_conn, monkeypatch):
        from segsearch import create_app
        from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient
        from workers.context import services_for
        self.prefix = f"segtest-{uuid.uuid4().hex[:10]}-"
        self.es, self.redis = es, redis_conn
        monkeypatch.setenv("ES_URL", ES_URL)
        monkeypatch.setenv("REDIS_URL", REDIS_URL)
        services_for.cache_clear()
        self.api = ApiClient(create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL,
                                         "INDEX_PREFIX": self.prefix, "BOOTSTRAP_TOKEN": ADMIN_TOKEN}))
        self.svc = self.api.app.extensions["segsearch"]
        self.pending = PendingChanges(self.svc.redis, self.prefix)

    def close(self) -> None:
        idx.drop_prefix(self.es, self.prefix)
        for key in self.redis.scan_iter(f"*{self.prefix}*"):
            self.redis.delete(key)

    def work(self) -> None:
        SimpleWorker([self.svc.queue], connection=self.svc.redis).work(burst=True)

    def settle(self) -> None:
        for _ in range(20):
            self.work()
            Follower(self.svc).drain()
            if self.pending.size() == 0 and self.svc.queue.count == 0:
                return
        raise AssertionError("did not settle")


def _setup(ex: Example, world: World) -> None:
    api = ex.api
    for g in GROUPS:
        assert api.put(f"/api/v1/product-groups/{g['id']}", json={
            "name": g["name"], "parent_id": g["parent_id"]}).status_code in (200, 201)
    for p in world.products.values():
        assert api.put(f"/api/v1/products/{p['id']}", json={
            "name": p["name"], "price": 1, "groups": p["groups"]}).status_code in (200, 201)
    for c in world.customers.values():
        assert api.put(f"/api/v1/customers/{c['id']}", json=_profile(c)).status_code == 201
    for code, (rule, store, group) in SEGMENTS.items():
        r = api.post("/api/v1/segments", json={"code": code, "name": code, "rule": rule,
                                               "store": store, "user_group": group})
        assert r.status_code == 201, r.json
    r = api.post("/api/v1/segments", json={"code": STATIC["code"], "name": "L", "type": "static",
                                           "user_group": STATIC["user_group"],
                                           "members": {"customer_ids": STATIC["members"]}})
    assert r.status_code == 201, r.json
    ex.work()


def _profile(c: dict) -> dict:
    return {k: v for k, v in c.items() if k != "id"}


def _apply(ex: Example, world: World, op: tuple) -> None:
    api, kind = ex.api, op[0]
    if kind == "customer":
        _, cid, city, store, vip = op
        world.customers[cid] = {"id": cid, "city": city, "store": store, "vip": vip}
        assert api.put(f"/api/v1/customers/{cid}", json=_profile(world.customers[cid])).status_code in (200, 201)
    elif kind == "order":
        _, oid, cid, status, total, pid = op
        body = {"customer_id": cid, "status": status, "total": total, "created_at": DAY,
                "items": [{"product_id": pid, "quantity": 1, "price": total}]}
        r = api.put(f"/api/v1/orders/{oid}", json=body)
        if cid in world.customers:
            assert r.status_code in (200, 201), r.json
            world.orders[oid] = {"id": oid, **body}
        else:
            assert r.status_code == 422
    elif kind == "delete":
        cid = op[1]
        r = api.delete(f"/api/v1/customers/{cid}")
        assert r.status_code == (404 if cid not in world.customers else r.status_code)
        world.customers.pop(cid, None)
        world.orders = {k: o for k, o in world.orders.items() if o["customer_id"] != cid}
        world.static.discard(cid)
    elif kind == "regroup":
        _, pid, groups = op
        world.products[pid] = {**world.products[pid], "groups": groups}
        assert api.put(f"/api/v1/products/{pid}", json={"name": pid, "price": 1,
                                                       "groups": groups}).status_code in (200, 201)
    elif kind == "follow":  # one partial batch
        follower = Follower(ex.svc)
        taken = ex.pending.take(op[1], 30)
        if taken:
            follower.run_once(taken)
    elif kind == "form":
        assert api.post(f"/api/v1/segments/{op[1]}/recalculate").status_code == 202
        ex.work()


def _check(ex: Example, world: World) -> None:
    expected = world.expected()
    groups = {code: g for code, (_, _, g) in SEGMENTS.items()} | {STATIC["code"]: STATIC["user_group"]}
    problems = []
    for cid in CUSTOMERS:
        r = ex.api.get(f"/api/v1/customers/{cid}")
        if cid not in world.customers:
            if r.status_code != 404:
                problems.append(f"{cid} should be deleted")
            continue
        doc = r.json
        want = sorted(code for code, members in expected.items() if cid in members)
        want_groups = sorted({groups[c] for c in want if groups[c]})
        if doc["segments"] != want or doc["user_groups"] != want_groups \
                or doc["segment_user_groups"] != want_groups:
            problems.append(f"{cid}: segments {doc['segments']} groups {doc['user_groups']}, "
                            f"expected {want} {want_groups}; data {world.customers[cid]} "
                            f"orders {[o for o in world.orders.values() if o['customer_id'] == cid]}")
    for code, members in expected.items():
        count = ex.api.get(f"/api/v1/segments/{code}").json["customers_count"]
        if count != len(members):
            problems.append(f"{code}: customers_count {count}, expected {len(members)}")
    assert not problems, "\n".join(problems) + f"\nproducts {world.products}"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations)
def test_realtime_membership_matches_the_oracle(es, redis_conn, monkeypatch, ops):
    ex = Example(es, redis_conn, monkeypatch)
    try:
        world = World()
        _setup(ex, world)
        for op in ops:
            _apply(ex, world, op)
        ex.settle()
        _check(ex, world)
    finally:
        ex.close()
