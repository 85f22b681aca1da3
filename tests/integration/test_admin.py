"""The admin UI (/admin) through the Flask test client, against the real node and Redis."""
from __future__ import annotations

import html
import json
import re

import pytest
from rq import SimpleWorker

from tests.conftest import ADMIN_TOKEN, ES_URL, REDIS_URL

pytestmark = pytest.mark.integration

RULE = {"match": "all", "groups": [
    {"block": "customer", "match": "all", "negate": False, "conditions": [
        {"field": "city", "op": "in", "include": ["Moscow"], "exclude": []}]}]}
BAD_RULE = {"match": "all", "groups": [
    {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Moscow"]}]},
    {"block": "customer", "conditions": [
        {"field": "birthday", "op": "between", "from": "1990-05-01", "to": "1990-02-01"}]}]}
CUSTOMERS = [{"id": f"c{i}", "city": "Moscow" if i < 4 else "Kazan", "store": "online",
              "vip": i % 2 == 0} for i in range(10)]


def csrf_of(page: str) -> str:
    """The CSRF token of a rendered page's form."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def login(client, token: str):
    """Log in through the form; returns the login POST response."""
    token_field = csrf_of(text(client.get("/admin/login")))
    return client.post("/admin/login", data={"token": token, "csrf_token": token_field})


class Admin:
    """A logged-in browser: the test client plus the session's CSRF token."""

    def __init__(self, app, token: str = ADMIN_TOKEN):
        self.http = app.test_client()
        response = login(self.http, token)
        assert response.status_code == 303, text(response)
        self.csrf = csrf_of(text(self.http.get("/admin/")))

    def get(self, url: str):
        return self.http.get(url)

    def post(self, url: str, data: dict | None = None, csrf: bool = True):
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return self.http.post(url, data=form)

    def preview(self, payload: dict, csrf: bool = True):
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.http.post("/admin/preview", json=payload, headers=headers)


@pytest.fixture
def hook_calls(monkeypatch) -> list:
    """Formation requests of the service hook, instead of queued jobs."""
    calls: list = []
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation",
                        lambda code, reason: calls.append((code, reason)))
    return calls


@pytest.fixture
def admin(app) -> Admin:
    return Admin(app)


def segment_form(code: str, **extra) -> dict:
    form = {"code": code, "name": extra.pop("name", code.title()), "type": "dynamic",
            "active": "on", "description": "", "user_group": "", "store": "",
            "starts_at": "", "expires_at": "", "rule": json.dumps(RULE)}
    form.update(extra)
    return form


# -- login ---------------------------------------------------------------------------

def test_login_with_the_bootstrap_token_then_logout(app):
    client = app.test_client()
    r = client.get("/admin/segments")
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    page = client.get("/admin/login")
    assert page.status_code == 200 and "Log in" in text(page)
    r = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_of(text(page)),
                                          "next": "/admin/segments"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/segments")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    listing = client.get("/admin/")
    assert listing.status_code == 200
    assert "Segments" in text(listing) and "bootstrap" in text(listing)
    r = client.post("/admin/logout", data={"csrf_token": csrf_of(text(listing))})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/login")
    assert client.get("/admin/").status_code == 302


def test_bad_token_is_refused(app):
    client = app.test_client()
    r = login(client, "not-a-token")
    assert r.status_code == 401 and "not valid" in text(r)
    assert client.get("/admin/").status_code == 302


def test_ingest_role_has_no_admin(app, api):
    ingest = api.as_role("ingest").token
    client = app.test_client()
    r = login(client, ingest)
    assert r.status_code == 403 and "no access" in text(r)
    assert client.get("/admin/").status_code == 302


def test_login_redirect_target_stays_local(app):
    client = app.test_client()
    page = text(client.get("/admin/login"))
    r = client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": csrf_of(page),
                                          "next": "https://evil.example/admin"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/segments")


# -- CSRF ----------------------------------------------------------------------------

