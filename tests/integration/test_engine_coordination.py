"""Membership that cannot get stuck (issue 8, items 3-5), on the real node and Redis.

Faults are real: a formation fails because its customers index is closed on the node;
an enqueue fails because the wrapper raises Redis's own error. Jobs run in SimpleWorker.
"""
from __future__ import annotations

import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker
from rq.job import Job

from segsearch.search.indices import current_index
from segsearch.segments import jobs
from segsearch.segments.engine import Engine
from segsearch.segments.worklog import SegmentLock
from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient

pytestmark = pytest.mark.integration

CUSTOMERS = [{"id": f"c{i}", "city": "Moscow" if i < 3 else "Kazan"} for i in range(6)]
RULE = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
URL = "/api/v1/segments"


@pytest.fixture
def app(prefix, redis_conn, monkeypatch):
    """The app with a 1 s / 2 s back-off, and the worker's services built for the same prefix."""
    from segsearch import create_app
    monkeypatch.setenv("ES_URL", ES_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEGSEARCH_INDEX_PREFIX", prefix)
    monkeypatch.setenv("SEGSEARCH_FORMATION_RETRY_SECONDS", "1,2")
    from workers.context import services_for
    services_for.cache_clear()
    application = create_app({"ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "INDEX_PREFIX": prefix,
                              "BOOTSTRAP_TOKEN": ADMIN_TOKEN, "FORMATION_RETRY_SECONDS": "1,2"})
    yield application
    services_for.cache_clear()
    for key in redis_conn.scan_iter(f"*{prefix}*"):
        redis_conn.delete(key)


@pytest.fixture
def svc(app, feed):
    feed.import_dataset(customers=CUSTOMERS)
    return app.extensions["segsearch"]


@pytest.fixture
def api(app, svc) -> ApiClient:
    return ApiClient(app)


def work(svc) -> None:
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)


def members(svc, code: str) -> set[str]:
    svc.es.indices.refresh(index=svc.indices.customers)
    res = svc.es.search(index=svc.indices.customers, query={"term": {"segments": code}}, size=100)
    return {h["_id"] for h in res["hits"]["hits"]}


def close_customers(svc) -> str:
    index = current_index(svc.es, svc.indices.customers)
    svc.es.indices.close(index=index)
    return index


def test_lock_is_released_only_by_its_owner(svc):
    key = f"{svc.indices.prefix}lock:segment:x"
    first = SegmentLock(svc.redis, key, "job-1", ttl=1)
    second = SegmentLock(svc.redis, key, "job-2", ttl=30)
    assert first.acquire() and not second.acquire()
    assert first.acquire()  # its owner may take it again (a retried job)
    time.sleep(1.2)  # first's lease runs out while it still "works"
    assert second.acquire()
    assert not first.release()  # a late release must not free someone else's lock
    assert svc.redis.get(key) == b"job-2" and second.release() and not second.held()


def test_a_request_between_the_last_check_and_the_release_is_formed(api, svc, feed):
    assert api.post(URL, json={"code": "m", "name": "M", "rule": RULE}).status_code == 201
    engine = Engine(svc)
    passes = []
    original_done, original_form_once = engine.work.done, engine._form_once

    def form_once(code, reason, progress):
        passes.append(reason)
        return original_form_once(code, reason, progress)

    def done_then_request(code, gen):
        closed = original_done(code, gen)
        if len(passes) == 1:  # after the pass's last check, before the lock is released
            feed.put_customer("c5", {"city": "Moscow"}, refresh="true")
            engine.work.request(code, "edit")
        return closed

    engine._form_once, engine.work.done = form_once, done_then_request
    engine.form("m", "created")
    assert passes == ["created", "edit"]  # the late request was run by the same job
    assert members(svc, "m") == {"c0", "c1", "c2", "c5"}
    assert engine.work.entry("m") is None  # nothing left pending


def test_a_request_during_a_pass_makes_one_more_pass(api, svc, feed):
    api.post(URL, json={"code": "m", "name": "M", "rule": RULE})
    engine = Engine(svc)
    original = engine._form_once
    calls = []

    def form_once(code, reason, progress):
        calls.append(reason)
        result = original(code, reason, progress)
        if len(calls) == 1:
            feed.put_customer("c4", {"city": "Moscow"}, refresh="true")
            engine.form(code, "edit")  # a second job finds the lock taken: it only records
        return result

    engine._form_once = form_once
    engine.form("m", "created")
    assert calls == ["created", "edit"] and members(svc, "m") == {"c0", "c1", "c2", "c4"}


def test_a_failed_enqueue_is_queued_by_the_scheduler(api, svc, monkeypatch):

    def broken(*args, **kwargs):
        raise RedisConnectionError("simulated: the enqueue did not reach Redis")

    with monkeypatch.context() as patched:
        patched.setattr(svc, "enqueue", broken)
        assert api.post(URL, json={"code": "m", "name": "M", "rule": RULE}).status_code == 201
    assert svc.queue.count == 0 and jobs.work_log(svc).entry("m") is not None
    assert jobs.drain(svc) == ["m"]
    work(svc)
    assert members(svc, "m") == {"c0", "c1", "c2"}
    assert jobs.work_log(svc).entry("m") is None and jobs.drain(svc) == []


