"""The admin's text mode in a real browser: Playwright (PyPI) driving Debian's chromium.

scripts/setup.sh installs chromium; Playwright's own browser download is not used (it
cannot reach its host here), so the browser is launched by `executable_path`. The app is
served by werkzeug on an ephemeral port of 127.0.0.1. Any console error or uncaught
exception in the page fails the test.
"""
from __future__ import annotations

import shutil
import threading
import time

import pytest

from tests.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 15_000


@pytest.fixture
def base_url(app, monkeypatch):
    from werkzeug.serving import make_server
    monkeypatch.setattr("segsearch.api.segments.enqueue_formation", lambda code, reason: None)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page(base_url):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        # The app serves no favicon; the browser's automatic request for it is not the page's.
        page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        page.goto(base_url + "/admin/login")
        page.fill('input[name="token"]', ADMIN_TOKEN)
        page.click('button[type="submit"]')
        page.wait_for_url("**/admin/**")
        yield page
        browser.close()
        assert not problems, f"console errors: {problems}"


def _until(check, seconds: float = TIMEOUT_MS / 1000) -> None:
    # Polled from Python: the admin's CSP (no eval) refuses wait_for_function's script.
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _text(page) -> str:
    return page.input_value("#rule-text")


def test_text_mode_completes_underlines_and_switches_both_ways(page, base_url, app):
    page.goto(base_url + "/admin/segments/new")
    page.click('.mode-btn[data-mode="text"]')
    page.wait_for_selector("#rule-text-pane:not([hidden])")
    assert _text(page) == "ALL OF\n"

    # completion: a block, a field, an operator
    box = page.locator("#rule-text")
    box.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("cust")
    page.wait_for_selector("#rule-text-complete:not([hidden]) li")
    page.keyboard.press("Enter")
    assert _text(page).endswith("customer ALL (\n  \n)\n")
    page.keyboard.type("Cit")
    page.wait_for_selector("#rule-text-complete li:has-text('City')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#rule-text-complete li:has-text('is one of')")
    page.keyboard.press("Enter")
    page.keyboard.type("Moscow")
    page.keyboard.press("Escape")
    assert "  City is one of Moscow\n)" in _text(page)
    _until(lambda: "Moscow" in page.input_value("#rule-json"))  # the blocks follow the text

    # an error is underlined where it is, and named
    box.fill("customer (\n  City is one of\n)")
    page.wait_for_selector("#rule-text-error:not([hidden])")
    assert "line 3, column 1" in page.inner_text("#rule-text-error")
    assert page.inner_text("#rule-text-backdrop mark") == ")"
    page.click('.mode-btn[data-mode="blocks"]')
    assert page.is_visible("#rule-text-pane")  # cannot leave while the text is wrong

    # fixed: the blocks follow the text, and back
    box.fill("ALL OF\ncustomer ALL (City is one of Moscow)\nNOT customer ALL (VIP is yes)\n")
    page.wait_for_selector("#rule-text-error", state="hidden")
    page.click('.mode-btn[data-mode="blocks"]')
    page.wait_for_selector("#rule-editor:not([hidden]) .group.negated")
    assert page.locator("#rule-editor .group").count() == 2
    page.click('.mode-btn[data-mode="text"]')
    page.wait_for_selector("#rule-text-pane:not([hidden])")
    assert _text(page) == ("ALL OF\ncustomer ALL (\n  City is one of Moscow\n)\n"
                           "NOT customer ALL (\n  VIP is yes\n)\n")

    # saved from the text mode
    page.fill("#f-name", "From text")
    page.fill("#f-code", "from-text")
    page.click("button.btn-primary[type=submit]")
    page.wait_for_url("**/admin/segments/from-text**")
    with app.app_context():
        from segsearch.api.segments import segment_service
        seg = segment_service().get("from-text")
    assert [g["negate"] for g in seg["rule"]["groups"]] == [False, True]
