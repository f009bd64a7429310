// The ledger explorer and an entry's page: the checkpoint's signature and consistency
// are checked on arrival; "Verify" checks entries (leaf hash from their own bytes,
// inclusion proof up to the checkpoint's root) and shows them from the checked bytes.

import { localTimes } from "./common.js";
import { detailsList, el, fetchJSON, pageWords, timeElement, trustCheckpoint, trustWords, verifyEntry, what, who } from "./ledger-verify.js";

const FAILED = "This entry does not match the signed ledger: it may have been altered.";
const card = document.querySelector("[data-checkpoint]");
let trusted = null;

function say(box, kind, ...lines) {
  const note = el("div", kind === "alert" ? "alert" : kind === "ok" ? "notice" : "notice muted");
  note.setAttribute("role", kind === "alert" ? "alert" : "status");
  for (const line of lines) note.append(el("p", "", line));
  box.replaceChildren(note);
}

// The checkpoint on the page, checked once (the entries are proven against it).
function trust() {
  trusted ??= trustCheckpoint(card.dataset.note);
  return trusted;
}

async function checkCheckpoint() {
  const box = card.querySelector("[data-checkpoint-status]");
  say(box, "progress", "Checking the checkpoint in this browser…");
  try {
    const result = await trust();
    say(box, result.signature === "verified" ? "ok" : "progress", trustWords(result));
  } catch (error) {
    say(box, "alert", "This checkpoint could not be verified.", error.message);
  }
}

function entryURL(index, size) {
  return `/api/v1/ledger/entries/${index}?tree_size=${size}`;
}

// One row of the explorer: proven, then redrawn from the proven bytes.
async function verifyRow(row, checkpoint, words) {
  const cell = row.querySelector("[data-proof-status]");
  try {
    const item = await fetchJSON(entryURL(row.dataset.index, checkpoint.size));
    const event = await verifyEntry(item, checkpoint);
    if (event) {
      const cells = row.querySelectorAll("td");
      cells[1].replaceChildren(timeElement(event.time));
      cells[2].textContent = what(event.tag, words);
      cells[3].textContent = who(event.actor, words);
      cells[4].textContent = who(event.target, words);
    }
    cell.className = "proof-status ok";
    cell.textContent = event ? "Verified in this browser" : "Hash verified in this browser";
    return true;
  } catch (error) {
    cell.className = "proof-status failed";
    cell.textContent = `${FAILED} ${error.message}.`;
    return false;
  }
}

async function verifyRows(section, button) {
  const box = section.querySelector("[data-entries-status]");
  const words = pageWords(section);
  button.disabled = true;
  say(box, "progress", "Verifying the entries in this browser…");
  try {
    const { checkpoint } = await trust();
    const rows = [...section.querySelectorAll("tr[data-index]")];
    let good = 0;
    for (const row of rows) if (await verifyRow(row, checkpoint, words)) good += 1;
    localTimes(section);
    if (good === rows.length) say(box, "ok", `All ${rows.length} entries on this page were verified in this browser.`);
    else say(box, "alert", `${rows.length - good} of ${rows.length} entries do not match the signed ledger: they may have been altered.`);
  } catch (error) {
    say(box, "alert", "The ledger could not be verified in this browser.", error.message);
  } finally {
    button.disabled = false;
  }
}

function eventView(event, eventText, words) {
  const head = el("p", "event-head");
  head.append(el("strong", "event-what", what(event.tag, words)), " ");
  head.append(el("span", "event-who", `by ${who(event.actor, words)}`), " ", timeElement(event.time));
  const facts = el("dl", "facts");
  facts.append(el("dt", "", "About"), el("dd", "", who(event.target, words)));
  facts.append(el("dt", "", "Event"), el("dd", "", event.tag));
  if (event.request_id) facts.append(el("dt", "", "Request"), el("dd", "", event.request_id));
  return [head, facts, detailsList(event.details), el("h2", "", "Recorded bytes"), el("pre", "canonical", eventText)];
}

async function verifyOne(section, button) {
  const box = section.querySelector("[data-entry-status]");
  button.disabled = true;
  say(box, "progress", "Verifying this entry in this browser…");
  try {
    const { checkpoint } = await trust();
    const item = await fetchJSON(section.dataset.api);
    const event = await verifyEntry(item, checkpoint);
    if (event) {
      const shown = section.querySelector("[data-event]");
      shown.replaceChildren(...eventView(event, item.entry.canonical, pageWords(section)));
      localTimes(shown);
    }
    const hashOnly = event ? "" : " Only its hash could be checked: its event is not shown to you.";
    say(box, "ok", `Verified in this browser: this entry is number ${item.index} of the signed ledger of ${checkpoint.size} entries.${hashOnly}`);
  } catch (error) {
    say(box, "alert", FAILED, error.message);
  } finally {
    button.disabled = false;
  }
}

function wire(selector, buttonSelector, action) {
  const section = document.querySelector(selector);
  const button = section && section.querySelector(buttonSelector);
  if (!button) return;
  button.hidden = false;
  button.addEventListener("click", () => action(section, button));
}

for (const hint of document.querySelectorAll("[data-needs-js]")) hint.remove();
if (card) checkCheckpoint();
wire("[data-entries]", "[data-verify-entries]", verifyRows);
wire("[data-entry]", "[data-verify-entry]", verifyOne);
