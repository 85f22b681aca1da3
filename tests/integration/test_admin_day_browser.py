"""A marketer's day in the admin, in a real browser: members, CSV, customer page with user
groups and "why (not) in segment", overlap; a viewer sees but cannot change.

Any console error or page error fails the test. Writes README screenshots.
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.integration.browser import CHROMIUM, browser_page, login, serve

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium comes from scripts/setup.sh")]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CUSTOMERS = [{"id": f"c{i}", "first_name": name, "last_name": "Petrova", "email": f"{name.lower()}@example.com",
              "city": "Moscow" if i < 3 else "Kazan", "store": "online", "phone": "+7 916 000 00 0" + str(i)}
             for i, name in enumerate(["Anna", "Boris", "Vera", "Gleb", "Daria", "Egor"])]
ORDERS = [{"id": "o1", "customer_id": "c0", "created_at": "2025-05-01T10:00:00Z", "status": "paid", "total": 25.5}]


def rule(city: str) -> dict:
    return {"match": "all", "groups": [{"block": "customer", "conditions": [
        {"field": "city", "op": "in", "include": [city]}]}]}


@pytest.fixture
def day(api, feed):
    from segsearch.segments.engine import Engine
    feed.import_dataset(customers=CUSTOMERS, orders=ORDERS)
    svc = api.app.extensions["segsearch"]
    for code, name, city, group in (("moscow", "Moscow", "Moscow", "VIP"), ("kazan", "Kazan", "Kazan", None)):
        r = api.post("/api/v1/segments?refresh=wait_for", json={
            "code": code, "name": name, "rule": rule(city), "user_group": group})
        assert r.status_code == 201, r.json
        Engine(svc).form(code, "created")
    with serve(api.app) as base:
        yield api, base


def shot(page, name: str) -> None:
    if os.environ.get("SEGSEARCH_SCREENSHOTS", "1") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_marketer_day(day):
    api, base = day
    problems: list[str] = []
    with browser_page(problems) as page:
        login(page, base, ADMIN_TOKEN)  # segments.png: test_admin_list_browser.py
        # the count links to the members page
        page.click("a[title='Members of Moscow']")
        assert page.locator("#members-table tbody tr").count() == 3
        shot(page, "members.png")
        page.fill("#members-search input[name=q]", "bor")
        page.click("#members-search button[type=submit]")
        assert page.locator("#members-table tbody tr").count() == 1
        # the CSV download is session-authenticated and equals the API's export
        with page.expect_download() as download:
            page.click("#members-csv")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        api_rows = list(csv.DictReader(io.StringIO(api.get("/api/v1/segments/moscow/export.csv").get_data(as_text=True))))
        assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in api_rows) == ["c0", "c1", "c2"]
        # the customer page: groups with their source, hand assignment, explain
        page.click("#members-table a:text('Boris Petrova')")
        assert page.locator("tr[data-group=VIP] td").nth(2).inner_text() == "Moscow"
        page.fill("#assign-group input[name=group]", "Gold")
        page.click("#assign-group button[type=submit]")
        assert page.locator("tr[data-group=Gold] td").nth(1).inner_text() == "yes"
        assert "Gold" in api.get("/api/v1/customers/c1").json["user_groups"]
        page.select_option("select[name=explain]", "kazan")
        page.click("#explain button[type=submit]")
        assert "Does not match" in page.locator("#explain-verdict").inner_text()
        assert page.locator("#explain-table tr.no").count() == 1
        shot(page, "customer.png")
        page.click("tr[data-group=Gold] button")
        assert page.locator("tr[data-group=Gold]").count() == 0
        assert "Gold" not in api.get("/api/v1/customers/c1").json["user_groups"]
        # overlap of two segments
        page.click("text=Overlap")
        page.check("input[value=moscow]")
        page.check("input[value=kazan]")
        page.click("#overlap-form button[type=submit]")
        assert "6" in page.locator("#overlap-union").inner_text()
        cells = page.locator("#overlap-table tr[data-code=moscow] td").all_inner_texts()
        assert sorted(cells) == ["0", "3"]  # with itself 3, with Kazan nobody
    assert not problems, problems


def test_viewer_reads_but_cannot_change(day):
    api, base = day
    viewer = api.as_role("viewer")
    problems: list[str] = []
    with browser_page(problems) as page:
        login(page, base, viewer.token)
        page.goto(f"{base}/admin/customers/c0")
        assert page.locator("#assign-group").count() == 0
        assert page.locator("tr[data-group=VIP]").count() == 1
        # a forged POST with the session's own CSRF token is still refused for the role
        token = page.locator("meta[name=csrf-token]").get_attribute("content")
        status = page.evaluate("""async ([url, token]) => (await fetch(url, {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'group=Hack&csrf_token=' + encodeURIComponent(token)})).status""",
                               [f"{base}/admin/customers/c0/user-groups", token])
        assert status == 403
        problems.clear()  # the refused fetch logs a console error by design
        page.goto(f"{base}/admin/segments/moscow/members")
        assert page.locator("#members-table tbody tr").count() == 3
    assert not problems, problems
    assert "Hack" not in api.get("/api/v1/customers/c0").json["user_groups"]
