"""The formation e-mail: who gets it and what it says (pure)."""
from __future__ import annotations

import pytest

from segsearch.notify.mail import build_message, enabled, formed_body, wants_email
from segsearch.notify.notifications import formed_message

SMTP = {"SMTP_HOST": "mail.example.org"}


@pytest.mark.parametrize("settings,config,expected", [
    ({"email": True, "email_address": "a@b.c"}, SMTP, True),
    ({"email": False, "email_address": "a@b.c"}, SMTP, False),
    ({"email": True, "email_address": None}, SMTP, False),
    ({"email": True, "email_address": "a@b.c"}, {"SMTP_HOST": None}, False),
])
def test_wants_email(settings, config, expected):
    assert wants_email(settings, config) is expected


def test_smtp_is_off_by_default():
    from segsearch.config import DEFAULTS
    assert not enabled(DEFAULTS)


@pytest.mark.parametrize("count,text", [
    (0, "Segment VIP is formed: 0 customers"), (1, "Segment VIP is formed: 1 customer"),
    (1200, "Segment VIP is formed: 1200 customers"),
])
def test_formed_message(count, text):
    assert formed_message({"code": "vip", "name": "VIP"}, count) == text


def test_message_headers_and_body():
    body = formed_body({"code": "vip", "name": "VIP"}, {"count": 3, "entered": 2, "left": 1,
                                                        "reason": "manual"}, "2025-06-01T10:00:00Z")
    msg = build_message("segsearch@example.org", "m@example.com", "Segment VIP is formed: 3 customers", body)
    assert msg["From"] == "segsearch@example.org" and msg["To"] == "m@example.com"
    assert msg["Subject"] == "Segment VIP is formed: 3 customers"
    assert msg["Date"] and msg["Message-ID"].endswith("@example.org>")
    content = msg.get_content()
    assert "Customers: 3" in content and "Entered: 2" in content and "(code vip)" in content


def test_a_line_break_in_the_name_does_not_reach_the_headers():
    msg = build_message("s@example.org", "m@example.com", "Segment A\r\nBcc: x@evil.example is formed", "")
    assert "\n" not in msg["Subject"] and msg["Bcc"] is None
