"""Every page a signed-in user (and an admin) can reach by following links: no
console error or CSP violation, every control labelled, one h1, text contrast at
WCAG AA, nothing wider than the screen, in light and dark, at 1440 and 360 px.

The pages are found by crawling from "My files", so a page added later is checked
without being listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import ConsoleWatch, new_context
from tests.browser.flows import api_account, sign_in
from tests.browser.server import LiveServer

AUDIT = (Path(__file__).parent / "audit.js").read_text()
MAX_PAGES = 60
# Downloads and API answers are not pages; /logout is a form, never a link.
NOT_PAGES = ("/static/", "/api/", "/content", "/logout")


def upload(page: Page, name: str, data: bytes) -> None:
    """A file uploaded through the API with the page's session and CSRF token."""
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    answer = page.request.post(
        "/api/v1/files",
        headers={
            "X-CSRF-Token": csrf,
            "X-File-Name": name,
            "Content-Type": "application/octet-stream",
        },
        data=data,
    )
    assert answer.status == 201, answer.text()


def crawl(page: Page, start: str) -> list[str]:
    """Same-origin page paths reachable from ``start`` by links, breadth first."""
    origin = urlsplit(page.url or "http://x").netloc
    seen, queue = [start], [start]
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        answer = page.goto(path)
        assert answer is not None, path
        assert answer.status < 400, f"{path}: {answer.status}"
        hrefs = page.eval_on_selector_all("a[href]:not([download])", "els => els.map(e => e.href)")
        for href in hrefs:
            parts = urlsplit(href)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.netloc != origin or any(n in parts.path for n in NOT_PAGES):
                continue
            if parts.path not in {urlsplit(s).path for s in seen}:
                seen.append(target)
                queue.append(target)
    return seen


def audit(page: Page, path: str) -> list[str]:
    page.goto(path)
    return [f"{path}: {problem}" for problem in page.evaluate(AUDIT)]


@pytest.fixture(params=["light", "dark"])
def scheme_context(
    request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer, watch: ConsoleWatch
) -> Iterator[BrowserContext]:
    made = new_context(browser, live_server, watch, scheme=request.param)
    yield made
    made.close()
    assert not watch.unexpected(), f"console errors: {watch.unexpected()}"


def test_every_reachable_page_is_clean_and_accessible(
    scheme_context: BrowserContext, live_server: LiveServer
) -> None:
    page = scheme_context.new_page()
    username = api_account(live_server, "crawler")
    sign_in(page, username)
    upload(page, "report.pdf", b"%PDF-1.4 a small report\n")
    paths = crawl(page, "/files")
    assert len(paths) > 1, paths
    problems = []
    for width in (1440, 360):
        page.set_viewport_size({"width": width, "height": 900})
        for path in paths:
            problems += [f"{width}px {p}" for p in audit(page, path)]
    assert not problems, "\n".join(problems)


def test_signed_out_pages_are_clean_and_accessible(
    scheme_context: BrowserContext, watch: ConsoleWatch
) -> None:
    watch.allow("status of 404")  # the missing page's own answer
    page = scheme_context.new_page()
    problems = []
    for width in (1440, 360):
        page.set_viewport_size({"width": width, "height": 900})
        for path in ("/login", "/register", "/no/such/page"):
            problems += [f"{width}px {p}" for p in audit(page, path)]
    assert not problems, "\n".join(problems)
