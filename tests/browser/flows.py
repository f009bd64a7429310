"""Steps the walk-throughs share, done the way a person does them: through the pages.

``api_account`` is the one shortcut (an account made over the JSON API) for tests
whose subject is not registration itself.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request

import pyotp
from playwright.sync_api import Page, expect

from tests.browser.server import ADMIN_USERNAME, LiveServer

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
        page.get_by_label("Code", exact=True).fill(totp)
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url("/login")


# --- accounts: registration, 2FA and the bootstrap admin ----------------------------------------

# The bootstrap admin's own password, by server URL: it must change the one from the
# environment at first sign-in, once per server; later sign-ins use this one.
ADMIN_PASSWORDS: dict[str, str] = {}


def register(page: Page, username: str, password: str = PASSWORD) -> None:
    """Create an account through /register; ends on the sign-in page with the welcome."""
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome to Strongroom, {username}")


def totp_code(secret: str, *, ahead: int = 0) -> str:
    """The code of the current 30-second step, or ``ahead`` steps later. The server takes
    one step of drift and never the same step twice, so a second sign-in within one
    step needs ``ahead=1``."""
    return pyotp.TOTP(secret).at(time.time() + 30 * ahead)


def enable_2fa(page: Page) -> str:
    """Turn on 2FA from the security page (signed in); returns the TOTP secret.
    Ends on the recovery codes page."""
    page.goto("/account/security")
    page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    return secret


def change_password(page: Page, current: str, new: str) -> None:
    """Change the password on /account (signed in)."""
    if not page.url.endswith(("/account", "/account#password")):
        page.goto("/account")
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password was changed")


def admin_page_ready(page: Page, server: LiveServer) -> str:
    """Sign the bootstrap admin in; the first time on ``server`` the temporary password
    is changed (as the page demands) and kept in ``ADMIN_PASSWORDS``. Returns the
    admin's current password."""
    known = ADMIN_PASSWORDS.get(server.url)
    if known is not None:
        sign_in(page, ADMIN_USERNAME, known)
        return known
    sign_in(page, ADMIN_USERNAME, server.admin_password)
    expect(page).to_have_url(re.compile(r"/account#password$"))
    expect(page.get_by_role("alert").first).to_contain_text("Your password is temporary")
    new = f"keeper-{secrets.token_urlsafe(12)}-harbour"
    change_password(page, server.admin_password, new)
    ADMIN_PASSWORDS[server.url] = new
    return new
