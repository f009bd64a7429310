"""The browser suite: Debian's Chromium driven by Playwright against a real server.

One gunicorn server (two workers, fresh SQLite database and blob directory) serves
the whole session; each test gets a fresh browser context (its own cookies and
storage) whose console is watched: a console error or a CSP violation fails the
test unless the test said it expects it (``watch.allow``).

Screenshots go to ``artifacts/screenshots`` (``STRONGROOM_ARTIFACTS`` overrides it);
``shoot`` takes one page at 1440 and at 390 pixels wide.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from tests.browser.server import LiveServer, start_server

CHROMIUM = Path(os.environ.get("STRONGROOM_CHROMIUM", "/usr/bin/chromium"))
# Chromium as root in a container, with nothing phoning home (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("STRONGROOM_ARTIFACTS", ROOT / "artifacts"))
WIDE = {"width": 1440, "height": 900}
NARROW = {"width": 390, "height": 844}

pytest.importorskip("playwright.sync_api", reason="make test installs Playwright")
from playwright.sync_api import (  # noqa: E402
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: run make test (it installs Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield launched
    launched.close()


@dataclass
class ConsoleWatch:
    """Console errors and page errors seen in one context (CSP violations included)."""

    seen: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """Expect console errors containing ``fragment`` (a refused request's 403, say)."""
        self.allowed.append(fragment)

    def record(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(message.text)

    def unexpected(self) -> list[str]:
        return [m for m in self.seen if not any(a in m for a in self.allowed)]


@pytest.fixture
def watch() -> ConsoleWatch:
    return ConsoleWatch()


def new_context(
    browser: Browser,
    server: LiveServer,
    watch: ConsoleWatch,
    *,
    javascript: bool = True,
    scheme: Literal["light", "dark"] = "light",
) -> BrowserContext:
    """A fresh browser profile (no cookies, no storage) watched for console errors."""
    context = browser.new_context(
        base_url=server.url,
        viewport=WIDE,
        accept_downloads=True,
        java_script_enabled=javascript,
        color_scheme=scheme,
    )
    context.set_default_timeout(10_000)
    context.on("console", watch.record)
    context.on("weberror", lambda error: watch.seen.append(f"uncaught: {error.error}"))
    return context


@pytest.fixture
def context(
    browser: Browser, live_server: LiveServer, watch: ConsoleWatch
) -> Iterator[BrowserContext]:
    made = new_context(browser, live_server, watch)
    yield made
    made.close()
    assert not watch.unexpected(), f"console errors: {watch.unexpected()}"


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def another_context(
    browser: Browser, live_server: LiveServer, watch: ConsoleWatch
) -> Iterator[BrowserContext]:
    """A second, separate browser profile (the other user, or a stranger with a link)."""
    made = new_context(browser, live_server, watch)
    yield made
    made.close()


def shoot(page: Page, name: str) -> list[Path]:
    """Full-page screenshots of the current page at 1440 and 390 pixels wide."""
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    taken = []
    for width, size in (("1440", WIDE), ("390", NARROW)):
        page.set_viewport_size(size)
        target = folder / f"{name}-{width}.png"
        page.screenshot(path=str(target), full_page=True)
        taken.append(target)
    page.set_viewport_size(WIDE)
    return taken