def test_one_queued_formation_per_segment(api, svc):
    assert api.post(URL, json={"code": "m", "name": "M", "rule": RULE}).status_code == 201
    ids = {api.post(f"{URL}/m/recalculate").json["job_id"] for _ in range(3)}
    jobs.drain(svc)
    Engine(svc).due()  # the schedule sees it pending: still one job
    assert ids == {jobs.job_id(svc.indices.prefix, "m")} and svc.queue.job_ids == list(ids)
    work(svc)
    job = Job.fetch(ids.pop(), connection=svc.redis)
    assert job.get_status().value == "finished"
    # A finished job kept for its TTL does not block the next request; it is replaced.
    assert api.post(f"{URL}/m/recalculate").status_code == 202
    assert svc.queue.job_ids == [job.id] and job.get_status(refresh=True).value == "queued"
    assert job.id not in svc.queue.finished_job_registry.get_job_ids()
    work(svc)
    assert job.get_status(refresh=True).value == "finished"


def test_failure_is_visible_notified_once_and_retried_with_backoff(api, svc):
    marketer = api.as_role("marketer")
    assert marketer.post(URL, json={"code": "m", "name": "Moscow", "rule": RULE}).status_code == 201
    index = close_customers(svc)
    try:
        work(svc)
        job = Job.fetch(jobs.job_id(svc.indices.prefix, "m"), connection=svc.redis)
        assert job.get_status().value == "failed"
        seg = marketer.get(f"{URL}/m").json
        assert seg["status"] == "failed" and seg["failed_attempts"] == 1
        assert seg["last_error"].startswith("Elasticsearch refused a request (400")
        assert "Traceback" not in seg["last_error"] and seg["next_run_at"]
        assert jobs.drain(svc) == []  # backing off
        time.sleep(1.1)
        assert jobs.drain(svc) == ["m"]  # a brand-new segment is retried too
        work(svc)
        seg = marketer.get(f"{URL}/m").json
        assert seg["status"] == "failed" and seg["failed_attempts"] == 2
    finally:
        svc.es.indices.open(index=index, wait_for_active_shards="1")
    notes = notifications(marketer)
    assert [n["kind"] for n in notes] == ["segment.failed"]  # the streak's first failure only
    assert "Elasticsearch refused a request" in notes[0]["message"]
    time.sleep(2.1)
    assert jobs.drain(svc) == ["m"]
    work(svc)
    seg = marketer.get(f"{URL}/m").json
    assert seg["status"] == "formed" and seg["last_error"] is None and seg["failed_attempts"] == 0
    assert members(svc, "m") == {"c0", "c1", "c2"} and jobs.work_log(svc).entry("m") is None


def test_a_deleted_segments_cleanup_is_retried_until_its_code_is_gone(api, svc):
    api.post(URL, json={"code": "m", "name": "M", "rule": RULE, "user_group": "VIP"})
    work(svc)
    assert members(svc, "m") == {"c0", "c1", "c2"}
    index = close_customers(svc)
    try:
        assert api.delete(f"{URL}/m").status_code == 202
        work(svc)  # the clean-up fails: the node refuses the customers index
        entry = jobs.work_log(svc).entry("m")
        assert entry is not None and entry.reason == "delete" and entry.error
    finally:
        svc.es.indices.open(index=index, wait_for_active_shards="1")
    # Even with the record lost (Redis emptied), the schedule finds the code on customers.
    svc.redis.delete(*svc.redis.keys(f"{svc.indices.prefix}work:*"))
    engine = Engine(svc)
    assert engine.due() == [("m", "delete")]
    for code, reason in engine.due():
        engine.work.ensure(code, reason)
    assert jobs.drain(svc) == ["m"]
    work(svc)
    assert members(svc, "m") == set() and engine.due() == []
    c0 = api.get("/api/v1/customers/c0").json
    assert c0["segments"] == [] and c0["user_groups"] == []


def test_redis_down_refuses_a_segment_write_with_503_and_writes_nothing(api, svc, prefix):
    from segsearch import create_app
    dead = create_app({"ES_URL": ES_URL, "REDIS_URL": "redis://127.0.0.1:1/0", "INDEX_PREFIX": prefix,
                       "BOOTSTRAP_TOKEN": ADMIN_TOKEN})
    r = ApiClient(dead).post(URL, json={"code": "m", "name": "M", "rule": RULE})
    assert r.status_code == 503 and "Redis" in r.json["message"]
    assert api.get(f"{URL}/m").status_code == 404


def notifications(client) -> list[dict]:
    svc = client.app.extensions["segsearch"]
    svc.es.indices.refresh(index=svc.indices.notifications)
    r = client.get("/api/v1/notifications")
    assert r.status_code == 200, r.json
    return r.json["items"]
