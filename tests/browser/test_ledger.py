"""The file history page and the ledger explorer, verified in a real browser.

The page's own script (merkle.js) must implement the ledger spec exactly: it is run
here on the repository's test vectors. Then a file with several events shows every
one as verified; an operator who edits that file's ledger row in the database makes
the page report the altered event; a later visit proves the new checkpoint extends
the one the browser remembered.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import ConsoleWatch, new_context, shoot
from tests.browser.flows import PASSWORD, admin_page_ready, api_account, sign_in
from tests.browser.server import LiveServer

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "ledger"


def api(server: LiveServer, method: str, path: str, token: str, body: Any = None) -> Any:
    """A JSON API call as ``token``'s owner (the events the page then shows)."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None and not isinstance(body, bytes):
        headers["Content-Type"] = "application/json"
    elif isinstance(body, bytes):
        headers |= {"Content-Type": "application/octet-stream", "X-File-Name": "minutes.txt"}
    request = urllib.request.Request(  # noqa: S310  # loopback test server
        f"{server.url}/api/v1{path}", data=data, headers=headers, method=method
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        raw = answer.read()
    return json.loads(raw) if raw.startswith(b"{") else raw


def token_for(server: LiveServer, username: str) -> str:
    request = urllib.request.Request(  # noqa: S310  # loopback test server
        f"{server.url}/api/v1/auth/login",
        data=json.dumps({"username": username, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        token: str = json.loads(answer.read())["token"]
    return token


def run_module(page: Page, script: str, arg: Any) -> Any:
    """Evaluate ``script`` (the body of an async function of ``m``, merkle.js, and
    ``v``, the argument) in the page."""
    source = f"async (v) => {{ const m = await import('/static/js/merkle.js'); {script} }}"
    return page.evaluate(source, arg)


def test_merkle_js_follows_the_spec_on_the_test_vectors(
    page: Page, live_server: LiveServer
) -> None:
    page.goto("/login")
    tree = json.loads((VECTORS / "tree.json").read_text())
    failures = run_module(
        page,
        """
        const b = (s) => m.fromBase64(s);
        const leaves = v.leaves.map(b);
        const bad = [];
        const same = (x, y) => m.toBase64(x) === y;
        if (!same(await m.treeHash([]), v.empty_root)) bad.push('empty root');
        for (const [n, root] of Object.entries(v.roots)) {
          if (!same(await m.treeHash(leaves.slice(0, +n)), root)) bad.push('root ' + n);
        }
        for (const [key, proof] of Object.entries(v.inclusion)) {
          const [i, n] = key.split(',').map(Number);
          const leaf = await m.leafHash(leaves[i]);
          await m.verifyInclusion(leaf, i, n, proof.map(b), b(v.roots[n]))
            .catch(() => bad.push('inclusion ' + key));
          // A proof for another index must fail.
          if (n > 1) {
            const ok = await m.verifyInclusion(leaf, (i + 1) % n, n, proof.map(b), b(v.roots[n]))
              .then(() => true, () => false);
            if (ok) bad.push('inclusion accepted at the wrong index ' + key);
          }
        }
        for (const [key, proof] of Object.entries(v.consistency)) {
          const [a, n] = key.split(',').map(Number);
          await m.verifyConsistency(a, n, b(v.roots[a]), b(v.roots[n]), proof.map(b))
            .catch((e) => bad.push('consistency ' + key + ': ' + e.message));
          if (a < n) {
            const ok = await m.verifyConsistency(a, n, b(v.roots[n]), b(v.roots[n]), proof.map(b))
              .then(() => true, () => false);
            if (ok) bad.push('consistency accepted a wrong old root ' + key);
          }
        }
        return bad;
        """,
        tree,
    )
    assert failures == []
    assert len(tree["inclusion"]) > 2000
    assert len(tree["consistency"]) > 2000


def test_merkle_js_encodes_events_canonically(page: Page, live_server: LiveServer) -> None:
    page.goto("/login")
    vectors = json.loads((VECTORS / "canonical.json").read_text())
    encoded = run_module(page, "return v.map((c) => m.canonicalJSON(c.value));", vectors)
    assert encoded == [case["canonical"] for case in vectors]
    refused = run_module(
        page,
        """
        const out = [];
        for (const text of v) out.push(await Promise.resolve().then(() => m.parseEvent(text))
          .then(() => 'accepted', (e) => e.name));
        return out;
        """,
        ['{"a":1,"a":1}', '{"a": 1}', '{"a":1.5}', '{"b":1,"a":2}', "[]"],
    )
    assert refused == ["LedgerError"] * 5


def test_merkle_js_checks_signed_notes(page: Page, live_server: LiveServer) -> None:
    page.goto("/login")
    note = json.loads((VECTORS / "note.json").read_text())
    result = run_module(
        page,
        """
        const key = await m.parseVerifierKey(v.verifier_key);
        const valid = [];
        for (const c of v.valid) {
          const { checkpoint, signature } = await m.openCheckpoint(c.note, key);
          valid.push([checkpoint.size, m.toBase64(checkpoint.root), signature]);
        }
        const invalid = [];
        for (const c of v.invalid) {
          const opened = m.openCheckpoint(c.note, key);
          invalid.push(await opened.then(() => 'accepted', (e) => e.message));
        }
        return { valid, invalid };
        """,
        note,
    )
    root = note["checkpoint_text"].split("\n")[2]
    assert result["valid"] == [[70, root, "verified"]] * len(note["valid"])
    for case, message in zip(note["invalid"], result["invalid"], strict=True):
        assert case["error"] in message, (case["name"], message)


def file_with_events(server: LiveServer) -> tuple[str, str, str]:
    """An owner, a file with an upload, a download, a share and a link, its id and the
    owner's API token."""
    owner, friend = api_account(server, "owner"), api_account(server, "friend")
    token = token_for(server, owner)
    stored = api(server, "POST", "/files", token, b"the minutes of the meeting")
    api(server, "GET", f"/files/{stored['id']}/content", token)
    api(server, "POST", f"/files/{stored['id']}/grants", token, {"username": friend})
    api(server, "POST", f"/files/{stored['id']}/links", token, {"max_downloads": 3})
    return owner, stored["id"], token


def expect_all_verified(page: Page, count: int) -> None:
    summary = page.locator("[data-summary]")
    expect(summary).to_contain_text(f"All {count} events were verified in this browser")
    expect(page.locator(".event.verified")).to_have_count(count)


def test_history_is_verified_then_tampering_is_caught(page: Page, live_server: LiveServer) -> None:
    owner, file_id, token = file_with_events(live_server)
    sign_in(page, owner)
    page.goto(f"/files/{file_id}/history")
    expect_all_verified(page, 4)
    for words in ("Uploaded", "Downloaded", "Shared with a person", "Share link created"):
        expect(page.locator(".events")).to_contain_text(words)
    expect(page.locator("[data-summary]")).to_contain_text("This browser had seen no checkpoint")
    expect(page.get_by_text("needs JavaScript")).to_have_count(0)
    shoot(page, "history")

    # An operator with the database rewrites the download's row: the event bytes and
    # the copied columns agree, so only the signed ledger can tell.
    ((index, original, actor),) = live_server.sql(
        "SELECT idx, event, actor FROM ledger_entries WHERE target = ? AND tag = 'file:download'",
        f"file:{file_id}",
    )
    assert isinstance(original, bytes)
    assert isinstance(actor, str)
    forged = original.replace(f'"actor":"{actor}"'.encode(), b'"actor":"system:cli"')
    assert forged != original
    change = "UPDATE ledger_entries SET event = ?, actor = ? WHERE idx = ?"
    try:
        live_server.sql(change, forged, "system:cli", index)
        page.reload()
        summary = page.locator("[data-summary]")
        expect(summary).to_contain_text("1 of 4 events do not match the signed ledger")
        failed = page.locator(".event.failed")
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text(
            "This event does not match the signed ledger: it may have been altered."
        )
        expect(failed).to_have_attribute("data-index", str(index))
        expect(page.locator(".event.verified")).to_have_count(3)
        shoot(page, "history-tampered")
    finally:
        live_server.sql(change, original, actor, index)

    # More events, then a second visit in the same browser: the new checkpoint is
    # proven to extend the one this browser remembered.
    api(live_server, "GET", f"/files/{file_id}/content", token)
    api(live_server, "POST", f"/files/{file_id}/links", token, {"max_downloads": 1})
    page.goto(f"/files/{file_id}/history")
    expect_all_verified(page, 6)
    expect(page.locator("[data-summary]")).to_contain_text(
        "It extends the checkpoint this browser saw before"
    )


def test_a_rewritten_ledger_is_reported_loudly(page: Page, live_server: LiveServer) -> None:
    owner, file_id, _token = file_with_events(live_server)
    sign_in(page, owner)
    page.goto(f"/files/{file_id}/history")
    expect_all_verified(page, 4)
    # The browser remembers a checkpoint the server never signed for that log: as if
    # the ledger had since been rebuilt with other contents.
    page.evaluate(
        """() => {
          const key = 'strongroom.ledger.checkpoint';
          const kept = JSON.parse(localStorage.getItem(key));
          kept.root = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
          kept.size = Math.max(1, kept.size - 2);
          localStorage.setItem(key, JSON.stringify(kept));
        }"""
    )
    page.reload()
    summary = page.locator("[data-summary]")
    expect(summary).to_contain_text("The ledger was rewritten")
    expect(summary.get_by_role("alert")).to_be_visible()


def test_the_ledger_explorer_and_an_entry_verify(page: Page, live_server: LiveServer) -> None:
    owner, file_id, _token = file_with_events(live_server)
    sign_in(page, owner)
    page.get_by_role("link", name="Ledger").click()
    expect(page.get_by_role("heading", name="Ledger", exact=True)).to_be_visible()
    expect(page.locator("[data-checkpoint-status]")).to_contain_text(
        "Its signature was verified in this browser"
    )
    rows = page.locator("tr[data-index]")
    expect(rows.first).to_be_visible()
    page.get_by_role("button", name="Verify these entries").click()
    expect(page.locator("[data-entries-status]")).to_contain_text(
        "entries on this page were verified in this browser"
    )
    expect(page.locator("td.proof-status.failed")).to_have_count(0)
    shoot(page, "ledger")

    ((upload,),) = live_server.sql(
        "SELECT idx FROM ledger_entries WHERE target = ? AND tag = 'file:upload'", f"file:{file_id}"
    )
    page.goto(f"/ledger/entries/{upload}")
    expect(page.get_by_role("heading", name=f"Ledger entry #{upload}")).to_be_visible()
    page.get_by_role("button", name="Verify").click()
    status = page.locator("[data-entry-status]")
    expect(status).to_contain_text(f"Verified in this browser: this entry is number {upload}")
    expect(page.locator("pre.canonical")).to_contain_text('"tag":"file:upload"')
    shoot(page, "ledger-entry")


def test_without_javascript_the_history_lists_events_and_says_why_unverified(
    browser: Browser, live_server: LiveServer, watch: ConsoleWatch
) -> None:
    owner, file_id, _token = file_with_events(live_server)
    context = new_context(browser, live_server, watch, javascript=False)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(owner)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"/files/{file_id}/history")
        expect(page.locator(".event")).to_have_count(4)
        expect(page.locator(".events")).to_contain_text("Share link created")
        expect(page.get_by_text("needs JavaScript")).to_be_visible()
        expect(page.locator(".event").first).to_contain_text("not verified")
    finally:
        context.close()


def index_of(server: LiveServer, file_id: str, tag: str) -> int:
    ((index,),) = server.sql(
        "SELECT idx FROM ledger_entries WHERE target = ? AND tag = ?", f"file:{file_id}", tag
    )
    assert isinstance(index, int)
    return index


def fake_erasure(server: LiveServer, index: int) -> tuple[object, object]:
    """What a database tamperer can do to pass a row off as erased: drop its event and
    salt, leave the rest (a real redaction also records itself in the signed ledger).
    Returns the dropped bytes, to put back."""
    ((event, salt),) = server.sql("SELECT event, salt FROM ledger_entries WHERE idx = ?", index)
    server.sql("UPDATE ledger_entries SET event = NULL, salt = NULL WHERE idx = ?", index)
    return event, salt


def restore(server: LiveServer, index: int, kept: tuple[object, object]) -> None:
    server.sql("UPDATE ledger_entries SET event = ?, salt = ? WHERE idx = ?", *kept, index)


def test_an_event_without_its_bytes_fails_in_the_history(
    page: Page, live_server: LiveServer
) -> None:
    owner, file_id, _token = file_with_events(live_server)
    download = index_of(live_server, file_id, "file:download")
    sign_in(page, owner)
    kept = fake_erasure(live_server, download)
    try:
        page.goto(f"/files/{file_id}/history")
        summary = page.locator("[data-summary]")
        expect(summary).to_contain_text("1 of 4 events do not match the signed ledger")
        failed = page.locator(".event.failed")
        expect(failed).to_have_count(1)
        expect(failed).to_have_attribute("data-index", str(download))
        expect(failed).to_contain_text("This event does not match the signed ledger")
        expect(page.locator(".event.verified")).to_have_count(3)
        expect(page.get_by_text("Details erased")).to_have_count(0)
    finally:
        restore(live_server, download, kept)


def csrf_post(page: Page, path: str, body: Any) -> Any:
    """A JSON API call with the page's session and CSRF token (what the admin pages do)."""
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    answer = page.request.post(
        f"/api/v1{path}",
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/json"},
        data=json.dumps(body),
    )
    assert answer.ok, answer.text()
    return answer.json()


def verify_entry_page(page: Page, index: int) -> Any:
    page.goto(f"/ledger/entries/{index}")
    page.get_by_role("button", name="Verify").click()
    status = page.locator("[data-entry-status]")
    expect(status).not_to_contain_text("Verifying this entry")
    return status


def test_an_erasure_counts_only_with_its_redaction(
    page: Page, another_context: BrowserContext, live_server: LiveServer
) -> None:
    owner, file_id, _token = file_with_events(live_server)
    download = index_of(live_server, file_id, "file:download")
    admin_page_ready(page, live_server)

    # A row emptied behind the ledger's back: no redaction of it was ever recorded.
    kept = fake_erasure(live_server, download)
    try:
        status = verify_entry_page(page, download)
        expect(status).to_contain_text("This entry does not match the signed ledger")
        expect(status).to_contain_text("no redaction")
        page.goto("/ledger?show=all")
        page.get_by_role("button", name="Verify these entries").click()
        cell = page.locator(f'tr[data-index="{download}"] [data-proof-status]')
        expect(cell).to_have_class(re.compile(r"\bfailed\b"))
        expect(page.locator("[data-entries-status]")).to_contain_text("do not match")
    finally:
        restore(live_server, download, kept)

    # A real erasure: the admin's redaction, itself in the ledger, names the index and
    # the leaf hash; the admin may read it, so the erasure is proven.
    done = csrf_post(page, f"/admin/ledger/entries/{download}/redact", {"reason": "GDPR request"})
    redaction = done["redaction_index"]
    status = verify_entry_page(page, download)
    expect(status).to_contain_text(f"erased, as entry {redaction} records")
    expect(status.locator(".notice")).to_be_visible()
    page.goto("/ledger?show=all")
    page.get_by_role("button", name="Verify these entries").click()
    expect(page.locator("[data-entries-status]")).to_contain_text(
        "entries on this page were verified in this browser"
    )
    cell = page.locator(f'tr[data-index="{download}"] [data-proof-status]')
    expect(cell).to_contain_text(f"Erased: proven by entry {redaction}")

    # The owner may not read the admin's redaction: erased, but not proven to them.
    owner_page = another_context.new_page()
    sign_in(owner_page, owner)
    status = verify_entry_page(owner_page, download)
    expect(status).to_contain_text("Erased — not proven")
    expect(status.locator(".notice, .alert")).to_have_count(0)
    expect(status).not_to_contain_text("Verified in this browser")


# Ed25519 gone from WebCrypto, as in a browser that lacks it.
NO_ED25519 = """
(() => {
  const subtle = crypto.subtle;
  const ed = (a) => String((a && a.name) || a).toLowerCase() === "ed25519";
  const refuse = () => Promise.reject(new DOMException("Unrecognized name.", "NotSupportedError"));
  for (const name of ["importKey", "verify"]) {
    const real = subtle[name].bind(subtle);
    const at = name === "importKey" ? 2 : 0;
    subtle[name] = (...args) => (ed(args[at]) ? refuse() : real(...args));
  }
})();
"""


def test_an_unchecked_signature_is_not_called_verified(page: Page, live_server: LiveServer) -> None:
    owner, file_id, token = file_with_events(live_server)
    sign_in(page, owner)
    page.goto(f"/files/{file_id}/history")
    expect_all_verified(page, 4)
    remembered = page.evaluate("() => ({...localStorage})")
    assert "strongroom.ledger.checkpoint" in remembered

    api(live_server, "GET", f"/files/{file_id}/content", token)
    page.add_init_script(NO_ED25519)
    page.reload()
    summary = page.locator("[data-summary]")
    expect(summary).to_contain_text("its signature could not be checked")
    expect(summary).not_to_contain_text("were verified")
    expect(summary.locator(".notice, .alert")).to_have_count(0)
    expect(page.locator(".event.verified")).to_have_count(0)
    assert page.evaluate("() => ({...localStorage})") == remembered

    page.goto("/ledger")
    expect(page.locator("[data-checkpoint-status]")).to_contain_text("could not be checked")
    page.get_by_role("button", name="Verify these entries").click()
    status = page.locator("[data-entries-status]")
    expect(status).to_contain_text("its signature could not be checked")
    expect(status.locator(".notice, .alert")).to_have_count(0)
    assert page.evaluate("() => ({...localStorage})") == remembered


def test_an_answer_about_another_entry_is_refused(page: Page, live_server: LiveServer) -> None:
    owner, file_id, _token = file_with_events(live_server)
    upload = index_of(live_server, file_id, "file:upload")
    download = index_of(live_server, file_id, "file:download")
    sign_in(page, owner)

    # The server answers "entry <upload>" with the download's (genuine) entry and proof.
    def other_entry(route: Route) -> None:
        url = route.request.url.replace(f"/entries/{upload}?", f"/entries/{download}?")
        route.fulfill(response=route.fetch(url=url))

    page.route(re.compile(rf"/api/v1/ledger/entries/{upload}\?"), other_entry)
    status = verify_entry_page(page, upload)
    expect(status).to_contain_text("This entry does not match the signed ledger")
    expect(status).to_contain_text(f"entry {download}, not entry {upload}")
    expect(page.locator("pre.canonical")).not_to_contain_text('"tag":"file:download"')

    page.goto("/ledger")
    page.get_by_role("button", name="Verify these entries").click()
    expect(page.locator(f'tr[data-index="{upload}"] [data-proof-status]')).to_have_class(
        re.compile(r"\bfailed\b")
    )
    expect(page.locator(f'tr[data-index="{download}"] [data-proof-status]')).to_have_class(
        re.compile(r"\bok\b")
    )
    expect(page.locator("[data-entries-status]")).to_contain_text("do not match")
