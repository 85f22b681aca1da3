"""A worker on another host goes silent mid-formation (CONTRACT 6.7: workers on several hosts).

The worker runs here under another host's name (SEGSEARCH_WORKER_HOST), so its pid tells
the scheduler nothing; it is frozen with SIGSTOP, as a host that loses power or network
would leave it. Its job stops beating; after SILENCE_SECONDS the scheduler's recovery
takes the job back, a worker on this host finishes it, and the end state is exact.
"""
from __future__ import annotations

import os
import signal
import time

import pytest
from rq.job import Job

from segsearch.segments.jobs import drain
from tests.integration.test_worker_crash import start_worker, wait_for
from workers import recovery

pytestmark = pytest.mark.integration
N = 12_000


def family(pid: int) -> list[int]:
    """pid and its descendants (RQ's work horse runs in a session of its own)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def freeze(pid: int) -> None:
    for member in family(pid):
        os.kill(member, signal.SIGSTOP)


def test_silent_worker_on_another_host_is_recovered(api, feed, prefix, monkeypatch):
    from tests.conftest import ES_URL, REDIS_URL
    monkeypatch.setattr(recovery, "SILENCE_SECONDS", 12)  # not 30: keep the test short
    env = {**os.environ, "ES_URL": ES_URL, "REDIS_URL": REDIS_URL, "SEGSEARCH_INDEX_PREFIX": prefix,
           "SEGSEARCH_FORMATION_RETRY_SECONDS": "1"}
    feed.import_dataset(customers=[{"id": f"h{i:05d}", "city": "Moscow" if i % 2 else "Kazan"}
                                   for i in range(N)])
    svc = api.app.extensions["segsearch"]
    rule = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
    remote = start_worker({**env, "SEGSEARCH_WORKER_HOST": "worker-host-b"})
    local = None
    try:
        assert api.post("/api/v1/segments", json={"code": "moscow", "name": "M", "rule": rule,
                                                 "user_group": "VIP"}).status_code == 201
        job_id = wait_for(lambda: svc.queue.started_job_registry.get_job_ids() or None, 60,
                          "the formation to start")[0]
        freeze(remote.pid)  # the other host falls silent, mid-formation
        assert str(Job.fetch(job_id, connection=svc.redis).get_status(refresh=True).value) == "started"
        assert recovery.recover_abandoned(svc.queue, svc.redis) == []  # its beat is still fresh
        frozen = time.monotonic()
        wait_for(lambda: recovery.recover_abandoned(svc.queue, svc.redis) == [job_id], 60,
                 "the silent job to be taken back")
        noticed = time.monotonic() - frozen
        assert wait_for(lambda: drain(svc), 10, "the record to be due") == ["moscow"]
        local = start_worker(env)
        wait_for(lambda: str(Job.fetch(job_id, connection=svc.redis).get_status(refresh=True).value)
                 == "finished", 120, "the retried job to finish on this host")
        print(f"\n[other host] silent job taken back {noticed:.1f} s after the host froze")
    finally:
        for member in family(remote.pid):
            os.kill(member, signal.SIGKILL)
        remote.wait()
        if local is not None and local.poll() is None:
            os.killpg(local.pid, signal.SIGTERM)
            local.wait(timeout=30)
    svc.es.indices.refresh(index=svc.indices.customers)
    members = svc.es.count(index=svc.indices.customers, query={"term": {"segments": "moscow"}})["count"]
    vip = svc.es.count(index=svc.indices.customers, query={"term": {"user_groups": "VIP"}})["count"]
    kazan_in = svc.es.count(index=svc.indices.customers, query={"bool": {"filter": [
        {"term": {"segments": "moscow"}}, {"term": {"city": "Kazan"}}]}})["count"]
    assert (members, vip, kazan_in) == (N // 2, N // 2, 0)
