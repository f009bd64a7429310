"""Admin walk-throughs in a real browser: the bootstrap admin searches accounts,
creates one (its temporary password shown once), changes a role, disables a user
whose open session then dies, and reads the status page; and the error pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.browser.conftest import ConsoleWatch, new_context, shoot
from tests.browser.flows import admin_page_ready, api_account, sign_in, unique
from tests.browser.server import LiveServer
from tests.browser.test_pages import audit


def accept_confirmations(page: Page) -> None:
    """Say yes to every "are you sure?" the page asks (common.js data-confirm)."""

    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.on("dialog", accept)


def open_account(page: Page, username: str) -> None:
    """Find an account through the search box on /admin and open its page."""
    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_label("Name or e-mail").fill(username)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=username, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Account “{username}”")


def test_admin_manages_accounts_and_a_disabled_users_session_dies(
    page: Page, another_context: BrowserContext, live_server: LiveServer, watch: ConsoleWatch
) -> None:
    watch.allow("status of 401")  # the disabled user's refused sign-in
    victim = api_account(live_server, "victim")
    theirs = another_context.new_page()
    sign_in(theirs, victim)
    accept_confirmations(page)
    admin_page_ready(page, live_server)

    # Search.
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin$"))
    page.get_by_label("Name or e-mail").fill(victim)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("table")).to_contain_text(victim)
    expect(page.get_by_role("caption")).to_have_text("1 account found")
    page.get_by_label("Name or e-mail").fill("")
    page.get_by_role("button", name="Search").click()
    shoot(page, "admin-users")

    # Create an account: its temporary password is shown once, with a copy button.
    newcomer = unique("newcomer")
    page.get_by_label("Username").fill(newcomer)
    page.get_by_label("Display name (optional)").fill("New Comer")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("heading", name="Account created")).to_be_visible()
    temporary = page.get_by_label("Temporary password").input_value()
    assert len(temporary) >= 20
    expect(page.get_by_role("button", name="Copy the temporary password")).to_be_visible()
    page.get_by_role("link", name="Done").click()

    # Change its role.
    page.get_by_label("Role").select_option("admin")
    page.get_by_role("button", name="Change the role").click()
    expect(page.get_by_role("status")).to_contain_text(f"{newcomer} is now an administrator")
    expect(page.locator(".facts")).to_contain_text("Administrator")

    # Disable the victim, whose session in the other browser is open.
    open_account(page, victim)
    shoot(page, "admin-user")
    page.get_by_role("button", name="Disable the account").click()
    expect(page.get_by_role("status")).to_contain_text(f"{victim} is disabled")
    expect(page.locator(".facts")).to_contain_text("Disabled")

    theirs.reload()
    expect(theirs).to_have_url(re.compile(r"/login$"))
    theirs.get_by_label("Username").fill(victim)
    theirs.get_by_label("Password").fill("violet-harbour-lantern-97")
    theirs.get_by_role("button", name="Sign in").click()
    expect(theirs.get_by_role("alert")).to_contain_text("That username and password do not match.")

    # The status page shows readiness, storage, the ledger and the admin's actions.
    page.get_by_role("link", name="System status and security events").click()
    expect(page.get_by_role("heading", name="System status")).to_be_visible()
    expect(page.get_by_text("Everything is working.")).to_be_visible()
    events = page.locator("#events table")
    expect(events).to_contain_text("admin:user:disable")
    expect(events).to_contain_text("admin:user:role")
    shoot(page, "admin-status")


def test_error_pages(
    page: Page, another_context: BrowserContext, live_server: LiveServer, watch: ConsoleWatch
) -> None:
    watch.allow("status of 404")  # the missing page's own answer
    watch.allow("status of 403")
    answer = page.goto("/no/such/page")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("There is nothing at this address")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Request id: \w+"))).to_be_visible()
    expect(page.get_by_role("button", name="Copy the request id")).to_be_visible()
    shoot(page, "error-404")
    page.get_by_role("link", name="Back to Strongroom").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    # A signed-in user who is not an admin: the forbidden page, in the site's layout.
    user = api_account(live_server, "curious")
    theirs = another_context.new_page()
    sign_in(theirs, user)
    expect(theirs.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    refused = theirs.goto("/admin")
    assert refused is not None
    assert refused.status == 403
    expect(theirs.get_by_role("heading", name="Forbidden")).to_be_visible()
    expect(theirs.get_by_text("Only administrators can do this.")).to_be_visible()
    expect(theirs.get_by_role("button", name="Sign out")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_admin_pages_are_clean_and_accessible(
    browser: Browser, live_server: LiveServer, watch: ConsoleWatch, scheme: str
) -> None:
    """The checks of test_pages.py (labels, one h1, contrast, no sideways scrolling) on
    the admin pages, which its crawl (as a plain user) never reaches."""
    context = new_context(browser, live_server, watch, scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    admin_page_ready(page, live_server)
    open_account(page, api_account(live_server, "audited"))
    paths = ["/admin", "/admin/status", urlsplit(page.url).path]
    problems = []
    for width in (1440, 360):
        page.set_viewport_size({"width": width, "height": 900})
        problems += [f"{width}px {p}" for path in paths for p in audit(page, path)]
    context.close()
    assert not problems, "\n".join(problems)
    assert not watch.unexpected(), f"console errors: {watch.unexpected()}"
