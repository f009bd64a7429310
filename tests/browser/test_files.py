"""The JavaScript uploader of "My files": several files with progress to 100 %, and
a cancelled upload that leaves nothing behind."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleWatch, shoot
from tests.browser.flows import api_account, sign_in
from tests.browser.server import LiveServer

BIG = 300 * 1000 * 1000
# Not ASCII, so the uploader sends it in X-File-Name's RFC 8187 form.
NON_ASCII = "budget \N{EN DASH} 2025.csv"


@contextmanager
def slow_uploads(page: Page, bytes_per_second: int) -> Iterator[None]:
    """Chromium's own network throttling, so an upload stays in flight long enough to
    be watched (and cancelled) however fast the loopback server is."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1,
         "uploadThroughput": bytes_per_second},
    )  # fmt: skip
    try:
        yield
    finally:
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        cdp.detach()


def ready_uploader(page: Page) -> None:
    """Signed in on My files, with upload.js in charge of the form."""
    page.goto("/files")
    expect(page.get_by_text("Drop files here")).to_be_visible()


def test_upload_two_files_with_progress(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    sign_in(page, api_account(live_server, "uploader"))
    ready_uploader(page)
    first, second = tmp_path / "minutes.txt", tmp_path / NON_ASCII
    first.write_bytes(b"the minutes\n" * 50_000)
    second.write_bytes(b"a,b,c\n" * 200_000)
    with slow_uploads(page, 1_500_000):
        page.get_by_label("File").set_input_files([first, second])
        page.get_by_role("button", name="Upload").click()
        rows = page.locator(".transfer")
        expect(rows).to_have_count(2)
        expect(rows.first.locator(".progress-text")).to_contain_text(re.compile(r"\d+ % · .* left"))
        shoot(page, "upload-progress")
        for row in (rows.nth(0), rows.nth(1)):
            expect(row.locator(".progress-text")).to_contain_text("100 %", timeout=30_000)
            expect(row.locator(".progress-text")).to_contain_text("uploaded and encrypted")
    listing = page.locator("#file-list")
    expect(listing.get_by_role("link", name="minutes.txt", exact=True)).to_be_visible()
    expect(listing.get_by_role("link", name=NON_ASCII, exact=True)).to_be_visible()
    expect(rows.first.get_by_role("link", name="minutes.txt")).to_have_attribute(
        "href", re.compile(r"^/files/[\w-]+$")
    )
    page.reload()
    expect(page.locator("#file-list")).to_contain_text(NON_ASCII)
    shoot(page, "files")


def test_cancel_an_upload_in_flight(page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    sign_in(page, api_account(live_server, "canceller"))
    ready_uploader(page)
    big = tmp_path / "too slow.bin"
    with big.open("wb") as sparse:
        sparse.truncate(BIG)  # 300 MB of zeros that take no disk
    with slow_uploads(page, 2_000_000):
        page.get_by_label("File").set_input_files(big)
        page.get_by_role("button", name="Upload").click()
        row = page.locator(".transfer")
        expect(row.locator(".progress-text")).to_contain_text(re.compile(r"[1-9]\d* (KB|MB) of"))
        row.get_by_role("button", name="Cancel").click()
        expect(row).to_contain_text("Cancelled: nothing was stored.")
        expect(row.locator("progress")).to_have_count(0)
    page.reload()
    expect(page.locator("#file-list")).to_contain_text("No files yet.")


def test_a_refused_upload_explains_itself(
    page: Page, live_server: LiveServer, watch: ConsoleWatch, tmp_path: Path
) -> None:
    watch.allow("status of 422")  # the API's refusal, which the page explains
    sign_in(page, api_account(live_server, "refused"))
    ready_uploader(page)
    page.get_by_label("Share with").fill("nobody-by-that-name")
    source = tmp_path / "notes.txt"
    source.write_bytes(b"notes")
    page.get_by_label("File").set_input_files(source)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".transfer").get_by_role("alert")).to_have_text(
        "No active account by that name can receive shares."
    )
    page.reload()
    expect(page.locator("#file-list")).to_contain_text("No files yet.")
