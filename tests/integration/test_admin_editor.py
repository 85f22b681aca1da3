"""The editor's server side (issue 11): the match-everyone confirm step is enforced by the
server, deactivation says what the engine does, an imported list is previewed as a list,
rule errors come back in words."""
from __future__ import annotations

import json

import pytest

from tests.integration.test_admin import Admin, segment_form, text

pytestmark = pytest.mark.integration

EVERYONE = json.dumps({"match": "all", "groups": []})
CUSTOMERS = [{"id": f"c{i}", "email": f"u{i}@example.com", "city": "Moscow" if i < 2 else "Kazan",
              "store": "online" if i else "shop"} for i in range(4)]


@pytest.fixture
def admin(app, feed, monkeypatch) -> Admin:
    # Formations are not what is tested here: the service hook queues nothing.
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation", lambda code, reason: None)
    feed.import_dataset(customers=CUSTOMERS)
    return Admin(app)


def test_a_rule_matching_everyone_is_saved_only_once_confirmed(admin, api):
    form = segment_form("all", rule=EVERYONE, user_group="VIP")
    r = admin.post("/admin/segments/new", form)
    assert r.status_code == 409
    assert 'name="confirmed_all" value="4"' in text(r) and "VIP" in text(r)
    assert api.get("/api/v1/segments/all").status_code == 404
    # a stale or forged confirmation (another count) is asked again
    r = admin.post("/admin/segments/new", {**form, "confirmed_all": "3"})
    assert r.status_code == 409
    assert admin.post("/admin/segments/new", {**form, "confirmed_all": "4"}).status_code == 303
    # a rule with conditions that still match everyone in its store counts too
    online = json.dumps({"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow", "Kazan"]}]}]})
    r = admin.post("/admin/segments/new", segment_form("online", rule=online, store="online"))
    assert r.status_code == 409 and 'value="3"' in text(r)
    # a rule that leaves someone out needs no confirmation
    assert admin.post("/admin/segments/new", segment_form("moscow")).status_code == 303
    # renaming a confirmed segment does not ask again; widening a rule to everyone does
    edit = {k: v for k, v in form.items() if k != "code"}
    assert admin.post("/admin/segments/all", {**edit, "name": "All of them"}).status_code == 303
    moscow = {k: v for k, v in segment_form("moscow").items() if k != "code"}
    assert admin.post("/admin/segments/moscow", {**moscow, "rule": EVERYONE}).status_code == 409


def test_deactivating_says_the_members_stay(admin):
    assert admin.post("/admin/segments/new", segment_form("moscow", user_group="VIP")).status_code == 303
    form = {k: v for k, v in segment_form("moscow", user_group="VIP").items() if k not in ("code", "active")}
    r = admin.post("/admin/segments/moscow", form)
    assert r.status_code == 303
    page = text(admin.get(r.headers["Location"]))
    assert "is inactive: it is not recalculated" in page and "keep the user group VIP" in page
    assert "being re-formed" not in page


def test_an_imported_list_is_previewed_as_the_list(admin):
    r = admin.preview({"members_text": "c0\nc1, U2@example.com\nnobody@example.com"})
    assert r.status_code == 200
    assert (r.json["count"], r.json["listed"]) == (3, 4)
    assert sorted(c["id"] for c in r.json["sample"]) == ["c0", "c1", "c2"]
    r = admin.preview({"members_text": "c0\nc1", "store": "online"})
    assert r.json["count"] == 1
    assert admin.preview({"members_text": 5}).status_code == 422


def test_preview_errors_are_worded(admin):
    rule = {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "birthday", "op": "between", "from": "1990-05-01", "to": "1990-02-01"}]}]}
    r = admin.preview({"rule": rule})
    assert r.status_code == 422
    assert r.json["errors"] == {"rule.groups.0.conditions.0.to": ["The end must be on or after the start."]}
