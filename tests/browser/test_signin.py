"""Sign-in, sign-out and the upload form, with and without JavaScript."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleWatch, new_context, shoot
from tests.browser.flows import PASSWORD, api_account, sign_in, sign_out
from tests.browser.server import LiveServer


def test_sign_in_page_and_a_wrong_password(
    page: Page, live_server: LiveServer, watch: ConsoleWatch
) -> None:
    username = api_account(live_server)
    page.goto("/")
    expect(page).to_have_url("/login")
    shoot(page, "sign-in")
    watch.allow("status of 401")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("not-the-password-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That username and password do not match.")
    # What was typed stays, except the secret.
    expect(page.get_by_label("Username")).to_have_value(username)
    expect(page.get_by_label("Password")).to_have_value("")
    sign_in(page, username)
    expect(page.get_by_role("heading", name="My files")).to_be_visible()
    sign_out(page)
    page.goto("/files")
    expect(page).to_have_url("/login")


def test_upload_by_form_with_javascript_off(
    browser: Browser, live_server: LiveServer, watch: ConsoleWatch, tmp_path: Path
) -> None:
    username = api_account(live_server)
    context = new_context(browser, live_server, watch, javascript=False)
    page = context.new_page()
    sign_in(page, username, PASSWORD)
    source = tmp_path / "plain form.txt"
    source.write_bytes(b"sent without any JavaScript\n")
    page.locator("form.upload").get_by_label("File").set_input_files(source)
    page.locator("form.upload").get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("“plain form.txt” was uploaded")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").first.click()
    saved = tmp_path / "downloaded"
    download.value.save_as(saved)
    assert saved.read_bytes() == source.read_bytes()
    context.close()
