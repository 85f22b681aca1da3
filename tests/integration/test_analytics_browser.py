"""The admin's Analytics page in a real browser (Playwright driving Debian's chromium).

A real HTTP server (werkzeug, in a thread) serves the app on a free loopback port; any
console error or page error fails the test. Also writes the README screenshot.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.integration.browser import CHROMIUM, browser_page, login, serve
from tests.integration.test_analytics import CUSTOMERS, MOSCOW, ONLINE, ORDERS, form, make_api

pytestmark = pytest.mark.integration
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def served(prefix, feed):
    api = make_api(prefix, "Europe/Moscow")
    feed.import_dataset(customers=CUSTOMERS, orders=ORDERS)
    form(api, "moscow", MOSCOW)
    form(api, "online", ONLINE)
    with serve(api.app) as base:
        yield base


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by scripts/setup.sh")
def test_analytics_page_in_a_browser(served, tmp_path):
    problems: list[str] = []
    with browser_page(problems) as page:
        login(page, served, ADMIN_TOKEN)
        page.click("text=Analytics")
        page.fill("input[name=from]", "2025-01-01")
        page.fill("input[name=to]", "2025-06-30")
        page.select_option("select[name=interval]", "month")
        page.click("#analytics-form button[type=submit]")
        rows = page.locator("#analytics-table tbody tr")
        assert rows.count() == 3  # two flagged segments and the baseline
        assert page.locator("tr[data-code=moscow] td[data-field=orders]").inner_text() == "3"
        assert page.locator("figure.chart-card").count() == 4
        assert page.locator("figure[data-metric=revenue] polyline").count() == 3
        with page.expect_download() as download:
            page.click("#analytics-csv")
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("code,name,customers") and len(lines) == 4
        assert lines[1].startswith("moscow,Moscow,2,2,3,")
        if os.environ.get("SEGSEARCH_SCREENSHOTS", "1") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "analytics.png"), full_page=True)
        # a bad period names the field on the page, not a crash
        page.goto(f"{served}/admin/analytics?from=2025-02-01&to=2025-01-01")
        assert "Must be on or before" in page.locator(".field-error").first.inner_text()
    assert not problems, problems
