"""The segment list in a real browser: filters, sortable columns, total and pages, the
notification bell, the admin's 404 page and counted nouns.

One server, one browser, one walk through the page (set-up through the services, no
formation runs). Any console error or page error fails the test, except the ones the
browser logs for the two answers that are 4xx on purpose. Writes the README screenshot
docs/screenshots/segments.png.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.integration.browser import CHROMIUM, browser_page, login, serve

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium comes from scripts/setup.sh")]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RULE = {"match": "all", "groups": [{"block": "customer", "conditions": [
    {"field": "city", "op": "in", "include": ["Moscow"]}]}]}
# 27: one more page than PAGE_SIZE (25); seg-NN is NAMES[NN], with NN * 10 customers.
NAMES = ["Anniversary customers", "Birthday in 3 days", "Bought Chinese tea", "Cart abandoners",
         "Churn risk", "Coffee lovers", "Everyone except Moscow", "First-time buyers",
         "Gift card holders", "High spenders", "Inactive 6 months", "Kazan online",
         "Loyal since 2020", "Moscow VIP", "Newsletter openers", "Night owls", "Pu-erh fans",
         "Repeat buyers", "Saint Petersburg", "SMS subscribers", "Spring sale", "Students",
         "Tea set buyers", "Top 1%", "Weekend shoppers", "Wholesale", "Young parents"]
SEGMENTS = len(NAMES)
JANUARY = range(5)  # seg-00..seg-04 were created in January 2025
USER = "bootstrap"  # the bootstrap token's principal: the segments' creator


def status_of(i: int) -> str:
    return "failed" if i == 5 else "formed" if i % 3 == 0 else "pending"


@pytest.fixture
def listed(app):
    """27 segments with counts i*10, statuses, five created in January; two notifications.

    Stored whole (one write each, one refresh): the list reads documents, and no
    formation needs to run for it.
    """
    with app.app_context():
        from segsearch.api.rules import current_fields
        from segsearch.api.segments import segment_service
        from segsearch.notify.notifications import NotificationStore
        from segsearch.segments.schemas import SegmentCreate
        from segsearch.segments.store import new_document
        store = segment_service().store
        es = store.es
        schema = SegmentCreate(context={"fields": current_fields})
        for i in range(SEGMENTS):
            doc = new_document(schema.load({"code": f"seg-{i:02d}", "name": NAMES[i],
                                            "rule": RULE}), USER)
            doc.update(customers_count=i * 10, status=status_of(i))
            if status_of(i) == "formed":
                doc["last_formed_at"] = "2026-11-29T10:00:00Z"
            if i in JANUARY:
                doc["created_at"] = f"2025-01-1{i}T09:00:00Z"
            store.create(doc)
        notes = NotificationStore(es, app.extensions["segsearch"].indices)
        notes.add_failed(USER, {"code": "seg-05", "name": NAMES[5]}, "Elasticsearch is unreachable.",
                         "2026-11-29T09:00:00Z")
        notes.add_formed(USER, {"code": "seg-26", "name": NAMES[26]},
                         {"count": 260, "entered": 12, "left": 3, "reason": "recalculation"}, "2026-11-29T10:00:00Z")
        es.indices.refresh(index=f"{store.index},{notes.index}")
    with serve(app) as base:
        yield base


def by_name(numbers) -> list[str]:
    """The codes of segments seg-NN in the order of their names (A-Z, as the index sorts)."""
    return [f"seg-{i:02d}" for i in sorted(numbers, key=lambda i: NAMES[i].casefold())]


def codes(page) -> list[str]:
    return page.locator("#segments-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.code)")


def follow(page, selector: str) -> None:
    """Click a link or submit button and wait for the page it opens."""
    with page.expect_navigation():
        page.click(selector)


def shot(page, name: str) -> None:
    if os.environ.get("SEGSEARCH_SCREENSHOTS", "1") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def expected_errors(problems: list[str], status: int) -> None:
    """Drop the console line the browser logs for a page answered with `status` on purpose."""
    problems[:] = [p for p in problems if f"status of {status}" not in p]


def test_list_filters_sorting_pages_bell_and_404(listed, api):
    base = listed
    problems: list[str] = []
    with browser_page(problems) as page:
        page.set_default_timeout(15_000)
        login(page, base, ADMIN_TOKEN)

        # total and pages: newest first, 25 then 2, and back
        assert page.inner_text("#segments-total") == "27 segments"
        assert page.inner_text("#pager-range") == "1–25 of 27 segments · page 1 of 2"
        assert len(codes(page)) == 25
        assert page.get_attribute("th[data-sort=created_at]", "aria-sort") == "descending"
        page.wait_for_selector("#bell-count:not([hidden])")
        assert page.inner_text("#bell-count") == "2"
        page.click("#bell-btn")
        page.wait_for_selector("#bell-menu li.bell-item >> nth=1")
        shot(page, "segments.png")
        page.keyboard.press("Escape")
        follow(page, "a[rel=next]")
        assert page.inner_text("#pager-range") == "26–27 of 27 segments · page 2 of 2"
        assert len(codes(page)) == 2 and page.locator("a[rel=next]").count() == 0
        follow(page, "a[rel=prev]")
        assert len(codes(page)) == 25 and page.locator("a[rel=prev]").count() == 0

        # sortable headers: a click sorts, the next one turns the order round
        follow(page, "th[data-sort=customers_count] a")
        assert page.get_attribute("th[data-sort=customers_count]", "aria-sort") == "descending"
        assert codes(page)[:2] == ["seg-26", "seg-25"]
        follow(page, "th[data-sort=customers_count] a")
        assert page.get_attribute("th[data-sort=customers_count]", "aria-sort") == "ascending"
        assert codes(page)[:2] == ["seg-00", "seg-01"]
        follow(page, "a[rel=next]")  # paging keeps the sort
        assert codes(page) == ["seg-25", "seg-26"]
        follow(page, "th[data-sort=name] a")
        assert codes(page) == by_name(range(SEGMENTS))[:25]

        # filters: a count range (the sort stays), a status, a creation period
        page.fill("input[name=min_customers]", "100")
        page.fill("input[name=max_customers]", "150")
        follow(page, "#segment-filters button[type=submit]")
        assert codes(page) == by_name(range(10, 16))
        assert page.inner_text("#segments-total") == "6 segments match the filters"
        follow(page, "text=Reset")
        page.select_option("select[name=status]", "failed")
        follow(page, "#segment-filters button[type=submit]")
        assert codes(page) == ["seg-05"]
        assert page.inner_text("#segments-total") == "1 segment matches the filters"
        follow(page, "text=Reset")
        page.fill("input[name=created_from]", "2025-01-01")
        page.fill("input[name=created_to]", "2025-01-31")
        follow(page, "#segment-filters button[type=submit]")
        assert sorted(codes(page)) == [f"seg-0{i}" for i in JANUARY]
        assert page.inner_text("#pager-range") == "1–5 of 5 segments · page 1 of 1"

        # a bad filter value: named in words on the page (422), the others still apply
        response = page.goto(f"{base}/admin/segments?min_customers=lots&max_customers=20")
        assert response is not None and response.status == 422
        assert "Customers from: enter a whole number" in page.inner_text("#filter-errors")
        assert sorted(codes(page)) == ["seg-00", "seg-01", "seg-02"]
        expected_errors(problems, 422)

        # the bell: mark one read, the count follows, the link opens the segment
        page.click("#bell-btn")
        unread = page.locator("#bell-list li.unread")
        assert unread.count() == 2
        assert f"Segment {NAMES[26]} is formed: 260 customers" in page.inner_text("#bell-list")
        page.click("#bell-list li[data-kind='segment.failed'] .bell-read")
        page.wait_for_selector("#bell-count:has-text('1')")
        assert page.locator("#bell-list li.unread").count() == 1
        unread_api = api.get("/api/v1/notifications?unread=true").json
        assert [n["kind"] for n in unread_api["items"]] == ["segment.formed"]
        follow(page, "#bell-list li[data-kind='segment.formed'] a")
        assert page.url.endswith("/admin/segments/seg-26")

        # an unknown admin URL: the admin's own 404 page, not JSON
        response = page.goto(f"{base}/admin/no-such-page")
        assert response is not None and response.status == 404
        assert "text/html" in response.headers["content-type"]
        assert page.inner_text("h1") == "Page not found"
        assert page.locator(".topbar #bell").count() == 1
        expected_errors(problems, 404)
    assert not problems, problems
