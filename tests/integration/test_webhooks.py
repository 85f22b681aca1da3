"""Webhooks against the real node and Redis: deliveries run by a real RQ worker and
received by a real HTTP server on 127.0.0.1 (an ephemeral port). A loopback receiver
needs SEGSEARCH_WEBHOOK_ALLOW_PRIVATE=true (the `env` and `ready` fixtures set it for the
worker and the app); the refusals are tested with it off."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq import SimpleWorker
from rq.job import Job, JobStatus

from segsearch.notify.dispatch import after_formation

pytestmark = pytest.mark.integration

SECRET = "a-very-secret-key-0123456789"
ALL = ["segment.entered", "segment.left", "segment.formed"]
MOSCOW = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}


class Receiver:
    """A real HTTP endpoint: records every POST, answers with scripted statuses (then 200)."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        return [e for p in self.posts for e in json.loads(p["body"])["events"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def env(monkeypatch, prefix):
    """Jobs build their services from the environment, like the worker process does.

    Retries without a pause by default, so a burst worker runs them at once. The receiver
    is on 127.0.0.1, so private targets are allowed.
    """
    from tests.conftest import ES_URL, REDIS_URL
    from workers.context import services_for
    monkeypatch.setenv("ES_URL", ES_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEGSEARCH_INDEX_PREFIX", prefix)
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_RETRY_INTERVALS", "0,0,0")
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_ALLOW_PRIVATE", "true")
    services_for.cache_clear()
    yield services_for
    services_for.cache_clear()


@pytest.fixture
def ready(env, feed, api):
    svc_of(api).config["WEBHOOK_ALLOW_PRIVATE"] = True  # the app's copy of the setting
    return api


def svc_of(api):
    return api.app.extensions["segsearch"]


def work(api, with_scheduler: bool = False) -> None:
    svc = svc_of(api)
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True, with_scheduler=with_scheduler)


def subscribe(api, url: str, events: list[str] = ALL) -> str:
    r = api.post("/api/v1/webhooks?refresh=wait_for", json={"url": url, "events": events,
                                                            "secret": SECRET})
    assert r.status_code == 201, r.json
    return r.json["id"]


def verify(post: dict) -> dict:
    """The signature is the HMAC of the exact body bytes; returns the parsed body."""
    expected = "sha256=" + hmac.new(SECRET.encode(), post["body"], hashlib.sha256).hexdigest()
    assert post["headers"]["X-Segsearch-Signature"] == expected
    assert post["headers"]["Content-Type"] == "application/json"
    return json.loads(post["body"])


def formation(svc, entered: list[str], left: list[str] = (), code: str = "seg") -> None:
    segment = {"code": code, "name": "Seg", "created_by": None, "type": "dynamic"}
    result = {"count": len(entered), "entered": len(entered), "left": len(left),
              "took_ms": 1, "reason": "recalculation"}
    after_formation(svc, segment, result, list(entered), list(left))


def test_formation_through_the_api_is_delivered_signed(ready, feed, receiver):
    api = ready
    webhook_id = subscribe(api, receiver.url)
    feed.import_dataset(customers=[{"id": f"c{i}", "city": "Moscow" if i < 3 else "Kazan"}
                                   for i in range(6)])
    r = api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": MOSCOW})
    assert r.status_code == 201, r.json
    work(api)
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["path"] == "/hook" and post["headers"]["X-Segsearch-Delivery"]
    events = verify(post)["events"]
    entered = [e for e in events if e["type"] == "segment.entered"]
    assert sorted(e["customer_id"] for e in entered) == ["c0", "c1", "c2"]
    assert all(e["segment"] == "moscow" and e["at"] for e in entered)
    formed = events[-1]
    assert formed["type"] == "segment.formed" and formed["segment"] == "moscow"
    assert (formed["count"], formed["entered"], formed["left"]) == (3, 3, 0)
    # a customer leaves on the next formation
    api.put("/api/v1/customers/c0?refresh=wait_for", json={"city": "Kazan"})
    api.post("/api/v1/segments/moscow/recalculate")
    work(api)
    events = verify(receiver.posts[1])["events"]
    assert [(e["type"], e.get("customer_id")) for e in events] == [
        ("segment.left", "c0"), ("segment.formed", None)]
    shown = api.get(f"/api/v1/webhooks/{webhook_id}").json
    assert shown["last_success_at"] and shown["last_error"] is None and "secret" not in shown


