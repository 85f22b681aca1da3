"""API input validation of webhooks and settings (pure)."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError

from segsearch.notify.paging import decode_cursor, encode_cursor
from segsearch.notify.schemas import NotificationSettingsIn, PageArgs, WebhookCreate

# A literal public address: nothing is resolved or contacted.
GOOD = {"url": "https://93.184.215.14/hook", "events": ["segment.entered"], "secret": "x" * 16}


def errors(schema, data) -> set[str]:
    try:
        schema.load(data)
    except ValidationError as err:
        return set(err.messages)
    return set()


@pytest.mark.parametrize("url", ["https://93.184.215.14/hook", "http://93.184.215.14:8080/x?a=1",
                                 "https://[2606:2800:220:1:248:1893:25c8:1946]/hook"])
def test_good_urls(url):
    assert errors(WebhookCreate(), {**GOOD, "url": url}) == set()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9200/_bulk", "http://localhost/hook",
                                 "http://[::ffff:127.0.0.1]/", "http://10.0.0.5/",
                                 "http://169.254.169.254/latest", "http://2130706433/",
                                 "https://hooks.segsearch.invalid/"])
def test_private_and_unresolvable_urls_are_refused_outside_an_app(url):
    # No app, so no SEGSEARCH_WEBHOOK_ALLOW_PRIVATE: the check refuses (fails closed).
    with pytest.raises(ValidationError) as err:
        WebhookCreate().load({**GOOD, "url": url})
    assert set(err.value.messages) == {"url"}  # "Not a valid URL." or "This URL is refused: ..."


@pytest.mark.parametrize("url", ["ftp://example.com/x", "javascript:alert(1)", "example.com",
                                 "http://", "", "https://" + "a" * 2050 + ".com"])
def test_bad_urls(url):
    assert errors(WebhookCreate(), {**GOOD, "url": url}) == {"url"}


@pytest.mark.parametrize("events", [[], ["segment.deleted"], "segment.entered", None])
def test_bad_events(events):
    assert "events" in errors(WebhookCreate(), {**GOOD, "events": events})


@pytest.mark.parametrize("secret", ["x" * 15, "", None, "x" * 257, 12345678901234567])
def test_bad_secrets(secret):
    assert errors(WebhookCreate(), {**GOOD, "secret": secret}) == {"secret"}


def test_events_deduplicated_in_order_and_active_by_default():
    data = WebhookCreate().load({**GOOD, "events": ["segment.left", "segment.formed", "segment.left"]})
    assert data["events"] == ["segment.left", "segment.formed"] and data["active"] is True


def test_unknown_fields_are_refused():
    assert errors(WebhookCreate(), {**GOOD, "id": "x"}) == {"id"}
    assert errors(NotificationSettingsIn(), {"sms": True}) == {"sms"}


def test_settings_partial_and_strict():
    assert NotificationSettingsIn().load({}) == {}
    assert NotificationSettingsIn().load({"email_address": None}) == {"email_address": None}
    assert errors(NotificationSettingsIn(), {"in_app": "true", "email_address": "nope"}) == {
        "in_app", "email_address"}


def test_cursor_round_trip_and_garbage():
    after = ["2025-06-01T10:00:00Z", "abc"]
    assert decode_cursor(encode_cursor(after)) == after
    assert PageArgs().load({"cursor": encode_cursor(after)})["cursor"] == after
    for bad in ("zzz", encode_cursor({"a": 1}), "bnVsbA"):
        assert errors(PageArgs(), {"cursor": bad}) == {"cursor"}
    assert errors(PageArgs(), {"page_size": 1001}) == {"page_size"}
