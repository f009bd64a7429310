"""Steps the walk-throughs share, done the way a person does them: through the pages.

``api_account`` is the one shortcut (an account made over the JSON API) for tests
whose subject is not registration itself.
"""

from __future__ import annotations

import json
import secrets
import urllib.request

from playwright.sync_api import Page, expect

from tests.browser.server import LiveServer

PASSWORD = "violet-harbour-lantern-97"


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def api_account(server: LiveServer, prefix: str = "user", password: str = PASSWORD) -> str:
    """Register an account over the API; returns its username."""
    username = unique(prefix)
    request = urllib.request.Request(  # noqa: S310  # loopback test server
        f"{server.url}/api/v1/auth/register",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201
    return username


def sign_in(
    page: Page, username: str, password: str = PASSWORD, *, totp: str | None = None
) -> None:
    """Sign in through /login (and its code step when ``totp`` is given)."""
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if totp is not None:
        page.get_by_label("Code").fill(totp)
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url("/login")
