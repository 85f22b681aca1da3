"""Faults with real processes (issue 8, items 14 and 15), each bounded in time.

Each test starts its own Elasticsearch (port 9261, or SEGSEARCH_TEST_FAULT_ES_PORT) or Redis
(port 6392, or SEGSEARCH_TEST_FAULT_REDIS_PORT) with the project's scripts, a real worker
and a real scheduler (`python -m workers.worker` / `.scheduler`), breaks the service
mid-flight and checks what a user sees, then that the system heals.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from rq.job import Job

from segsearch.feed.service import Feed
from segsearch.search import indices as idx
from segsearch.search.client import make_client
from segsearch.search.indices import Indices
from segsearch.segments import jobs
from segsearch.segments.store import SegmentStore, new_document
from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL, ApiClient

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Another checkout's services on the same machine may hold the default ports.
ES_PORT = int(os.environ.get("SEGSEARCH_TEST_FAULT_ES_PORT", "9261"))
REDIS_PORT = int(os.environ.get("SEGSEARCH_TEST_FAULT_REDIS_PORT", "6392"))
RULE = {"match": "all", "groups": [{"block": "customer", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def script(name: str, *args: str, timeout: float = 240) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / name), *args], check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A data directory the Elasticsearch user (not root) can reach: not under pytest's 0700 tmp."""
    path = Path(tempfile.mkdtemp(prefix="segsearch-fault-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start(module: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# The suite's own cluster settings (`make test-cluster`: credentials, a CA for https, 3 shards
# and a replica) do not apply to a test's own plain single node.
OWN_NODE_UNSET = ("ES_API_KEY", "ES_USERNAME", "ES_PASSWORD", "ES_CA_CERTS",
                  "SEGSEARCH_SHARDS", "SEGSEARCH_REPLICAS")


def app_for(es_url: str, redis_url: str, prefix: str):
    from segsearch import create_app
    own: dict = {} if es_url == ES_URL else {
        "ES_API_KEY": None, "ES_USERNAME": None, "ES_PASSWORD": None, "ES_CA_CERTS": None,
        "SHARDS": 1, "REPLICAS": 0}
    return create_app({"ES_URL": es_url, "REDIS_URL": redis_url, "INDEX_PREFIX": prefix,
                       "BOOTSTRAP_TOKEN": ADMIN_TOKEN, **own})


def env_for(es_url: str, redis_url: str, prefix: str) -> dict:
    env = {**os.environ, "ES_URL": es_url, "REDIS_URL": redis_url, "SEGSEARCH_INDEX_PREFIX": prefix,
           "SEGSEARCH_FORMATION_RETRY_SECONDS": "5"}
    if es_url != ES_URL:
        for name in OWN_NODE_UNSET:
            env.pop(name, None)
    return env


def count(es: Elasticsearch, index: str, query: dict) -> int:
    es.indices.refresh(index=index)
    return es.count(index=index, query=query)["count"]


# -- 14: Elasticsearch stopped mid-formation --------------------------------------------

N = 20_000


def test_elasticsearch_stopped_mid_formation(scratch, redis_conn):
    es_dir, es_url, prefix = str(scratch / "es"), f"http://127.0.0.1:{ES_PORT}", "segfault-es-"
    script("es.sh", "start", es_dir, str(ES_PORT), "512m")
    procs: list[subprocess.Popen] = []
    try:
        es = make_client(es_url)
        indices = Indices(prefix)
        idx.ensure(es, indices)
        Feed(es, indices).import_dataset(customers=[
            {"id": f"c{i:05d}", "city": "Moscow" if i % 2 else "Kazan"} for i in range(N)])
        app = app_for(es_url, REDIS_URL, prefix)
        api = ApiClient(app)
        svc = app.extensions["segsearch"]
        env = env_for(es_url, REDIS_URL, prefix)
        procs.append(start("workers.worker", env))
        marketer = api.as_role("marketer")
        assert marketer.post("/api/v1/segments", json={"code": "big", "name": "Big", "rule": RULE,
                                                       "user_group": "VIP"}).status_code == 201
        job = Job.fetch(jobs.job_id(prefix, "big"), connection=svc.redis)
        wait_for(lambda: job.get_meta(refresh=True).get("progress", 0) > 0, 120, "the formation to start")
        node_pid = int(Path(es_dir, "es.node.pid").read_text())
        os.kill(node_pid, signal.SIGKILL)  # Elasticsearch dies mid-formation
        wait_for(lambda: job.get_status(refresh=True).value == "failed", 120, "the job to fail")
        # The failure is recorded (the segment document waits for Elasticsearch).
        entry = jobs.work_log(svc).entry("big")
        assert entry is not None and entry.error == "Elasticsearch is unreachable."
        r = api.get("/api/v1/segments/big")
        assert r.status_code == 503
        # api/errors.py names Elasticsearch once the input branch is merged.
        assert "Elasticsearch" in r.json["message"] or "search backend" in r.json["message"]
        health = api.http.get("/healthz")
        assert health.status_code == 503 and health.json["elasticsearch"].startswith("unreachable")
        assert health.json["redis"] == "ok"

        script("es.sh", "stop", es_dir, str(ES_PORT))
        script("es.sh", "start", es_dir, str(ES_PORT), "512m")
        procs.append(start("workers.scheduler", env))
        # The scheduler reports the failure first, then queues the retry.
        wait_for(lambda: _notes(marketer, svc), 120, "the failure notification")
        note = _notes(marketer, svc)[-1]
        assert note["kind"] == "segment.failed" and "Elasticsearch is unreachable" in note["message"]
        wait_for(lambda: api.get("/api/v1/segments/big").json["status"] == "formed", 180,
                 "the retry to form the segment")
        seg = api.get("/api/v1/segments/big").json
        assert seg["last_error"] is None and seg["failed_attempts"] == 0
        customers = svc.indices.customers
        assert seg["customers_count"] == N // 2
        assert count(es, customers, {"term": {"segments": "big"}}) == N // 2
        assert count(es, customers, {"term": {"user_groups": "VIP"}}) == N // 2
        assert count(es, customers, {"bool": {"filter": [{"term": {"segments": "big"}},
                                                         {"term": {"city": "Kazan"}}]}}) == 0
        assert _duplicate_entries(es, svc.indices.segment_events, "big") == []
    finally:
        for proc in procs:
            stop(proc)
        script("es.sh", "stop", es_dir, str(ES_PORT))
        for key in redis_conn.scan_iter(f"*{prefix}*"):
            redis_conn.delete(key)


def _notes(client: ApiClient, svc) -> list[dict]:
    try:
        svc.es.indices.refresh(index=svc.indices.notifications)
    except Exception:  # noqa: BLE001 - still starting
        return []
    r = client.get("/api/v1/notifications")
    return [n for n in r.json["items"] if n["kind"] == "segment.failed"] if r.status_code == 200 else []


def _duplicate_entries(es: Elasticsearch, index: str, code: str) -> list:
    es.indices.refresh(index=index)
    res = es.search(index=index, size=0, query={"bool": {"filter": [
        {"term": {"kind": "member"}}, {"term": {"segment": code}}, {"term": {"event": "entered"}}]}},
        aggs={"dup": {"terms": {"field": "customer_id", "min_doc_count": 2, "size": 10}}})
    return res["aggregations"]["dup"]["buckets"]


# -- 15: Redis stopped --------------------------------------------------------------------

def test_redis_stopped(scratch, es, prefix):
    redis_dir, redis_url = str(scratch / "redis"), f"redis://127.0.0.1:{REDIS_PORT}/0"
    script("redis.sh", "start", redis_dir, str(REDIS_PORT))
    procs: list[subprocess.Popen] = []
    try:
        idx.ensure(es, Indices(prefix))
        Feed(es, Indices(prefix)).import_dataset(customers=[
            {"id": "m1", "city": "Moscow"}, {"id": "k1", "city": "Kazan"}])
        app = app_for(ES_URL, redis_url, prefix)
        api, svc = ApiClient(app), app.extensions["segsearch"]
        env = env_for(ES_URL, redis_url, prefix)
        procs += [start("workers.worker", env), start("workers.scheduler", env)]
        wait_for(lambda: api.http.get("/healthz").json["workers"] >= 1, 60, "the worker")

        script("redis.sh", "stop", redis_dir, str(REDIS_PORT))
        health = api.http.get("/healthz")
        assert health.status_code == 503 and health.json["redis"].startswith("unreachable")
        assert health.json["elasticsearch"] == "ok"
        r = api.post("/api/v1/segments", json={"code": "m", "name": "M", "rule": RULE})
        assert r.status_code == 503 and "Redis" in r.json["message"]
        assert api.get("/api/v1/segments/m").status_code == 404  # nothing half-done
        # A feed write lands whole, or (if it needs Redis) is refused before writing.
        customer = api.put("/api/v1/customers/m2", json={"city": "Moscow"})
        assert customer.status_code in (201, 503)
        stored = api.get("/api/v1/customers/m2")
        assert (stored.status_code, stored.json.get("city")) == (
            (200, "Moscow") if customer.status_code == 201 else (404, None))
        # A product write may need a re-derive job: refused before anything is written.
        r = api.put("/api/v1/products/p1", json={"name": "P", "price": "1.00", "groups": []})
        assert r.status_code == 503 and "Redis" in r.json["message"]
        assert es.count(index=Indices(prefix).products, query={"ids": {"values": ["p1"]}})["count"] == 0
        time.sleep(8)  # the worker and the scheduler meet the outage
        assert all(proc.poll() is None for proc in procs), "a loop died with Redis"

        script("redis.sh", "start", redis_dir, str(REDIS_PORT))
        assert api.post("/api/v1/segments", json={"code": "m", "name": "M", "rule": RULE}).status_code == 201
        # A request recorded without a job: only the reconnected scheduler can queue it.
        kazan = {"match": "all", "groups": [{"block": "customer", "conditions": [
            {"field": "city", "op": "in", "include": ["Kazan"]}]}]}
        SegmentStore(es, Indices(prefix)).create(
            new_document({"code": "k", "name": "K", "type": "dynamic", "rule": kazan}, None), "true")
        jobs.work_log(svc).request("k", "created")
        expected_m = 2 if customer.status_code == 201 else 1
        for code, expected in (("m", expected_m), ("k", 1)):
            wait_for(lambda c=code: api.get(f"/api/v1/segments/{c}").json["status"] == "formed", 90,
                     f"segment {code} formed after Redis returned")
            assert api.get(f"/api/v1/segments/{code}").json["customers_count"] == expected
        assert api.http.get("/healthz").status_code == 200
    finally:
        for proc in procs:
            stop(proc)
        script("redis.sh", "stop", redis_dir, str(REDIS_PORT))
