"""Stored segments through the HTTP API against the real node (CONTRACT section 4)."""
from __future__ import annotations

import pytest

from segsearch.errors import Conflict, NotFound
from segsearch.segments import store as store_module
from segsearch.segments.store import SegmentStore

pytestmark = pytest.mark.integration

URL = "/api/v1/segments"
RULE = {"match": "all", "groups": [
    {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Moscow"]}]}]}
READ_ONLY = {"customers_count", "status", "last_formed_at", "next_run_at", "created_at",
             "updated_at", "created_by"}


def segment(code: str, **extra) -> dict:
    return {"code": code, "name": extra.pop("name", code.title()), "rule": RULE, **extra}


@pytest.fixture
def store(app, es, indices) -> SegmentStore:
    return SegmentStore(es, indices)


@pytest.fixture
def hook_calls(monkeypatch) -> list:
    calls: list = []
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation",
                        lambda code, reason: calls.append((code, reason)))
    return calls


def make(api, *bodies: dict) -> None:
    # Only the last write waits for a refresh (up to 1 s each): the segments index has one
    # shard, so that refresh shows the earlier writes too.
    for i, body in enumerate(bodies, start=1):
        r = api.post(f"{URL}?refresh=wait_for" if i == len(bodies) else URL, json=body)
        assert r.status_code == 201, r.json


# -- create --------------------------------------------------------------------------

def test_create_returns_defaults_and_read_only_fields(api, hook_calls):
    r = api.post(URL, json=segment("vip-moscow", name="VIP from Moscow", user_group="VIP"))
    assert r.status_code == 201, r.json
    seg = r.json
    assert READ_ONLY <= set(seg)
    assert seg["type"] == "dynamic" and seg["active"] is True
    assert seg["available_in_analytics"] is False and seg["description"] == ""
    assert seg["store"] is None and seg["starts_at"] is None and seg["expires_at"] is None
    assert seg["status"] == "pending" and seg["customers_count"] == 0
    assert seg["last_formed_at"] is None and seg["next_run_at"] is None
    assert seg["created_by"] == "bootstrap" and seg["created_at"] == seg["updated_at"]
    assert seg["locked"] is False and seg["user_group"] == "VIP"
    assert seg["rule"]["groups"][0]["negate"] is False  # stored normalised
    assert api.get(f"{URL}/vip-moscow").json == seg
    assert hook_calls == [("vip-moscow", "created")]


def test_duplicate_code_is_409(api):
    make(api, segment("twice"))
    r = api.post(URL, json=segment("twice", name="Other"))
    assert r.status_code == 409 and r.json["code"] == 409 and "code" in r.json["errors"]


def test_bad_code_name_and_rule_are_422_with_paths(api):
    rule = {"match": "all", "groups": [
        {"block": "customer", "conditions": [{"field": "nope", "op": "in", "include": ["x"]}]},
        {"block": "customer", "conditions": [
            {"field": "birthday", "op": "between", "from": "2020-05-01", "to": "2020-02-30"}]}]}
    r = api.post(URL, json={"code": "Bad Code", "name": "", "rule": rule, "colour": "red"})
    assert r.status_code == 422 and r.json["status"] == "Unprocessable Entity"
    assert {"code", "name", "colour", "rule.groups.0.conditions.0.field",
            "rule.groups.1.conditions.0.to"} <= set(r.json["errors"])
    assert api.get(f"{URL}?refresh=wait_for").json["total"] == 0  # nothing half-written


def test_malformed_body_is_422(api):
    r = api.post(URL, data="{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json["code"] == 422


def test_dynamic_segment_without_rule_is_422(api):
    r = api.post(URL, json={"code": "norule", "name": "No rule"})
    assert r.status_code == 422 and set(r.json["errors"]) == {"rule"}


def test_static_segment_with_members_stores_them_and_counts(api, store):
    members = {"emails": ["Ann@Example.com", "ann@example.com", "bob@example.com"],
               "customer_ids": ["c1", "c2", "c2"]}
    r = api.post(URL, json={"code": "imported", "name": "Imported", "type": "static",
                            "members": members})
    assert r.status_code == 201, r.json
    assert r.json["locked"] is True and r.json["rule"] is None
    assert r.json["members_count"] == 4 and r.json["members_not_found"] == 4  # no customers yet
    assert "members" not in r.json  # possibly huge: the engine reads it from the store
    assert store.get("imported")["members"] == {"emails": ["ann@example.com", "bob@example.com"],
                                                "customer_ids": ["c1", "c2"]}


def test_static_segment_needs_rule_or_members_not_both(api):
    r = api.post(URL, json={**segment("both", type="static"), "members": {"customer_ids": ["c1"]}})
    assert r.status_code == 422 and set(r.json["errors"]) == {"members"}
    r = api.post(URL, json={"code": "dyn", "name": "D", "rule": RULE, "members": {"customer_ids": ["1"]}})
    assert r.status_code == 422 and set(r.json["errors"]) == {"members"}


def test_preview_route_is_not_shadowed_and_preview_is_no_code(api):
    assert api.post(f"{URL}/preview", json={"rule": RULE}).status_code == 200
    assert api.get(f"{URL}/preview").status_code == 404
    r = api.post(URL, json=segment("preview"))
    assert r.status_code == 422 and set(r.json["errors"]) == {"code"}


# -- list ----------------------------------------------------------------------------

def test_cursor_paging_follows_until_null_with_exact_total(api):
    make(api, *(segment(f"seg-{i}") for i in range(7)))
    seen, cursor, pages = [], None, 0
    while True:
        url = f"{URL}?page_size=3&sort=code" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url).json
        assert page["total"] == 7
        seen += [s["code"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"seg-{i}" for i in range(7)] and pages == 3


def test_last_page_that_is_exactly_full_has_no_cursor(api):
    make(api, *(segment(f"s{i}") for i in range(3)))
    page = api.get(f"{URL}?page_size=3").json
    assert len(page["items"]) == 3 and page["next_cursor"] is None


def test_cursor_of_another_sort_and_bad_page_size_are_422(api):
    make(api, *(segment(f"s{i}") for i in range(3)))
    cursor = api.get(f"{URL}?page_size=1&sort=name").json["next_cursor"]
    r = api.get(f"{URL}?page_size=1&sort=code&cursor={cursor}")
    assert r.status_code == 422 and "query.cursor" in r.json["errors"]
    r = api.get(f"{URL}?page_size=1001")
    assert r.status_code == 422 and "query.page_size" in r.json["errors"]


def test_filters(api, store):
    make(api, segment("a", active=False), segment("b", type="static"),
         {"code": "c", "name": "C", "type": "static", "members": {"customer_ids": ["1"]}},
         segment("d", available_in_analytics=True, user_group="G", store="shop"))
    for code, count in (("a", 5), ("b", 50), ("c", 500)):
        store.set_state(code, customers_count=count, refresh="wait_for")

    def codes(query: str) -> list[str]:
        r = api.get(f"{URL}?sort=code&{query}")
        assert r.status_code == 200, r.json
        assert r.json["total"] == len(r.json["items"])
        return [s["code"] for s in r.json["items"]]

    assert codes("active=false") == ["a"]
    assert codes("active=true") == ["b", "c", "d"]
    assert codes("type=static") == ["b", "c"]
    assert codes("min_customers=5&max_customers=50") == ["a", "b"]
    assert codes("min_customers=51") == ["c"]
    assert codes("max_customers=0") == ["d"]
    assert codes("user_group=G&store=shop&available_in_analytics=true") == ["d"]
    assert codes("status=pending") == ["a", "b", "c", "d"]


def test_created_from_and_to_take_days_and_instants(api, monkeypatch):
    for code, at in (("jan", "2025-01-31T23:30:00Z"), ("feb", "2025-02-01T00:30:00Z"),
                     ("mar", "2025-03-01T12:00:00Z")):
        monkeypatch.setattr(store_module, "now_iso", lambda at=at: at)
        make(api, segment(code))

    def codes(query: str) -> list[str]:
        return [s["code"] for s in api.get(f"{URL}?sort=created_at&{query}").json["items"]]

    assert codes("created_to=2025-01-31") == ["jan"]  # the whole day, inclusive
    assert codes("created_from=2025-02-01&created_to=2025-02-28") == ["feb"]
    assert codes("created_from=2025-01-31T23:45:00Z") == ["feb", "mar"]
    assert codes("created_to=2025-02-01T00:30:00%2B00:00") == ["jan", "feb"]


def test_created_days_are_calendar_days_of_the_configured_zone(api, monkeypatch, app):
    monkeypatch.setitem(app.config["SEGSEARCH"], "TIMEZONE", "Europe/Moscow")
    monkeypatch.setattr(store_module, "now_iso", lambda: "2025-01-31T22:30:00Z")  # Feb 1 in Moscow
    make(api, segment("late"))
    assert api.get(f"{URL}?created_to=2025-01-31").json["total"] == 0
    assert api.get(f"{URL}?created_from=2025-02-01").json["total"] == 1


def test_q_searches_words_and_prefixes_of_name_description_and_code(api):
    make(api, segment("vip-moscow", name="VIP from Moscow"),
         segment("tea", name="Chinese tea lovers", description="Bought pu-erh or oolong"),
         segment("birthday-soon", name="Birthday in 3 days"))

    def codes(q: str) -> set[str]:
        return {s["code"] for s in api.get(f"{URL}?q={q}").json["items"]}

    assert codes("moscow") == {"vip-moscow"}
    assert codes("Mosc") == {"vip-moscow"}
    assert codes("oolong") == {"tea"}
    assert codes("birthday-soon") == {"birthday-soon"}
    assert codes("chinese+tea") == {"tea"}
    assert codes("tea+moscow") == set()  # all words must match


def test_sorts(api, store):
    make(api, segment("x1", name="beta"), segment("x2", name="Alpha"), segment("x3", name="gamma"))
    store.set_state("x1", customers_count=10)
    store.set_state("x3", customers_count=7, refresh="wait_for")

    def codes(sort: str) -> list[str]:
        return [s["code"] for s in api.get(f"{URL}?sort={sort}").json["items"]]

    assert codes("name") == ["x2", "x1", "x3"]  # case-insensitive
    assert codes("-name") == ["x3", "x1", "x2"]
    assert codes("-customers_count") == ["x1", "x3", "x2"]
    assert codes("-created_at") == ["x3", "x2", "x1"]  # the default
    assert [s["code"] for s in api.get(URL).json["items"]] == ["x3", "x2", "x1"]


# -- patch ---------------------------------------------------------------------------

def test_patch_name_keeps_the_rest_and_does_not_reform(api, hook_calls):
    created = api.post(URL, json=segment("p", name="Old", user_group="G")).json
    hook_calls.clear()
    r = api.patch(f"{URL}/p", json={"name": "New", "description": "why"})
    assert r.status_code == 200, r.json
    assert r.json["name"] == "New" and r.json["description"] == "why"
    assert r.json["user_group"] == "G" and r.json["rule"] == created["rule"]
    assert r.json["created_at"] == created["created_at"]
    assert r.json["updated_at"] >= created["updated_at"]
    assert api.get(f"{URL}/p").json["name"] == "New"
    assert hook_calls == []  # name and description do not change membership


def test_patch_of_membership_fields_reforms(api, hook_calls):
    make(api, segment("p"))
    hook_calls.clear()
    rule = {"match": "any", "groups": RULE["groups"]}
    for change in ({"rule": rule}, {"active": False}, {"store": "shop"}, {"user_group": "G"},
                   {"starts_at": "2030-01-01T00:00:00Z"}, {"expires_at": "2031-01-01T00:00:00Z"}):
        assert api.patch(f"{URL}/p", json=change).status_code == 200
    assert hook_calls == [("p", "edit")] * 6
    assert api.patch(f"{URL}/p", json={"active": False}).status_code == 200
    assert len(hook_calls) == 6  # no change, no re-form


def test_patch_code_or_type_change_is_422_but_sending_them_back_is_fine(api):
    seg = api.post(URL, json=segment("fixed")).json
    r = api.patch(f"{URL}/fixed", json={"code": "other", "type": "static"})
    assert r.status_code == 422 and set(r.json["errors"]) == {"code", "type"}
    sendable = {k: v for k, v in seg.items()
                if k not in READ_ONLY | {"locked", "members_count", "members_not_found", "last_error",
                                                  "failed_attempts"}}
    r = api.patch(f"{URL}/fixed", json={**sendable, "name": "Renamed"})
    assert r.status_code == 200, r.json
    assert r.json["name"] == "Renamed"


def test_patch_read_only_or_invalid_fields_is_422(api):
    make(api, segment("p"))
    r = api.patch(f"{URL}/p", json={"customers_count": 5, "name": "", "rule": {"groups": [
        {"block": "customer", "conditions": [{"field": "city", "op": "between"}]}]}})
    assert r.status_code == 422
    assert {"customers_count", "name"} <= set(r.json["errors"])
    assert any(k.startswith("rule.groups.0.conditions.0") for k in r.json["errors"])


def test_patch_checks_the_merged_window_and_shape(api):
    make(api, segment("w", starts_at="2030-01-01T00:00:00Z"))
    r = api.patch(f"{URL}/w", json={"expires_at": "2029-01-01T00:00:00Z"})
    assert r.status_code == 422 and set(r.json["errors"]) == {"expires_at"}
    r = api.patch(f"{URL}/w", json={"rule": None})
    assert r.status_code == 422 and set(r.json["errors"]) == {"rule"}
    r = api.patch(f"{URL}/w", json={"members": {"customer_ids": ["c1"]}})
    assert r.status_code == 422 and set(r.json["errors"]) == {"members"}


def test_static_segment_rule_members_and_store_are_locked(api):
    make(api, segment("frozen", type="static"))
    other = {"match": "any", "groups": RULE["groups"]}
    for change in ({"rule": other}, {"members": {"customer_ids": ["c1"]}}, {"store": "shop"}):
        r = api.patch(f"{URL}/frozen", json=change)
        assert r.status_code == 409, (change, r.json)
        assert set(r.json["errors"]) == set(change)
    assert api.patch(f"{URL}/frozen", json={"rule": RULE, "name": "Same rule"}).status_code == 200
    assert api.patch(f"{URL}/frozen", json={"active": False}).status_code == 200


def test_patch_unknown_segment_is_404(api):
    assert api.patch(f"{URL}/ghost", json={"name": "x"}).status_code == 404
    assert api.get(f"{URL}/ghost").status_code == 404


# -- concurrency ---------------------------------------------------------------------

def test_a_stale_conditional_write_is_a_conflict(api, store):
    make(api, segment("race"))
    stale = store.read("race")
    store.write("race", {**stale.doc, "name": "First"}, stale)
    with pytest.raises(Conflict):
        store.write("race", {**stale.doc, "name": "Second"}, stale)
    assert store.get("race")["name"] == "First"


def _interleave(monkeypatch, concurrent) -> None:
    """The first read of a PATCH is followed at once by `concurrent()`: a lost race."""
    real_read = SegmentStore.read
    state = {"done": False}

    def read(self, code):
        versioned = real_read(self, code)
        if not state["done"]:
            state["done"] = True
            concurrent()
        return versioned

    monkeypatch.setattr(SegmentStore, "read", read)


def test_patch_that_lost_the_race_to_another_edit_is_409(api, store, monkeypatch):
    make(api, segment("race"))
    _interleave(monkeypatch, lambda: store.patch("race", lambda d: {**d, "name": "Winner"}))
    r = api.patch(f"{URL}/race", json={"description": "loser"})
    assert r.status_code == 409, r.json
    seg = api.get(f"{URL}/race").json
    assert seg["name"] == "Winner" and seg["description"] == ""


def test_patch_racing_an_engine_state_write_keeps_both(api, store, monkeypatch):
    make(api, segment("race"))
    _interleave(monkeypatch, lambda: store.set_state("race", status="formed", customers_count=42))
    r = api.patch(f"{URL}/race", json={"name": "Edited"})
    assert r.status_code == 200, r.json
    seg = api.get(f"{URL}/race").json
    assert (seg["name"], seg["status"], seg["customers_count"]) == ("Edited", "formed", 42)


def test_set_state_merges_into_concurrent_edits_and_accepts_only_state(api, store, monkeypatch):
    make(api, segment("st"))
    _interleave(monkeypatch, lambda: api.patch(f"{URL}/st", json={"name": "Edited meanwhile"}))
    store.set_state("st", status="forming")
    seg = store.get("st")
    assert seg["name"] == "Edited meanwhile" and seg["status"] == "forming"
    with pytest.raises(ValueError):
        store.set_state("st", name="not state")
    with pytest.raises(NotFound):
        store.set_state("ghost", status="formed")


# -- delete --------------------------------------------------------------------------

def test_delete_is_202_with_the_segment_then_404(api, hook_calls):
    make(api, segment("gone", user_group="G"))
    r = api.delete(f"{URL}/gone?refresh=wait_for")
    assert r.status_code == 202 and r.json["code"] == "gone" and r.json["user_group"] == "G"
    assert api.get(f"{URL}/gone").status_code == 404
    assert api.delete(f"{URL}/gone").status_code == 404
    assert api.get(URL).json["total"] == 0
    assert hook_calls[-1] == ("gone", "delete")


# -- the formation hook ----------------------------------------------------------------

def test_hook_enqueues_form_segment_once_the_engine_provides_it(api, app, monkeypatch):
    import workers.jobs

    queue = app.extensions["segsearch"].queue
    if not hasattr(workers.jobs, "form_segment"):
        make(api, segment("early"))
        assert queue.count == 0  # no job function yet: nothing queued
    monkeypatch.setattr(workers.jobs, "form_segment", lambda *a: None, raising=False)
    make(api, segment("queued"))
    job = queue.jobs[-1]
    assert job.func_name == "workers.jobs.form_segment"
    assert job.args == (app.config["SEGSEARCH"]["INDEX_PREFIX"], "queued", "created")


# -- roles ---------------------------------------------------------------------------

def test_roles(api):
    make(api, segment("r"))
    viewer, ingest, marketer = api.as_role("viewer"), api.as_role("ingest"), api.as_role("marketer")
    assert viewer.get(URL).status_code == 200
    assert viewer.get(f"{URL}/r").status_code == 200
    assert viewer.post(URL, json=segment("v")).status_code == 403
    assert viewer.patch(f"{URL}/r", json={"name": "x"}).status_code == 403
    assert viewer.delete(f"{URL}/r").status_code == 403
    assert ingest.get(URL).status_code == 403
    assert ingest.get(f"{URL}/r").status_code == 403
    r = marketer.post(URL, json=segment("m"))
    assert r.status_code == 201 and r.json["created_by"] == "test-marketer"
    api.token = None
    assert api.get(URL).status_code == 401


def test_openapi_describes_the_segment_endpoints(api):
    paths = api.get("/api/v1/openapi.json").json["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/segments"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/segments/{code}"])
    assert "202" in paths["/api/v1/segments/{code}"]["delete"]["responses"]
    assert "post" in paths["/api/v1/segments/preview"]
