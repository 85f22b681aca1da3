"""The admin rule editor and forms with conditions on other segments (CONTRACT 6.2)."""
from __future__ import annotations

import html
import json
import re

import pytest

from tests.integration.test_admin import Admin, segment_form, text

pytestmark = pytest.mark.integration


def on(code: str) -> str:
    return json.dumps({"match": "all", "groups": [{"block": "segments", "conditions": [
        {"field": "segments", "op": "in", "include": [code], "exclude": []}]}]})


def script_json(page: str, element_id: str):
    return json.loads(html.unescape(re.search(
        rf'id="{element_id}">(.*?)</script>', page, re.DOTALL).group(1)))


@pytest.fixture
def admin(app, monkeypatch) -> Admin:
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation", lambda code, reason: None)
    return Admin(app)


def test_editor_offers_the_segments_block_and_existing_codes(admin):
    assert admin.post("/admin/segments/new", segment_form("vip")).status_code == 303
    assert admin.post("/admin/segments/new", segment_form("not-vip", rule=on("vip"))).status_code == 303
    page = text(admin.get("/admin/segments/new"))
    assert script_json(page, "suggestions-data")["segments"] == ["not-vip", "vip"]
    fields = {f["code"]: f for f in script_json(page, "catalogue-data")}
    assert fields["segments"]["block"] == "segments"


def test_unknown_codes_and_cycles_are_shown_on_the_condition(admin):
    r = admin.post("/admin/segments/new", segment_form("x", rule=on("ghost")))
    assert r.status_code == 422
    assert script_json(text(r), "rule-errors-data") == {
        "rule.groups.0.conditions.0.include": ["There is no segment “ghost”."]}
    assert admin.post("/admin/segments/new", segment_form("a")).status_code == 303
    assert admin.post("/admin/segments/new", segment_form("b", rule=on("a"))).status_code == 303
    r = admin.post("/admin/segments/a/edit", segment_form("a", rule=on("b")))
    assert r.status_code == 422, text(r)[:500]
    assert "would make a cycle: a -&gt; b -&gt; a" in text(r)
