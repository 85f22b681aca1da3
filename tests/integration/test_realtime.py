"""Real-time membership (CONTRACT 6.1) on the real node and Redis: feed writes mark
customers, the follower (segsearch.realtime.follower, run in-process batch by batch
here) evaluates them and writes the difference."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import SimpleWorker

from segsearch.realtime.changes import PendingChanges
from segsearch.realtime.follower import Follower
from segsearch.segments.store import SegmentStore
from tests.integration.test_webhooks import Receiver

pytestmark = pytest.mark.integration

BIG = {"match": "all", "groups": [{"block": "orders", "match": "all", "conditions": [
    {"field": "orders", "op": "sum", "from": 100, "to": None}]}]}
MOSCOW = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
ROOT = Path(__file__).resolve().parents[2]
ALL_EVENTS = ["segment.entered", "segment.left", "segment.formed"]


@pytest.fixture
def rt(api, feed, monkeypatch, prefix):
    """The API with jobs built from the environment (like a worker's) and six customers."""
    from tests.conftest import ES_URL, REDIS_URL
    from workers.context import services_for
    monkeypatch.setenv("ES_URL", ES_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEGSEARCH_INDEX_PREFIX", prefix)
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_RETRY_INTERVALS", "0")
    # The test's webhook receiver listens on 127.0.0.1 (worker side and app side).
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_ALLOW_PRIVATE", "true")
    api.app.extensions["segsearch"].config["WEBHOOK_ALLOW_PRIVATE"] = True
    services_for.cache_clear()
    # One bulk, refreshed: the customers are visible to every read before the first formation.
    r = api.post("/api/v1/customers/_bulk?refresh=wait_for", json={"customers": [
        {"id": f"c{i}", "city": "Moscow" if i < 3 else "Kazan", "store": "online"} for i in range(6)]})
    assert r.status_code == 200 and r.json["indexed"] == 6, r.json
    yield api
    services_for.cache_clear()


def svc_of(api):
    return api.app.extensions["segsearch"]


def work(api) -> None:
    svc = svc_of(api)
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)


def follow(api) -> list:
    svc = svc_of(api)
    batches = Follower(svc).drain()
    svc.es.indices.refresh(index=svc.indices.segment_events)  # history: visible within 1 s anyway
    return batches


def create(api, code: str, rule: dict, **extra) -> None:
    r = api.post("/api/v1/segments", json={"code": code, "name": code, "rule": rule, **extra})
    assert r.status_code == 201, r.json
    work(api)
    assert api.get(f"/api/v1/segments/{code}").json["status"] == "formed"


def customer(api, cid: str) -> dict:
    return api.get(f"/api/v1/customers/{cid}").json


def order(api, oid: str, cid: str, total: float, status: str = "paid"):
    r = api.put(f"/api/v1/orders/{oid}", json={"customer_id": cid, "total": total, "status": status,
                                               "created_at": "2025-05-01T10:00:00Z"})
    assert r.status_code in (200, 201), r.json


def test_order_write_moves_the_customer_in_with_history_groups_webhooks_and_count(rt):
    api = rt
    receiver = Receiver()
    try:
        assert api.post("/api/v1/webhooks?refresh=wait_for", json={
            "url": receiver.url, "events": ALL_EVENTS, "secret": "s" * 20}).status_code == 201
        create(api, "big", BIG, user_group="VIP")
        follow(api)
        work(api)  # the formation's own delivery
        receiver.posts.clear()
        order(api, "o1", "c1", 150)
        batches = follow(api)
        assert sum(b.customers for b in batches) >= 1
        c1 = customer(api, "c1")
        assert c1["segments"] == ["big"]
        assert c1["segment_user_groups"] == ["VIP"] and c1["user_groups"] == ["VIP"]
        history = api.get("/api/v1/customers/c1/segment-history").json
        assert history[0]["segment"] == "big" and history[0]["event"] == "entered"
        assert history[0]["reason"] == "change"
        assert api.get("/api/v1/segments/big").json["customers_count"] == 1
        assert [c["id"] for c in api.get("/api/v1/customers?segment=big").json["items"]] == ["c1"]
        # the order moves to c2: c1 leaves, c2 enters, in one batch
        order(api, "o1", "c2", 150)
        follow(api)
        assert customer(api, "c1")["segments"] == [] and customer(api, "c1")["user_groups"] == []
        assert customer(api, "c2")["segments"] == ["big"]
        assert api.get("/api/v1/segments/big").json["customers_count"] == 1
        work(api)
        events = receiver.events()
        assert {(e["type"], e["customer_id"], e["reason"]) for e in events} == {
            ("segment.entered", "c1", "change"), ("segment.left", "c1", "change"),
            ("segment.entered", "c2", "change")}
        # nothing left to do: a new batch finds no work
        assert follow(api) == []
    finally:
        receiver.close()


def test_delete_keeps_counts_right_and_static_inactive_untouched(rt):
    api = rt
    create(api, "moscow", MOSCOW, user_group="M")
    create(api, "frozen", MOSCOW)
    assert customer(api, "c0")["segments"] == ["frozen", "moscow"]
    r = api.post("/api/v1/segments", json={"code": "listed", "name": "L", "type": "static",
                                          "members": {"customer_ids": ["c4", "c0"]}})
    assert r.status_code == 201, r.json
    work(api)
    assert api.get("/api/v1/segments/listed").json["customers_count"] == 2
    assert api.patch("/api/v1/segments/frozen", json={"active": False}).status_code == 200
    work(api)
    follow(api)
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 3
    # c4 moves to Moscow: enters the dynamic segment, not the inactive one, keeps the static
    api.put("/api/v1/customers/c4", json={"city": "Moscow", "store": "online"})
    api.put("/api/v1/customers/c0", json={"city": "Kazan", "store": "online"})
    follow(api)
    assert customer(api, "c4")["segments"] == ["listed", "moscow"]
    assert customer(api, "c0")["segments"] == ["frozen", "listed"]  # left moscow only
    assert api.get("/api/v1/segments/frozen").json["customers_count"] == 3
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 3
    assert api.delete("/api/v1/customers/c1").status_code in (200, 204)
    follow(api)
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 2
    assert api.get("/api/v1/segments/frozen").json["customers_count"] == 2
    assert api.get("/api/v1/segments/listed").json["customers_count"] == 2


def test_a_batch_that_corrects_a_count_counts_its_own_moves_too(rt):
    """A batch corrects a wrong stored count at its start, then moves a customer back to
    the old wrong number: its end-of-batch count must compare with what it wrote, not with
    the document it read first (found on the 3-node cluster by test_realtime_property)."""
    api = rt
    create(api, "moscow", MOSCOW)
    follow(api)
    svc = svc_of(api)
    SegmentStore(svc.es, svc.indices).set_state("moscow", customers_count=4)  # really 3
    api.put("/api/v1/customers/c4", json={"city": "Moscow", "store": "online"})
    follow(api)
    assert customer(api, "c4")["segments"] == ["moscow"]
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 4


def test_a_change_during_the_batch_is_evaluated_again(rt):
    api = rt
    create(api, "moscow", MOSCOW)
    follow(api)
    svc = svc_of(api)
    follower = Follower(svc)
    api.put("/api/v1/customers/c4", json={"city": "Moscow", "store": "online"})
    taken = follower.pending.take(500, 30)
    assert [cid for cid, _ in taken] == ["c4"]
    # c4 changes again while its batch runs (after the batch's refresh and search)
    real_write = follower._write

    def write_then_change(plans, granted, *args, **kwargs):
        out = real_write(plans, granted, *args, **kwargs)
        api.put("/api/v1/customers/c4", json={"city": "Kazan", "store": "online"})
        return out
    follower._write = write_then_change
    follower.run_once(taken)
    assert customer(api, "c4")["segments"] == ["moscow"]  # the batch's view
    assert PendingChanges(svc.redis, svc.indices.prefix).size() == 1  # still pending
    follow(api)
    assert customer(api, "c4")["segments"] == []
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 3


def test_realtime_off_marks_nothing_and_the_follower_idles(api, prefix):
    from segsearch import create_app
    from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient
    off = ApiClient(create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "INDEX_PREFIX": prefix,
                                "BOOTSTRAP_TOKEN": ADMIN_TOKEN, "REALTIME": False}))
    assert off.put("/api/v1/customers/x1", json={"city": "Moscow"}).status_code == 201
    svc = svc_of(off)
    pending = PendingChanges(svc.redis, prefix)
    assert pending.size() == 0
    pending.mark(["x1"])  # left by an earlier run with real-time on
    env = {**os.environ, "ES_URL": ES_URL, "REDIS_URL": REDIS_URL,
           "SEGSEARCH_INDEX_PREFIX": prefix, "SEGSEARCH_REALTIME": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "workers.follower"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2.5)
        assert proc.poll() is None and pending.size() == 1  # running, and touching nothing
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_formation_and_follower_together_settle(rt):
    """A formation and the follower running at the same time, with feed writes in
    between: afterwards membership equals the rule on the final data."""
    api = rt
    svc = svc_of(api)
    svc.feed.import_dataset(customers=[{"id": f"k{i:04d}", "city": "Moscow" if i % 2 else "Kazan"}
                                       for i in range(3000)])
    r = api.post("/api/v1/segments", json={"code": "moscow", "name": "M", "rule": MOSCOW})
    assert r.status_code == 201
    stop = threading.Event()
    errors: list[BaseException] = []

    def follower_loop():
        f = Follower(svc)
        try:
            while not stop.is_set():
                f.drain()
        except Exception as err:  # noqa: BLE001 (surfaced by the assertion below)
            errors.append(err)
    thread = threading.Thread(target=follower_loop)
    thread.start()
    try:
        writer = threading.Thread(target=lambda: [
            api.put(f"/api/v1/customers/k{i:04d}", json={"city": "Moscow" if i % 3 else "Kazan"})
            for i in range(0, 3000, 37)])
        writer.start()
        work(api)  # the formation, concurrently with the writes and the follower
        writer.join()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    follow(api)
    svc.es.indices.refresh(index=svc.indices.customers)
    wrong = svc.es.count(index=svc.indices.customers, query={"bool": {"should": [
        {"bool": {"filter": [MOSCOW_Q], "must_not": [{"term": {"segments": "moscow"}}]}},
        {"bool": {"filter": [{"term": {"segments": "moscow"}}], "must_not": [MOSCOW_Q]}}],
        "minimum_should_match": 1}})["count"]
    assert wrong == 0
    expected = svc.es.count(index=svc.indices.customers, query=MOSCOW_Q)["count"]
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == expected


