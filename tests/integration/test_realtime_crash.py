"""A follower process SIGKILLed in the middle of a batch loses no change: its leased ids
stay pending, the lease runs out and a new follower finishes them, exactly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import SimpleWorker

from segsearch.realtime.changes import PendingChanges

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
N = 2000
MOSCOW = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
IS_MOSCOW = {"term": {"city": "Moscow"}}
MEMBER = {"term": {"segments": "moscow"}}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def start_follower(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workers.follower"], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_follower_killed_mid_batch_loses_no_change(api, prefix, monkeypatch):
    from tests.conftest import ES_URL, REDIS_URL
    from workers.context import services_for
    for name, value in (("ES_URL", ES_URL), ("REDIS_URL", REDIS_URL),
                        ("SEGSEARCH_INDEX_PREFIX", prefix)):
        monkeypatch.setenv(name, value)  # the formation job builds its services from these
    services_for.cache_clear()
    svc = api.app.extensions["segsearch"]
    svc.feed.import_dataset(customers=[{"id": f"k{i:05d}", "city": "Kazan"} for i in range(N)])
    assert api.post("/api/v1/segments", json={"code": "moscow", "name": "M", "rule": MOSCOW,
                                             "user_group": "M"}).status_code == 201
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)
    assert api.get("/api/v1/segments/moscow").json["status"] == "formed"
    pending = PendingChanges(svc.redis, prefix)
    # every other customer moves to Moscow, through the feed (which marks them)
    moved = [{"id": f"k{i:05d}", "city": "Moscow"} for i in range(0, N, 2)]
    assert svc.feed.bulk_customers(moved)["errors"] == []
    assert pending.size() == N // 2
    env = {**os.environ, "ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "SEGSEARCH_INDEX_PREFIX": prefix,
           "SEGSEARCH_REALTIME_BATCH_SIZE": "50", "SEGSEARCH_REALTIME_LEASE_SECONDS": "2",
           "SEGSEARCH_REALTIME_LINGER_MS": "0"}
    follower = start_follower(env)
    try:
        # kill it while it holds a batch, after it finished at least one
        wait_for(lambda: pending.size() < N // 2 and svc.redis.zcard(pending.leases) > 0,
                 90, "the follower to be mid-batch")
        os.killpg(follower.pid, signal.SIGKILL)
        follower.wait()
        orphaned = svc.redis.zcard(pending.leases)
        left = pending.size()
        assert orphaned > 0 and 0 < left < N // 2
        follower = start_follower(env)
        started = time.monotonic()
        wait_for(lambda: pending.size() == 0, 120, "the new follower to finish")
        print(f"\n[realtime crash] killed with {orphaned} leased, {left} pending; "
              f"finished {time.monotonic() - started:.1f} s after the restart")
    finally:
        if follower.poll() is None:
            os.killpg(follower.pid, signal.SIGTERM)
            follower.wait(timeout=30)
    svc.es.indices.refresh(index=svc.indices.customers)
    def count(q):
        return svc.es.count(index=svc.indices.customers, query=q)["count"]
    assert count({"bool": {"filter": [IS_MOSCOW], "must_not": [MEMBER]}}) == 0
    assert count({"bool": {"filter": [MEMBER], "must_not": [IS_MOSCOW]}}) == 0
    assert count({"term": {"user_groups": "M"}}) == N // 2
    assert api.get("/api/v1/segments/moscow").json["customers_count"] == N // 2
