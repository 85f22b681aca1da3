"""The admin's text mode: its format/parse endpoints and saving a segment typed as text."""
from __future__ import annotations

import pytest

from tests.integration.test_admin import Admin, segment_form, text

pytestmark = pytest.mark.integration

TEXT = "customer ALL (\n  City is one of Moscow\n)\n"


@pytest.fixture
def admin(app) -> Admin:
    return Admin(app)


@pytest.fixture
def hook_calls(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation",
                        lambda code, reason: calls.append((code, reason)))
    return calls


def _post(admin: Admin, url: str, payload: dict, csrf: bool = True):
    headers = {"X-CSRF-Token": admin.csrf} if csrf else {}
    return admin.http.post(url, json=payload, headers=headers)


def test_format_and_parse_for_the_editor(admin):
    r = _post(admin, "/admin/rules/parse", {"text": TEXT})
    assert r.status_code == 200, r.get_json()
    rule = r.get_json()["rule"]
    r = _post(admin, "/admin/rules/format", {"rule": rule})
    assert r.get_json() == {"valid": True, "text": "ALL OF\n" + TEXT}
    # a half-typed text is no failed request for the editor: 200, valid false, where and why
    r = _post(admin, "/admin/rules/parse", {"text": "customer (\n  City is one\n)"})
    body = r.get_json()
    assert r.status_code == 200 and body["valid"] is False
    assert (body["line"], body["column"]) == (3, 1)
    assert body["errors"]["text"][0].startswith("line 3, column 1: expected of")
    assert _post(admin, "/admin/rules/parse", {"text": TEXT}, csrf=False).status_code == 400


def test_the_page_offers_the_text_mode(admin):
    page = text(admin.get("/admin/segments/new"))
    assert 'id="rule-mode"' in page and "rule_text.js" in page and 'name="rule_text"' in page
    assert text(admin.get("/admin/static/rule_text.js")).startswith("/* segsearch admin")


def test_save_a_segment_typed_as_text(admin, app, hook_calls):
    form = segment_form("from-text", rule="not json", rule_mode="text", rule_text=TEXT)
    r = admin.post("/admin/segments/new", form)
    assert r.status_code == 303, text(r)
    with app.app_context():
        from segsearch.api.segments import segment_service
        seg = segment_service().get("from-text")
    assert seg["rule"]["groups"][0]["conditions"][0]["include"] == ["Moscow"]
    bad = segment_form("bad-text", rule_mode="text", rule_text="customer (City is one of)")
    r = admin.post("/admin/segments/new", bad)
    page = text(r)
    assert r.status_code == 422 and "line 1, column 25" in page
    # the page comes back in text mode with what was typed
    assert 'value="text"' in page and "customer (City is one of)</textarea>" in page