def test_posts_without_the_csrf_token_are_refused(app, admin, hook_calls):
    r = admin.post("/admin/segments/new", segment_form("no-csrf"), csrf=False)
    assert r.status_code == 400 and "CSRF" in text(r)
    r = admin.http.post("/admin/segments/new", data={**segment_form("no-csrf"),
                                                     "csrf_token": "forged"})
    assert r.status_code == 400
    assert admin.preview({"rule": RULE}, csrf=False).status_code == 400
    assert admin.post("/admin/logout", csrf=False).status_code == 400
    # the login form too: a session without a token cannot log in
    assert app.test_client().post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 400
    assert admin.get("/admin/segments/no-csrf").status_code == 404
    assert hook_calls == []


# -- pages ---------------------------------------------------------------------------

def test_pages_render(admin, hook_calls):
    listing = text(admin.get("/admin/"))
    assert "Create a segment" in listing and "No segments" in listing
    new = admin.get("/admin/segments/new")
    page = text(new)
    assert new.status_code == 200
    for expected in ("New segment", "Symbolic code", 'id="rule-editor"', "Available in analytics",
                     "catalogue-data", "templates-data"):
        assert expected in page
    catalogue = json.loads(html.unescape(re.search(
        r'id="catalogue-data">(.*?)</script>', page, re.S).group(1)))
    assert {"city", "birthday", "orders", "email_subscribed"} <= {f["code"] for f in catalogue}
    assert "repeat-customers" in page  # TEMPLATES fill the template select
    assert new.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert admin.get("/admin/static/admin.js").status_code == 200
    assert admin.get("/admin/segments/unknown").status_code == 404


def test_create_through_the_form(admin, app, hook_calls):
    r = admin.post("/admin/segments/new", segment_form(
        "vip-moscow", name="VIP from Moscow", user_group="VIP", description="Best ones"))
    assert r.status_code == 303, text(r)
    assert "/admin/segments/vip-moscow" in r.headers["Location"] and "since=" in r.headers["Location"]
    assert hook_calls == [("vip-moscow", "created")]
    page = text(admin.get(r.headers["Location"]))
    assert "VIP from Moscow" in page and "created" in page and "Recalculate now" in page
    assert 'data-status="pending"' in page and "Delete" in page
    with app.app_context():
        from segsearch.api.segments import segment_service
        seg = segment_service().get("vip-moscow")
    assert seg["user_group"] == "VIP" and seg["created_by"] == "bootstrap"
    assert seg["rule"]["groups"][0]["conditions"][0]["include"] == ["Moscow"]
    listing = text(admin.get("/admin/segments?q=vip"))
    assert "vip-moscow" in listing and "VIP from Moscow" in listing
    # the same code again: 409, the form keeps what was typed
    r = admin.post("/admin/segments/new", segment_form("vip-moscow", name="Again"))
    assert r.status_code == 409 and "Another segment already has this code." in text(r)
    assert 'value="Again"' in text(r)


def test_validation_errors_are_shown_with_the_condition_path(admin, hook_calls):
    r = admin.post("/admin/segments/new", segment_form("bad-one", name="Typed name",
                                                       rule=json.dumps(BAD_RULE)))
    assert r.status_code == 422
    page = text(r)
    assert "rule.groups.1.conditions.0.to" in page  # in the error summary
    errors = json.loads(html.unescape(re.search(
        r'id="rule-errors-data">(.*?)</script>', page, re.S).group(1)))
    assert "rule.groups.1.conditions.0.to" in errors  # for the editor, next to the condition
    assert 'value="Typed name"' in page and 'value="bad-one"' in page
    assert "1990-02-01" in page  # the typed rule is kept
    r = admin.post("/admin/segments/new", segment_form("Bad Code", name=" "))
    assert r.status_code == 422
    assert "Fill this in." in text(r) and "Use lowercase Latin letters" in text(r)
    assert "Must match" not in text(r)  # no raw regex for the marketer
    r = admin.post("/admin/segments/new", segment_form("json", rule="{nope"))
    assert r.status_code == 422 and "not valid JSON" in text(r)
    assert hook_calls == []


