"""Notifications of formation against the real node and Redis: the in-app list per user,
the settings, and the e-mail received by a real SMTP server (aiosmtpd on 127.0.0.1)."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from rq import SimpleWorker

from segsearch.notify.dispatch import after_formation

pytestmark = pytest.mark.integration

MOSCOW = {"match": "all", "groups": [{"block": "customer", "match": "all", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
CUSTOMERS = [{"id": f"c{i}", "city": "Moscow" if i < 3 else "Kazan"} for i in range(6)]


class Mailbox:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


def _free_port() -> int:
    # aiosmtpd's Controller checks it is up by connecting to its port, so it needs a
    # concrete one: take an ephemeral port from the OS and hand it over.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def env(monkeypatch, prefix, smtp):
    """The worker's services come from the environment: the test SMTP server included."""
    from tests.conftest import ES_URL, REDIS_URL
    from workers.context import services_for
    monkeypatch.setenv("ES_URL", ES_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEGSEARCH_INDEX_PREFIX", prefix)
    monkeypatch.setenv("SEGSEARCH_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SEGSEARCH_SMTP_PORT", str(smtp[1]))
    monkeypatch.setenv("SEGSEARCH_SMTP_FROM", "segsearch@example.org")
    services_for.cache_clear()
    yield services_for
    services_for.cache_clear()


@pytest.fixture
def ready(env, feed, api):
    feed.import_dataset(customers=CUSTOMERS)
    return api


def work(api) -> None:
    svc = api.app.extensions["segsearch"]
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)


def notifications(client, query: str = "") -> dict:
    svc = client.app.extensions["segsearch"]
    svc.es.indices.refresh(index=svc.indices.notifications)  # written without a refresh
    r = client.get(f"/api/v1/notifications{query}")
    assert r.status_code == 200, r.json
    return r.json


def test_the_creator_is_notified_in_app_and_by_email(ready, smtp):
    mailbox, _ = smtp
    marketer, viewer = ready.as_role("marketer"), ready.as_role("viewer")
    r = marketer.put("/api/v1/notification-settings", json={"email_address": "m@example.com"})
    assert r.status_code == 200 and r.json["email_enabled"] is True
    r = marketer.post("/api/v1/segments", json={"code": "moscow", "name": "VIP Moscow",
                                                "rule": MOSCOW})
    assert r.status_code == 201 and r.json["created_by"] == "test-marketer"
    work(ready)
    page = notifications(marketer)
    assert page["total"] == 1 and page["next_cursor"] is None
    note = page["items"][0]
    assert note["kind"] == "segment.formed" and note["segment"] == "moscow"
    assert note["message"] == "Segment VIP Moscow is formed: 3 customers"
    assert note["count"] == 3 and note["read"] is False and note["at"]
    assert notifications(viewer)["total"] == 0 and notifications(ready)["total"] == 0
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mail["To"] == "m@example.com" and mailbox.recipients == [["m@example.com"]]
    assert mail["From"] == "segsearch@example.org"
    assert mail["Subject"] == "Segment VIP Moscow is formed: 3 customers"
    assert "Customers: 3" in mail.get_content()


def test_marking_read_is_for_the_owner_only(ready):
    marketer = ready.as_role("marketer")
    marketer.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": MOSCOW})
    work(ready)
    note_id = notifications(marketer)["items"][0]["id"]
    assert ready.post(f"/api/v1/notifications/{note_id}/read").status_code == 404
    r = marketer.post(f"/api/v1/notifications/{note_id}/read?refresh=wait_for")
    assert r.status_code == 200 and r.json["read"] is True and r.json["read_at"]
    assert notifications(marketer, "?unread=true")["total"] == 0
    assert notifications(marketer, "?unread=false")["total"] == 1
    assert marketer.post("/api/v1/notifications/nope/read").status_code == 404


def test_settings_turning_email_off_stop_the_mail_but_not_the_notification(ready, smtp):
    mailbox, _ = smtp
    marketer = ready.as_role("marketer")
    marketer.put("/api/v1/notification-settings", json={"email_address": "m@example.com"})
    r = marketer.put("/api/v1/notification-settings?refresh=wait_for", json={"email": False})
    assert r.json == {"in_app": True, "email": False, "email_address": "m@example.com",
                      "email_enabled": False}
    marketer.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": MOSCOW})
    work(ready)
    assert mailbox.messages == []
    assert notifications(marketer)["total"] == 1


def test_in_app_off_and_no_address_mean_nothing_is_sent(ready, smtp):
    mailbox, _ = smtp
    marketer = ready.as_role("marketer")
    assert marketer.get("/api/v1/notification-settings").json == {
        "in_app": True, "email": True, "email_address": None, "email_enabled": False}
    marketer.put("/api/v1/notification-settings", json={"in_app": False})
    marketer.post("/api/v1/segments", json={"code": "moscow", "name": "Moscow", "rule": MOSCOW})
    work(ready)
    assert notifications(marketer)["total"] == 0 and mailbox.messages == []


@pytest.fixture
def no_smtp(monkeypatch):
    monkeypatch.delenv("SEGSEARCH_SMTP_HOST", raising=False)


def test_without_smtp_host_email_is_off(no_smtp, api):
    marketer = api.as_role("marketer")
    r = marketer.put("/api/v1/notification-settings", json={"email_address": "m@example.com"})
    assert r.json["email"] is True and r.json["email_enabled"] is False


def test_direct_call_notifies_pages_and_skips_deletes(ready, smtp):
    mailbox, _ = smtp
    svc = ready.app.extensions["segsearch"]
    marketer = ready.as_role("marketer")
    segment = {"code": "s1", "name": "S1", "created_by": "test-marketer", "type": "dynamic"}
    for count in (1, 2, 3):
        after_formation(svc, segment, {"count": count, "entered": count, "left": 0,
                                       "took_ms": 1, "reason": "recalculation"},
                        [f"c{i}" for i in range(count)], [])
    after_formation(svc, segment, {"count": 0, "entered": 0, "left": 3, "took_ms": 1,
                                   "reason": "delete"}, [], ["c0", "c1", "c2"])
    after_formation(svc, {**segment, "created_by": None}, {"count": 1, "entered": 0, "left": 0,
                                                          "took_ms": 1, "reason": "manual"}, [], [])
    first = notifications(marketer, "?page_size=2")
    assert first["total"] == 3 and len(first["items"]) == 2 and first["next_cursor"]
    rest = notifications(marketer, f"?page_size=2&cursor={first['next_cursor']}")
    assert rest["next_cursor"] is None
    messages = [n["message"] for n in first["items"] + rest["items"]]
    assert sorted(messages) == ["Segment S1 is formed: 1 customer",
                                "Segment S1 is formed: 2 customers",
                                "Segment S1 is formed: 3 customers"]
    work(ready)
    assert mailbox.messages == []  # no address given


def test_settings_validation(ready):
    bad = ready.put("/api/v1/notification-settings", json={
        "in_app": "yes", "email": "no", "email_address": "not-an-address", "other": True})
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"in_app", "email", "email_address", "other"}
    r = ready.put("/api/v1/notification-settings", json={"email_address": "a@example.com"})
    assert r.json["email_address"] == "a@example.com"
    r = ready.put("/api/v1/notification-settings", json={"email_address": None})
    assert r.json["email_address"] is None and r.json["in_app"] is True
    assert ready.get("/api/v1/notifications?page_size=0").status_code == 422
    ingest = ready.as_role("ingest")
    assert ingest.get("/api/v1/notifications").status_code == 403
