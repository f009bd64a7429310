"""Sharing through the pages: with a second user (who downloads the same bytes, then is
refused once the owner revokes), and by a share link with a password and a download
limit, used from a browser that has no account at all."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.browser.conftest import ConsoleWatch, new_context, shoot
from tests.browser.flows import api_account, sign_in
from tests.browser.server import LiveServer

CONTENT = b"Board minutes, 12 March.\n" + bytes(range(256)) * 400


def accept_confirmations(page: Page) -> None:
    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.on("dialog", accept)


def upload_and_open(page: Page, source: Path) -> str:
    """Upload ``source`` with the uploader of My files, then open its page; returns
    the page's path."""
    page.goto("/files")
    expect(page.get_by_text("Drop files here")).to_be_visible()
    page.get_by_label("File").set_input_files(source)
    page.get_by_role("button", name="Upload").click()
    page.locator("#file-list").get_by_role("link", name=source.name, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(source.name)
    return page.url.removeprefix(page.url.split("/files/")[0])


def downloaded(
    page: Page, name: str, tmp_path: Path, *, role: Literal["link", "button"] = "link"
) -> bytes:
    with page.expect_download() as download:
        page.get_by_role(role, name=name).first.click()
    saved = tmp_path / f"saved-{download.value.suggested_filename}"
    download.value.save_as(saved)
    return saved.read_bytes()


def test_share_with_a_user_then_revoke(
    page: Page, another_context: BrowserContext, live_server: LiveServer, watch: ConsoleWatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    owner, reader = api_account(live_server, "owner"), api_account(live_server, "reader")
    source = tmp_path / "board minutes.txt"
    source.write_bytes(CONTENT)
    sign_in(page, owner)
    accept_confirmations(page)
    file_path = upload_and_open(page, source)

    page.get_by_label("Usernames").fill(reader)
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"is now shared with {reader}")
    expect(page.locator("#sharing table")).to_contain_text(reader)
    shoot(page, "file-detail")

    other = another_context.new_page()
    sign_in(other, reader)
    other.get_by_role("link", name="Shared with me").click()
    row = other.get_by_role("row", name=re.compile("board minutes.txt"))
    expect(row).to_contain_text(owner)
    shoot(other, "shared-with-me")
    assert downloaded(other, "Download board minutes.txt", tmp_path) == CONTENT

    page.get_by_role("button", name=f"Revoke access for {reader}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{reader} no longer has access")

    watch.allow("status of 404")
    other.reload()
    expect(other.get_by_text("Nothing is shared with you at the moment.")).to_be_visible()
    refused = other.goto(file_path)
    assert refused is not None
    assert refused.status == 404
    expect(other.get_by_role("heading", level=1)).to_have_text(re.compile("not found", re.I))
    expect(other.get_by_text("board minutes.txt")).to_have_count(0)


def test_a_share_link_with_a_password_and_one_download(
    page: Page, browser: Browser, live_server: LiveServer, watch: ConsoleWatch, tmp_path: Path
) -> None:
    source = tmp_path / "for the auditors.bin"
    source.write_bytes(CONTENT)
    sign_in(page, api_account(live_server, "linker"))
    upload_and_open(page, source)

    # A link without a password first: its page names the file.
    page.get_by_role("button", name="Create the link").click()
    open_url = page.get_by_label("Link", exact=True).input_value()
    page.get_by_label("Password (optional)").fill("correct horse")
    page.get_by_label("Download limit (optional)").fill("1")
    page.get_by_label("Note for yourself (optional)").fill("auditors")
    page.get_by_role("button", name="Create the link").click()
    expect(page.get_by_role("status")).to_contain_text("shown only this once")
    protected_url = page.get_by_label("Link", exact=True).input_value()
    assert protected_url.startswith(f"{live_server.url}/s/")
    expect(page.locator("table.links")).to_contain_text("0 of 1")

    stranger = new_context(browser, live_server, watch)
    visitor = stranger.new_page()
    visitor.goto(open_url)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("for the auditors.bin")
    shoot(visitor, "share-link")

    visitor.goto(protected_url)
    expect(visitor.get_by_role("heading", level=1)).to_have_text("A shared file is waiting for you")
    expect(visitor.get_by_text("for the auditors.bin")).to_have_count(0)
    shoot(visitor, "share-link-password")
    watch.allow("status of 403")
    visitor.get_by_label("Password").fill("wrong horse")
    visitor.get_by_role("button", name="Download").click()
    expect(visitor.get_by_role("alert")).to_have_text(re.compile("That password is not right"))
    visitor.get_by_label("Password").fill("correct horse")
    assert downloaded(visitor, "Download", tmp_path, role="button") == CONTENT

    watch.allow("status of 410")
    visitor.reload()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("This link has been used up")
    stranger.close()
