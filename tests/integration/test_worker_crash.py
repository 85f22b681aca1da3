"""A worker killed with SIGKILL in the middle of a formation: the job is noticed promptly
(workers.recovery), the formation's record queues it again, and the end state is exact."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq.job import Job

from segsearch.segments.jobs import drain
from workers.recovery import recover_abandoned

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
N = 12_000


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_formation_is_retried_and_exact(api, feed, prefix):
    from tests.conftest import ES_URL, REDIS_URL
    env = {**os.environ, "ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "SEGSEARCH_INDEX_PREFIX": prefix,
           "SEGSEARCH_FORMATION_RETRY_SECONDS": "1"}
    feed.import_dataset(customers=[{"id": f"c{i:05d}", "city": "Moscow" if i % 2 else "Kazan"}
                                   for i in range(N)])
    svc = api.app.extensions["segsearch"]
    rule = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
    worker = start_worker(env)
    try:
        assert api.post("/api/v1/segments", json={"code": "moscow", "name": "M", "rule": rule,
                                                 "user_group": "VIP"}).status_code == 201
        job_id = wait_for(lambda: svc.queue.started_job_registry.get_job_ids()
                          or None, 60, "the formation to start")[0]
        job = Job.fetch(job_id, connection=svc.redis)
        wait_for(lambda: job.get_meta(refresh=True).get("progress", 0) > 0, 60, "some progress")
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-formation
        worker.wait()
        svc.es.indices.refresh(index=svc.indices.customers)
        partial = svc.es.count(index=svc.indices.customers, query={"term": {"segments": "moscow"}})["count"]
        assert 0 < partial < N // 2, "the kill should land mid-formation"
        started = time.monotonic()
        assert recover_abandoned(svc.queue, svc.redis) == [job_id]
        # The formation's record outlives its job: the scheduler's drain queues it again
        # (same job id) once the attempt's lease (1 s here) has run out.
        assert wait_for(lambda: drain(svc), 10, "the record to be due") == ["moscow"]
        worker = start_worker(env)
        wait_for(lambda: str(Job.fetch(job_id, connection=svc.redis).get_status(refresh=True).value)
                 == "finished", 120, "the retried job to finish")
        print(f"\n[crash] {partial}/{N // 2} written before the kill; "
              f"recovered and finished {time.monotonic() - started:.1f} s after the kill was noticed")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    svc.es.indices.refresh(index=svc.indices.customers)
    members = svc.es.count(index=svc.indices.customers, query={"term": {"segments": "moscow"}})["count"]
    vip = svc.es.count(index=svc.indices.customers, query={"term": {"user_groups": "VIP"}})["count"]
    kazan_in = svc.es.count(index=svc.indices.customers, query={"bool": {"filter": [
        {"term": {"segments": "moscow"}}, {"term": {"city": "Kazan"}}]}})["count"]
    assert members == N // 2 and vip == N // 2 and kazan_in == 0
    seg = api.get("/api/v1/segments/moscow").json
    assert seg["status"] == "formed" and seg["customers_count"] == N // 2