def test_static_segment_from_an_imported_list(admin, app, hook_calls):
    r = admin.post("/admin/segments/new", segment_form(
        "fair", type="static", static_source="list", members_text="a@x.io\nc1, c2"))
    assert r.status_code == 303, text(r)
    with app.app_context():
        from segsearch.api.segments import segment_service
        seg = segment_service().get("fair")
    assert seg["members"] == {"emails": ["a@x.io"], "customer_ids": ["c1", "c2"]}
    assert seg["rule"] is None and seg["locked"] is True
    page = text(admin.get("/admin/segments/fair"))
    assert "is locked" in page
    # editing a static segment leaves its locked parts alone
    r = admin.post("/admin/segments/fair", {"name": "Fair 2024", "active": "on"})
    assert r.status_code == 303, text(r)


def test_edit_and_delete(admin, app, hook_calls):
    assert admin.post("/admin/segments/new", segment_form("moscow")).status_code == 303
    form = segment_form("moscow", name="Moscow people", user_group="Moscow")
    del form["code"]
    r = admin.post("/admin/segments/moscow", form)
    assert r.status_code == 303
    assert hook_calls == [("moscow", "created"), ("moscow", "edit")]
    page = text(admin.get("/admin/segments/moscow"))
    assert "Moscow people" in page and "Changes saved." in page
    bad = {**form, "rule": json.dumps(BAD_RULE)}
    r = admin.post("/admin/segments/moscow", bad)
    assert r.status_code == 422 and "rule.groups.1.conditions.0.to" in text(r)
    r = admin.post("/admin/segments/moscow/delete")
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/segments")
    assert "deleted" in text(admin.get("/admin/"))  # the flash message
    assert admin.get("/admin/segments/moscow").status_code == 404
    assert hook_calls[-1] == ("moscow", "delete")


def test_list_filters_and_paging(admin, app, hook_calls):
    with app.app_context():
        from segsearch.api.rules import current_fields
        from segsearch.api.segments import segment_service
        from segsearch.segments.schemas import SegmentCreate
        service = segment_service()
        schema = SegmentCreate(context={"fields": current_fields})
        for i in range(27):
            body = {"code": f"seg-{i:02d}", "name": f"Segment {i:02d}", "rule": RULE,
                    "type": "static" if i == 3 else "dynamic", "active": i != 4}
            service.create(schema.load(body), actor="t")
        service.store.es.indices.refresh(index=service.store.index)
    page = text(admin.get("/admin/"))
    assert page.count('class="seg-name"') == 25 and "27 segments" in page
    next_url = html.unescape(re.search(r'href="([^"]+)" rel="next"', page).group(1))
    rest = text(admin.get(next_url))
    assert rest.count('class="seg-name"') == 2 and 'rel="next"' not in rest
    static = text(admin.get("/admin/?type=static"))
    assert static.count('class="seg-name"') == 1 and "icon-lock" in static
    inactive = text(admin.get("/admin/?active=false"))
    assert inactive.count('class="seg-name"') == 1 and "seg-04" in inactive
    bogus = admin.get("/admin/?type=bogus&min_customers=-1")
    assert bogus.status_code == 422  # named on the page, the list unfiltered
    assert "Type: Must be one of: dynamic, static." in html.unescape(text(bogus))
    assert "Customers from: enter a number from 0" in html.unescape(text(bogus))
    assert bogus.get_data(as_text=True).count('class="seg-name"') == 25
    forged = admin.get(f"{next_url}&trail=not-a-cursor")
    assert forged.status_code == 422 and "the link is out of date" in text(forged)
    assert text(forged).count('class="seg-name"') == 25  # the first page again


# -- permissions -----------------------------------------------------------------------

