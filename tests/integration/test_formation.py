"""Segments formed by the RQ job in a real worker (SimpleWorker, burst) on the real node."""
from __future__ import annotations

import pytest
from rq import SimpleWorker

pytestmark = pytest.mark.integration

CUSTOMERS = [{"id": f"c{i}", "city": "Moscow" if i < 3 else "Kazan", "store": "online"} for i in range(6)]
RULE = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}


@pytest.fixture
def ready(feed, api, monkeypatch, prefix):
    # The job builds its services from the environment, like the worker process does.
    from tests.conftest import ES_URL, REDIS_URL
    monkeypatch.setenv("ES_URL", ES_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEGSEARCH_INDEX_PREFIX", prefix)
    from workers.context import services_for
    services_for.cache_clear()
    feed.import_dataset(customers=CUSTOMERS)
    return api


def work(api):
    svc = api.app.extensions["segsearch"]
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)


def test_create_forms_in_background_with_user_groups_and_history(ready):
    api = ready
    r = api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": RULE,
                                          "user_group": "VIP"})
    assert r.status_code == 201, r.json
    work(api)
    seg = api.get("/api/v1/segments/moscow").json
    assert seg["status"] == "formed" and seg["customers_count"] == 3
    assert seg["next_run_at"] and seg["last_formed_at"]
    c0 = api.get("/api/v1/customers/c0").json
    assert c0["segments"] == ["moscow"] and c0["user_groups"] == ["VIP"]
    assert api.get("/api/v1/customers/c5").json["segments"] == []
    history = api.get("/api/v1/customers/c0/segment-history").json
    assert history[0]["segment"] == "moscow" and history[0]["event"] == "entered"
    # a recalculation with nothing changed writes nothing
    stamp = c0["updated_at"]
    job = api.post("/api/v1/segments/moscow/recalculate").json["job_id"]
    work(api)
    status = api.get(f"/api/v1/jobs/{job}").json
    assert status["status"] == "finished" and status["progress"] == 1.0
    assert status["result"]["entered"] == 0 and status["result"]["left"] == 0
    assert api.get("/api/v1/customers/c0").json["updated_at"] == stamp
    dynamics = api.get("/api/v1/segments/moscow/dynamics").json
    assert [d["count"] for d in dynamics] == [3, 3] and dynamics[0]["entered"] == 3


def test_edit_reforms_and_delete_leaves_no_trace(ready):
    api = ready
    api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": RULE, "user_group": "VIP"})
    work(api)
    kazan = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "city", "op": "in", "include": ["Kazan"]}]}]}
    assert api.patch("/api/v1/segments/moscow", json={"rule": kazan}).status_code == 200
    work(api)
    assert api.get("/api/v1/customers/c0").json["segments"] == []
    assert api.get("/api/v1/customers/c5").json["user_groups"] == ["VIP"]
    events = api.get("/api/v1/customers/c0/segment-history").json
    assert [e["event"] for e in events] == ["left", "entered"] and events[0]["reason"] == "edit"
    assert api.delete("/api/v1/segments/moscow").status_code == 202
    work(api)
    for i in range(6):
        c = api.get(f"/api/v1/customers/c{i}").json
        assert c["segments"] == [] and c["user_groups"] == [] and c["segment_user_groups"] == []


def test_inactive_segment_is_not_recalculated(ready):
    api = ready
    api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": RULE})
    work(api)
    api.patch("/api/v1/segments/moscow", json={"active": False})
    work(api)
    api.put("/api/v1/customers/c4?refresh=wait_for", json={"id": "c4", "city": "Moscow"})
    api.post("/api/v1/segments/moscow/recalculate")
    work(api)
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == 3
    assert api.get("/api/v1/customers/c4").json["segments"] == []


def test_static_segment_from_an_imported_list_is_formed_once(ready):
    api = ready
    api.put("/api/v1/customers/c1?refresh=wait_for", json={"id": "c1", "city": "Moscow", "email": "one@example.com"})
    r = api.post("/api/v1/segments", json={"code": "imported", "name": "Imported", "type": "static",
                                          "members": {"emails": ["ONE@example.com", "nobody@example.com"],
                                                      "customer_ids": ["c5", "ghost"]}})
    assert r.status_code == 201, r.json
    assert r.json["members_not_found"] == 2  # nobody@..., ghost; e-mails match in any case
    work(api)
    assert api.get("/api/v1/segments/imported").json["customers_count"] == 2
    api.post("/api/v1/segments/imported/recalculate")
    work(api)
    assert sorted(c for c in ("c1", "c5") if "imported" in api.get(f"/api/v1/customers/{c}").json["segments"]) == ["c1", "c5"]


def test_unknown_job_and_segment_are_404(ready):
    assert ready.get("/api/v1/jobs/nope").status_code == 404
    assert ready.post("/api/v1/segments/nope/recalculate").status_code == 404


def test_requests_mark_live_traffic_and_a_formation_gives_way_to_it(ready, redis_conn, prefix,
                                                                    monkeypatch, caplog):
    """segments.pacing: requests that search customers mark live traffic (probes and status
    reads do not), and a formation run meanwhile pauses between chunks, then forms exactly
    as it would flat out."""
    import logging
    key = f"{prefix}live-traffic"
    api = ready
    redis_conn.delete(key)
    assert api.get("/healthz").status_code in (200, 503)
    api.get("/metrics")
    assert api.get("/api/v1/segments").status_code == 200  # a status read, like a poll
    assert not redis_conn.exists(key)
    assert api.get("/api/v1/customers").status_code == 200
    assert redis_conn.exists(key) and 0 < redis_conn.pttl(key) <= 3000
    monkeypatch.setenv("SEGSEARCH_FORMATION_DUTY", "0.2")
    from workers.context import services_for
    services_for.cache_clear()
    caplog.set_level(logging.INFO, logger="segsearch.segments.engine")
    r = api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": RULE})
    assert r.status_code == 201, r.json
    redis_conn.set(key, 1, px=60_000)  # still marked however slowly this machine gets there
    work(api)
    seg = api.get("/api/v1/segments/moscow").json
    assert seg["status"] == "formed" and seg["customers_count"] == 3
    assert any("paused" in rec.getMessage() and "'moscow'" in rec.getMessage() for rec in caplog.records)


def test_live_traffic_is_best_effort_when_redis_is_away():
    """Neither a request nor a formation fails for the mark: a Redis nobody answers on
    marks nothing and reads as no traffic (the formation then writes flat out)."""
    from redis import Redis

    from segsearch.segments.pacing import LiveTraffic
    away = LiveTraffic(Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), "nowhere-")
    away.mark()
    assert away.active() is False