def test_1200_entries_arrive_in_three_batches_of_at_most_500(ready, feed, receiver):
    api = ready
    subscribe(api, receiver.url, ["segment.entered"])
    feed.import_dataset(customers=[{"id": f"c{i:04d}", "city": "Moscow"} for i in range(1200)])
    api.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": MOSCOW})
    work(api)
    sizes = sorted((len(verify(p)["events"]) for p in receiver.posts), reverse=True)
    assert sizes == [500, 500, 200]
    events = receiver.events()
    assert {e["type"] for e in events} == {"segment.entered"}
    assert sorted(e["customer_id"] for e in events) == [f"c{i:04d}" for i in range(1200)]
    assert len({p["headers"]["X-Segsearch-Delivery"] for p in receiver.posts}) == 3


def test_a_500_is_retried_with_the_same_body_and_delivery_id(ready, receiver):
    api = ready
    subscribe(api, receiver.url, ["segment.formed"])
    receiver.statuses = [500]
    formation(svc_of(api), ["a", "b"])
    work(api)
    assert len(receiver.posts) == 2
    first, second = receiver.posts
    assert first["body"] == second["body"]
    assert first["headers"]["X-Segsearch-Delivery"] == second["headers"]["X-Segsearch-Delivery"]
    verify(second)
    job = Job.fetch(second["headers"]["X-Segsearch-Delivery"], connection=svc_of(api).redis)
    assert job.get_status() == JobStatus.FINISHED and job.retries_left == 2


def test_retry_after_a_pause_is_run_by_the_scheduler(ready, env, monkeypatch, receiver):
    api = ready
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_RETRY_INTERVALS", "1")
    env.cache_clear()
    subscribe(api, receiver.url, ["segment.formed"])
    receiver.statuses = [503]
    formation(env(svc_of(api).indices.prefix), ["a"])
    work(api)
    job = Job.fetch(receiver.posts[0]["headers"]["X-Segsearch-Delivery"],
                    connection=svc_of(api).redis)
    assert len(receiver.posts) == 1 and job.get_status() == JobStatus.SCHEDULED
    time.sleep(1.2)  # the retry is due one second after the failure
    work(api, with_scheduler=True)  # a burst worker's scheduler enqueues what is due
    assert len(receiver.posts) == 2 and job.get_status() == JobStatus.FINISHED


def test_exhausted_retries_fail_the_job_and_record_the_error(ready, receiver):
    api = ready
    webhook_id = subscribe(api, receiver.url, ["segment.formed"])
    receiver.statuses = [500] * 10
    formation(svc_of(api), ["a"])
    work(api)
    assert len(receiver.posts) == 4  # the first attempt and three retries
    job = Job.fetch(receiver.posts[0]["headers"]["X-Segsearch-Delivery"],
                    connection=svc_of(api).redis)
    assert job.get_status() == JobStatus.FAILED
    shown = api.get(f"/api/v1/webhooks/{webhook_id}").json
    assert shown["last_failure_at"] and "500" in shown["last_error"]


def test_an_unreachable_receiver_is_retried_then_failed(ready, receiver):
    api = ready
    url = receiver.url
    receiver.close()  # nothing listens there any more: connection refused
    webhook_id = subscribe(api, url, ["segment.formed"])
    formation(svc_of(api), ["a"])
    work(api)
    shown = api.get(f"/api/v1/webhooks/{webhook_id}").json
    assert "unreachable" in shown["last_error"] and shown["last_success_at"] is None
    assert len(svc_of(api).queue.failed_job_registry) == 1


def test_only_subscribed_events_and_active_webhooks_are_delivered(ready, receiver):
    api = ready
    subscribe(api, receiver.url, ["segment.left"])
    r = api.post("/api/v1/webhooks?refresh=wait_for", json={
        "url": receiver.url + "/off", "events": ALL, "secret": SECRET, "active": False})
    assert r.status_code == 201 and r.json["active"] is False
    formation(svc_of(api), ["a", "b"])  # nothing left: no POST for segment.left
    work(api)
    assert receiver.posts == []
    formation(svc_of(api), [], ["a"])
    work(api)
    assert [(e["type"], e["customer_id"]) for e in receiver.events()] == [("segment.left", "a")]