def test_viewer_sees_no_edit_buttons_and_cannot_post(app, api, admin, hook_calls):
    assert admin.post("/admin/segments/new", segment_form("moscow")).status_code == 303
    viewer = Admin(app, api.as_role("viewer").token)
    listing = text(viewer.get("/admin/"))
    assert "moscow" in listing and "Create a segment" not in listing
    page = text(viewer.get("/admin/segments/moscow"))
    assert "read-only access" in page
    for button in ("Save changes", "Recalculate now", ">Delete<"):
        assert button not in page
    assert viewer.get("/admin/segments/new").status_code == 403
    form = segment_form("moscow", name="Hijacked")
    assert viewer.post("/admin/segments/new", segment_form("other")).status_code == 403
    assert viewer.post("/admin/segments/moscow", form).status_code == 403
    assert viewer.post("/admin/segments/moscow/delete").status_code == 403
    assert viewer.post("/admin/segments/moscow/recalculate").status_code == 403
    assert "Hijacked" not in text(viewer.get("/admin/segments/moscow"))
    assert hook_calls == [("moscow", "created")]


# -- preview -----------------------------------------------------------------------------

def test_preview_returns_counts_and_a_sample(admin, feed):
    feed.import_dataset(customers=CUSTOMERS)
    rule = {"match": "all", "groups": [
        {"block": "customer", "conditions": [{"field": "city", "op": "in", "include": ["Moscow"]}]},
        {"block": "customer", "conditions": [{"field": "vip", "op": "is", "value": True}]}]}
    r = admin.preview({"rule": rule})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["count"] == 2  # c0 and c2
    assert [g["count"] for g in body["groups"]] == [4, 5]
    assert sorted(c["id"] for c in body["sample"]) == ["c0", "c2"]
    scoped = admin.preview({"rule": rule, "store": "shop"}).get_json()
    assert scoped["count"] == 0
    bad = admin.preview({"rule": BAD_RULE})
    assert bad.status_code == 422 and "rule.groups.1.conditions.0.to" in bad.get_json()["errors"]
    anonymous = app_client_preview(admin)
    assert anonymous.status_code == 401 and anonymous.is_json


def app_client_preview(admin: Admin):
    """A preview from a browser without a session: JSON 401, not a login page."""
    client = admin.http.application.test_client()
    return client.post("/admin/preview", json={"rule": RULE})


# -- formation: recalculate and progress ---------------------------------------------------

@pytest.fixture
def worker_env(monkeypatch, prefix):
    """Jobs build their services from the environment, like the worker process."""
    monkeypatch.setenv("ES_URL", ES_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("SEGSEARCH_INDEX_PREFIX", prefix)
    from workers.context import services_for
    services_for.cache_clear()


def work(app) -> None:
    svc = app.extensions["segsearch"]
    SimpleWorker([svc.queue], connection=svc.redis).work(burst=True)


def test_recalculate_shows_the_job_progress_and_the_formed_segment(app, admin, feed, worker_env):
    feed.import_dataset(customers=CUSTOMERS)
    r = admin.post("/admin/segments/new", segment_form("moscow"))
    assert r.status_code == 303
    since = r.headers["Location"].split("since=")[1]
    status = admin.get(f"/admin/segments/moscow/status?since={since}").get_json()
    assert status["status"] == "pending" and status["formed_since"] is False
    work(app)
    status = admin.get(f"/admin/segments/moscow/status?since={since}").get_json()
    assert status["status"] == "formed" and status["formed_since"] is True
    assert status["customers_count"] == 4
    r = admin.post("/admin/segments/moscow/recalculate")
    assert r.status_code == 303 and "job=" in r.headers["Location"]
    job_id = r.headers["Location"].split("job=")[1]
    page = text(admin.get(r.headers["Location"]))
    assert f"/admin/jobs/{job_id}" in page and "progress-bar" in page
    assert admin.get(f"/admin/jobs/{job_id}").get_json()["status"] == "queued"
    work(app)
    job = admin.get(f"/admin/jobs/{job_id}").get_json()
    assert job["status"] == "finished" and job["progress"] == 1.0
    assert admin.get("/admin/jobs/nope").status_code == 404
    listing = text(admin.get("/admin/"))
    assert 'class="spark' in listing  # two formations: a sparkline
    page = text(admin.get("/admin/segments/moscow"))
    assert 'class="chart' in page and "4 customers" in page
