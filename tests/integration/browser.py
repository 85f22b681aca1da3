"""Browser-test helpers: the app on a real HTTP server, Debian's chromium through Playwright.

Playwright's own browser download cannot work here, so the system chromium (installed by
scripts/setup.sh) is launched by path. Every console error and page error is collected:
the tests assert there are none.
"""
from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """The WSGI app on a free loopback port, in a thread, for the duration of the block."""
    app.secret_key = app.secret_key or "browser-test"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def browser_page(problems: list[str], width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A fresh chromium page; console errors and page errors are appended to `problems`."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            yield page
        finally:
            browser.close()


def login(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/admin/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/segments")
