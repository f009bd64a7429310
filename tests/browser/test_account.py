"""Registration and the account pages, walked through as a person would: live
password feedback, 2FA set-up and both ways of finishing a sign-in with it, the
password change, another session signed out, tokens, and restricted accounts."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import BrowserContext, Dialog, Page, expect

from tests.browser.conftest import ConsoleWatch, shoot
from tests.browser.flows import (
    PASSWORD,
    admin_page_ready,
    api_account,
    change_password,
    enable_2fa,
    register,
    sign_in,
    sign_out,
    totp_code,
    unique,
)
from tests.browser.server import LiveServer

NEW_PASSWORD = "saffron-lighthouse-otter-31"


def accept(dialog: Dialog) -> None:
    dialog.accept()


def test_register_with_live_password_feedback(page: Page) -> None:
    username = unique("reg")
    page.goto("/login")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url("/register")
    page.get_by_label("Username").fill(username)
    password = page.get_by_label("Password", exact=True)
    meter = page.locator("#password-strength")
    verdict = meter.locator(".strength-verdict")
    password.press_sequentially("tulip")
    expect(verdict).to_contain_text("not accepted yet")
    expect(meter.locator(".strength-reasons")).to_contain_text("at least 12 characters")
    password.press_sequentially(f"{username}99")  # long enough, but holds the username
    expect(meter.locator(".strength-reasons")).to_contain_text("Do not use your username")
    password.fill("tulip-harbour-violet-58")
    expect(verdict).to_have_text("Strong: acceptable.")
    expect(meter.locator("meter")).to_have_attribute("value", "4")
    page.get_by_label("Password again").fill("tulip-harbour-violet-58")
    shoot(page, "register")
    page.get_by_role("button", name="Create the account").click()
    expect(page.get_by_role("status")).to_contain_text(f"Welcome to Strongroom, {username}")
    expect(page.get_by_label("Username")).to_have_value(username)
    page.get_by_label("Password").fill("tulip-harbour-violet-58")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My files")).to_be_visible()


def test_a_refused_registration_keeps_what_was_typed(page: Page, watch: ConsoleWatch) -> None:
    watch.allow("status of 422")
    taken = unique("taken")
    register(page, taken)
    page.goto("/register")
    page.get_by_label("Username").fill(taken)
    page.get_by_label("E-mail (optional)").fill("someone@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator("#username-errors")).to_have_text("That username is taken; choose another.")
    expect(page.get_by_label("Username")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("E-mail (optional)")).to_have_value("someone@example.org")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")


def test_two_factor_set_up_and_both_ways_to_sign_in(context: BrowserContext, page: Page) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    username = unique("tfa")
    register(page, username)
    sign_in(page, username)
    page.get_by_role("link", name="Account").click()
    page.get_by_role("link", name="Two-factor and sessions").click()
    page.get_by_role("button", name="Set up two-factor authentication").click()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    shoot(page, "account-2fa-setup")
    page.get_by_role("button", name="Copy the key").click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("status").first).to_contain_text("Two-factor authentication is on")
    codes = page.locator("#recovery-codes").inner_text().split()
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", code) for code in codes)
    shoot(page, "account-recovery-codes")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download as a text file").click()
    assert download.value.suggested_filename == "strongroom-recovery-codes.txt"
    assert Path(download.value.path()).read_text().split() == codes

    sign_out(page)
    sign_in(page, username, totp=totp_code(secret, ahead=1))
    expect(page.get_by_role("heading", name="My files")).to_be_visible()


def test_sign_in_with_a_recovery_code(page: Page, live_server: LiveServer) -> None:
    username = api_account(live_server, "rec")
    sign_in(page, username)
    enable_2fa(page)
    codes = page.locator("#recovery-codes").inner_text().split()
    sign_out(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Use a recovery code instead").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Continue with the recovery code").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto("/account/security")
    expect(page.get_by_text("9 unused recovery codes left")).to_be_visible()


def test_password_change_and_another_session_signed_out(
    page: Page, another_context: BrowserContext, live_server: LiveServer
) -> None:
    username = api_account(live_server, "pwd")
    elsewhere = another_context.new_page()
    sign_in(page, username)
    sign_in(elsewhere, username)
    page.goto("/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    shoot(page, "account")
    change_password(page, PASSWORD, NEW_PASSWORD)
    elsewhere.goto("/files")
    expect(elsewhere).to_have_url("/login")  # the change ended the other session

    sign_in(elsewhere, username, NEW_PASSWORD)
    page.goto("/account/security")
    rows = page.locator("#sessions tbody tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_text("This device")).to_have_count(1)
    page.on("dialog", accept)
    other = rows.filter(has_not_text="This device")
    other.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(page.get_by_role("status")).to_have_text("That session was signed out.")
    expect(page.locator("#sessions tbody tr")).to_have_count(1)
    elsewhere.goto("/files")
    expect(elsewhere).to_have_url("/login")


def test_create_use_and_revoke_a_token(page: Page, live_server: LiveServer) -> None:
    username = api_account(live_server, "pat")
    sign_in(page, username)
    page.goto("/account/tokens")
    page.get_by_label("Name", exact=True).fill("nightly backup")
    page.get_by_role("checkbox", name=re.compile("^files:write")).check()
    page.get_by_label("Expires after").select_option("30")
    page.get_by_role("button", name="Create the token").click()
    secret = page.get_by_label("Token", exact=True).input_value()
    assert secret.startswith("srp_")
    shoot(page, "account-tokens")
    me = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["scopes"] == ["files:read", "files:write"]
    page.goto("/account/tokens")  # shown once: not on the page any more
    expect(page.get_by_label("Token", exact=True)).to_have_count(0)
    row = page.locator("tbody tr", has_text="nightly backup")
    expect(row).to_contain_text("files:read, files:write")
    page.on("dialog", accept)
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_role("status")).to_contain_text("The token was revoked")
    gone = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status == 401


def test_a_temporary_password_leads_to_the_change(page: Page, live_server: LiveServer) -> None:
    username = api_account(live_server, "temp")
    live_server.sql("UPDATE users SET must_change_password = 1 WHERE username = ?", username)
    sign_in(page, username)
    expect(page).to_have_url("/account#password")
    expect(page.get_by_role("alert").first).to_contain_text("Your password is temporary")
    page.goto("/account/tokens")  # any other page sends it back
    expect(page).to_have_url("/account#password")
    change_password(page, PASSWORD, NEW_PASSWORD)
    page.goto("/files")
    expect(page.get_by_role("heading", name="My files")).to_be_visible()


def test_the_bootstrap_admin_changes_its_password_first(
    page: Page, live_server: LiveServer
) -> None:
    password = admin_page_ready(page, live_server)
    assert password != live_server.admin_password
    assert live_server.sql("SELECT must_change_password FROM users WHERE username = 'admin'") == [
        (0,)
    ]
    page.goto("/files")
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    sign_out(page)
    assert admin_page_ready(page, live_server) == password  # the second time: straight in
