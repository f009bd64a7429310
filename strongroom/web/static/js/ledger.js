// The ledger explorer and an entry's page: the checkpoint's signature and consistency
// are checked on arrival; "Verify" checks entries (leaf hash from their own bytes,
// inclusion proof up to the checkpoint's root) and shows them from the checked bytes.
// An answer about another entry than the one asked for fails; an erased entry counts
// only with its verified redaction (ledger-verify.js, checkEntry).

import { localTimes } from "./common.js";
import {
  checkEntry,
  detailsList,
  el,
  entryURL,
  fetchJSON,
  pageWords,
  signatureVerified,
  statusBox,
  timeElement,
  trustCheckpoint,
  trustWords,
  what,
  who,
} from "./ledger-verify.js";

const FAILED = "This entry does not match the signed ledger: it may have been altered.";
const card = document.querySelector("[data-checkpoint]");
let trusted = null;

function say(box, kind, ...lines) {
  box.replaceChildren(statusBox(kind, lines));
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
    say(box, signatureVerified(result) ? "ok" : "warning", trustWords(result));
  } catch (error) {
    say(box, "alert", "This checkpoint could not be verified.", error.message);
  }
}

// What a checked entry may be called: "ok" only for a proof against a checkpoint whose
// signature verified here, and for an erasure only once its redaction was verified.
function verdict({ state, redaction }, signed) {
  if (state === "unproven") {
    return { kind: "warning", short: "Erased — not proven: its redaction is not shown to you (only its hash was checked)" };
  }
  const short = {
    verified: "Verified in this browser",
    hidden: "Hash verified in this browser",
    erased: `Erased: proven by entry ${redaction}, its redaction, verified in this browser`,
  }[state];
  if (!signed) return { kind: "warning", short: "Matches the checkpoint, whose signature could not be checked" };
  return { kind: "ok", short };
}

// One row of the explorer: proven, then redrawn from the proven bytes.
async function verifyRow(row, trust, words) {
  const cell = row.querySelector("[data-proof-status]");
  const { checkpoint } = trust;
  try {
    const index = Number(row.dataset.index);
    const item = await fetchJSON(entryURL(index, checkpoint.size));
    const { state, event } = await checkEntry(item, checkpoint, { index, redaction: row.dataset.redaction });
    if (event) {
      const cells = row.querySelectorAll("td");
      cells[1].replaceChildren(timeElement(event.time));
      cells[2].textContent = what(event.tag, words);
      cells[3].textContent = who(event.actor, words);
      cells[4].textContent = who(event.target, words);
    }
    const { kind, short } = verdict({ state, redaction: row.dataset.redaction }, signatureVerified(trust));
    cell.className = `proof-status ${kind === "ok" ? "ok" : "muted"}`;
    cell.textContent = short;
    return kind;
  } catch (error) {
    cell.className = "proof-status failed";
    cell.textContent = `${FAILED} ${error.message}.`;
    return "failed";
  }
}

async function verifyRows(section, button) {
  const box = section.querySelector("[data-entries-status]");
  const words = pageWords(section);
  button.disabled = true;
  say(box, "progress", "Verifying the entries in this browser…");
  try {
    const checked = await trust();
    const rows = [...section.querySelectorAll("tr[data-index]")];
    const kinds = [];
    for (const row of rows) kinds.push(await verifyRow(row, checked, words));
    localTimes(section);
    say(box, ...rowsSummary(kinds, signatureVerified(checked)));
  } catch (error) {
    say(box, "alert", "The ledger could not be verified in this browser.", error.message);
  } finally {
    button.disabled = false;
  }
}

function rowsSummary(kinds, signed) {
  const count = (kind) => kinds.filter((k) => k === kind).length;
  const n = kinds.length;
  if (count("failed")) return ["alert", `${count("failed")} of ${n} entries do not match the signed ledger: they may have been altered.`];
  if (!signed) return ["warning", `The ${n} entries match the checkpoint, but its signature could not be checked in this browser: they are not verified.`];
  if (count("warning")) {
    return ["warning", `${n - count("warning")} of ${n} entries were verified in this browser; ${count("warning")} erased entries could not be proven erased (their redaction is not shown to you).`];
  }
  return ["ok", `All ${n} entries on this page were verified in this browser.`];
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
    const checked = await trust();
    const { checkpoint } = checked;
    const index = Number(section.dataset.index);
    const item = await fetchJSON(section.dataset.api);
    const { redaction } = section.dataset;
    const { state, event } = await checkEntry(item, checkpoint, { index, redaction });
    if (event) {
      const shown = section.querySelector("[data-event]");
      shown.replaceChildren(...eventView(event, item.entry.canonical, pageWords(section)));
      localTimes(shown);
    }
    say(box, ...entrySummary(state, { index, size: checkpoint.size, redaction }, signatureVerified(checked)));
  } catch (error) {
    say(box, "alert", FAILED, error.message);
  } finally {
    button.disabled = false;
  }
}

function entrySummary(state, { index, size, redaction }, signed) {
  if (state === "unproven") {
    return ["warning", "Erased — not proven: the record of its redaction is not shown to you, so only its hash was checked (it is in the ledger, but what it stood for cannot be shown)."];
  }
  if (!signed) {
    return ["warning", `This entry matches the checkpoint of ${size} entries, but the checkpoint's signature could not be checked in this browser: it is not verified.`];
  }
  const more = {
    verified: "",
    hidden: " Only its hash could be checked: its event is not shown to you.",
    erased: ` Its event was erased, as entry ${redaction} records (that redaction was verified too).`,
  }[state];
  return ["ok", `Verified in this browser: this entry is number ${index} of the signed ledger of ${size} entries.${more}`];
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