MOSCOW_Q = {"term": {"city": "Moscow"}}


def test_membership_changes_propagate_to_segments_that_name_them(rt):
    from segsearch.segments.store import SegmentStore, new_document
    api = rt
    svc = svc_of(api)
    for cid in ("c0", "c3"):
        api.put(f"/api/v1/customers/{cid}", json={"city": "Moscow" if cid == "c0" else "Kazan",
                                                 "store": "online", "vip": True})
    create(api, "a", MOSCOW)
    vip_in_a = {"match": "all", "groups": [
        {"block": "segments", "match": "all", "conditions": [
            {"field": "segments", "op": "in", "include": ["a"], "exclude": []}]},
        {"block": "customer", "match": "all", "conditions": [{"field": "vip", "op": "is", "value": True}]}]}
    SegmentStore(svc.es, svc.indices).create(new_document(
        {"code": "b", "name": "b", "type": "dynamic", "active": True, "rule": vip_in_a,
         "user_group": "B"}, None), refresh="wait_for")
    PendingChanges(svc.redis, svc.indices.prefix).mark([f"c{i}" for i in range(6)])
    Follower(svc).drain()  # stands in for b's first formation
    assert customer(api, "c0")["segments"] == ["a", "b"] and customer(api, "c0")["user_groups"] == ["B"]
    # a feed write: c3 enters a in one batch, b in the next (dependency order)
    api.put("/api/v1/customers/c3", json={"city": "Moscow", "store": "online", "vip": True})
    batches = Follower(svc).drain()
    assert customer(api, "c3")["segments"] == ["a", "b"]
    assert [sorted(b.entered) for b in batches if b.entered] == [["a"], ["b"]]
    # a formation of a (edited to Kazan): who left a leaves b too, without forming b
    assert api.patch("/api/v1/segments/a", json={"rule": {"match": "all", "groups": [
        {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Kazan"]}]}]}}
    ).status_code == 200
    work(api)
    Follower(svc).drain()
    svc.es.indices.refresh(index=svc.indices.segment_events)
    assert customer(api, "c0")["segments"] == [] and customer(api, "c3")["segments"] == []
    assert customer(api, "c0")["user_groups"] == []
    assert api.get("/api/v1/segments/b").json["customers_count"] == 0
    history = api.get("/api/v1/customers/c0/segment-history").json
    assert (history[0]["segment"], history[0]["event"], history[0]["reason"]) in {
        ("b", "left", "change"), ("a", "left", "edit")}
    assert {("b", "left", "change"), ("a", "left", "edit")} <= {
        (h["segment"], h["event"], h["reason"]) for h in history}


def test_redis_down_refuses_the_feed_write_before_elasticsearch(api, prefix):
    from segsearch import create_app
    from tests.conftest import ADMIN_TOKEN, ES_URL, ApiClient
    down = ApiClient(create_app({"ES_URL": ES_URL, "REDIS_URL": "redis://127.0.0.1:1/0",
                                 "INDEX_PREFIX": prefix, "BOOTSTRAP_TOKEN": ADMIN_TOKEN}))
    r = down.put("/api/v1/customers/x1", json={"city": "Moscow"})
    assert r.status_code == 503 and r.json["code"] == 503
    assert api.get("/api/v1/customers/x1").status_code == 404  # never reached Elasticsearch


def test_customers_seen_during_a_formation_are_evaluated_again_once_it_ends(rt):
    from segsearch.segments.store import SegmentStore
    api = rt
    svc = svc_of(api)
    create(api, "moscow", MOSCOW)
    follow(api)
    store = SegmentStore(svc.es, svc.indices)
    store.set_state("moscow", status="forming")  # as a running formation leaves it
    api.put("/api/v1/customers/c4", json={"city": "Moscow", "store": "online"})
    follower = Follower(svc)
    follower.drain()
    pending = follower.pending
    assert customer(api, "c4")["segments"] == ["moscow"]  # real time even while forming
    assert pending.size() == 0 and pending.deferred_codes() == ["moscow"]
    assert follower.undefer_finished() == 0  # still forming: they wait
    store.set_state("moscow", status="formed")
    assert follower.undefer_finished() == 1 and pending.deferred_codes() == []
    assert [b.customers for b in follower.drain()] == [1]
    assert pending.size() == 0


def test_two_followers_share_the_work_without_doing_it_twice(rt):
    api = rt
    svc = svc_of(api)
    create(api, "moscow", MOSCOW)
    follow(api)
    svc.feed.import_dataset(customers=[{"id": f"m{i:03d}", "city": "Kazan"} for i in range(200)])
    assert svc.feed.bulk_customers([{"id": f"m{i:03d}", "city": "Moscow"} for i in range(0, 200, 2)])["errors"] == []
    errors: list[Exception] = []

    def drain():
        f = Follower(svc)
        f.batch_size = 10
        try:
            f.drain()
        except Exception as err:  # noqa: BLE001 (surfaced by the assertion below)
            errors.append(err)
    threads = [threading.Thread(target=drain) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    follow(api)  # whatever a lease left behind
    events = svc.es.search(index=svc.indices.segment_events, size=0, query={"bool": {"filter": [
        {"term": {"segment": "moscow"}}, {"term": {"reason": "change"}}, {"term": {"event": "entered"}}]}},
        track_total_hits=True)["hits"]["total"]["value"]
    assert events == 100  # each entry recorded once
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 103
