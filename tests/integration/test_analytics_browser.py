"""The admin's Analytics page in a real browser (Playwright driving Debian's chromium).

A real HTTP server (werkzeug, in a thread) serves the app on a free loopback port; any
console error or page error fails the test. Also writes the README screenshot.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import ADMIN_TOKEN
from tests.integration.test_analytics import CUSTOMERS, MOSCOW, ONLINE, ORDERS, form, make_api

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def served(prefix, feed):
    api = make_api(prefix, "Europe/Moscow")
    api.app.config["SEGSEARCH"]["SECRET_KEY"] = "browser-test"
    api.app.secret_key = "browser-test"
    feed.import_dataset(customers=CUSTOMERS, orders=ORDERS)
    form(api, "moscow", MOSCOW)
    form(api, "online", ONLINE)
    server = make_server("127.0.0.1", 0, api.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is installed by scripts/setup.sh")
def test_analytics_page_in_a_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        page.goto(f"{served}/admin/login")
        page.fill("input[name=token]", ADMIN_TOKEN)
        page.click("button[type=submit]")
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
        browser.close()
    assert not problems, problems