def test_a_deleted_webhook_gets_no_queued_delivery(ready, receiver):
    api = ready
    webhook_id = subscribe(api, receiver.url)
    formation(svc_of(api), ["a"])
    assert api.delete(f"/api/v1/webhooks/{webhook_id}?refresh=wait_for").status_code == 204
    work(api)
    assert receiver.posts == []
    assert api.get(f"/api/v1/webhooks/{webhook_id}").status_code == 404
    assert api.delete(f"/api/v1/webhooks/{webhook_id}").status_code == 404


def test_webhook_api_validates_hides_secrets_pages_and_checks_roles(ready):
    api = ready
    bad = api.post("/api/v1/webhooks", json={"url": "ftp://example.com/x", "events": ["nope"],
                                             "secret": "short"})
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"url", "events.0", "secret"}
    missing = api.post("/api/v1/webhooks", json={"events": []})
    assert set(missing.json["errors"]) == {"url", "events", "secret"}
    for i in range(3):
        subscribe(api, f"https://93.184.215.14/hook{i}", ["segment.formed", "segment.formed"])
    first = api.get("/api/v1/webhooks?page_size=2").json
    assert first["total"] == 3 and len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(f"/api/v1/webhooks?page_size=2&cursor={first['next_cursor']}").json
    items = first["items"] + rest["items"]
    assert rest["next_cursor"] is None and len({w["id"] for w in items}) == 3
    assert all("secret" not in w and w["events"] == ["segment.formed"] for w in items)
    assert SECRET not in json.dumps(api.get("/api/v1/openapi.json").json.get("paths"))
    assert api.as_role("marketer").get("/api/v1/webhooks").status_code == 200
    viewer = api.as_role("viewer")
    assert viewer.get("/api/v1/webhooks").status_code == 403
    assert viewer.post("/api/v1/webhooks", json={}).status_code == 403
    assert api.get("/api/v1/webhooks", headers={"Authorization": "Bearer nope"}).status_code == 401


REFUSED = [
    "http://127.0.0.1:9200/_bulk", "http://localhost:6379/", "http://[::1]:9200/",
    "http://[::ffff:127.0.0.1]:9200/", "http://10.0.0.1/", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data", "http://0.0.0.0:9200/", "http://224.0.0.1/",
    "http://2130706433:9200/", "http://0x7f.1/", "http://0177.0.0.1/",
    "https://hooks.segsearch.invalid/x", "ftp://93.184.215.14/x"]


def test_private_unresolvable_and_non_http_urls_are_refused(api):
    """One app for all URLs: index set-up is the slow part of an integration test."""
    assert svc_of(api).config["WEBHOOK_ALLOW_PRIVATE"] is False  # the default
    for url in REFUSED:
        r = api.post("/api/v1/webhooks", json={"url": url, "events": ALL, "secret": SECRET})
        assert r.status_code == 422, (url, r.json)
        assert set(r.json["errors"]) == {"url"}, url
    assert api.get("/api/v1/webhooks").json["total"] == 0


def test_allowed_at_creation_then_refused_at_delivery_when_the_setting_is_off(
        ready, env, monkeypatch, receiver):
    """The check runs again at delivery: the attempt fails visibly and nothing is sent."""
    api = ready
    webhook_id = subscribe(api, receiver.url, ["segment.formed"])  # allowed: private targets on
    monkeypatch.setenv("SEGSEARCH_WEBHOOK_ALLOW_PRIVATE", "false")
    env.cache_clear()  # the worker's services now see the setting off
    formation(svc_of(api), ["a"])
    work(api)
    assert receiver.posts == []
    shown = api.get(f"/api/v1/webhooks/{webhook_id}").json
    assert "refused, not sent" in shown["last_error"] and "loopback" in shown["last_error"]
    assert shown["last_success_at"] is None and shown["last_failure_at"]
    assert len(svc_of(api).queue.failed_job_registry) == 1  # retried, then failed
