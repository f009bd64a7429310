// The file history page: fetch the file's events with their proofs (the API's history
// route), check each one in this browser, and show every event from the very bytes
// that were checked. The server's own list (drawn without JavaScript) is replaced.
//
// Every event here must come with its bytes: a genuine erasure also sets the entry's
// target to "redacted", so it never appears in a file's history, and an event listed
// without bytes is one whose row was emptied behind the ledger's back.

import { localTimes } from "./common.js";
import {
  detailsList,
  el,
  fetchJSON,
  pageWords,
  signatureVerified,
  statusBox,
  timeElement,
  trustCheckpoint,
  trustWords,
  verifyEntry,
  what,
  who,
} from "./ledger-verify.js";

const FAILED = "This event does not match the signed ledger: it may have been altered.";

function summary(section, kind, ...lines) {
  section.querySelector("[data-summary]").replaceChildren(statusBox(kind, lines));
}

// The event as the bytes say (unverified ones are still shown, marked as such).
function eventView(event, words) {
  const head = el("div", "event-head");
  head.append(el("strong", "event-what", what(event.tag, words)), " ");
  head.append(el("span", "event-who", `by ${who(event.actor, words)}`), " ");
  head.append(timeElement(event.time));
  return [head, detailsList(event.details)];
}

function looseEvent(entry) {
  try {
    return entry.canonical ? JSON.parse(entry.canonical) : null;
  } catch {
    return null;
  }
}

async function eventItem(item, trust, words, target) {
  const row = el("li", "event");
  row.dataset.index = item.index;
  try {
    const event = await verifyEntry(item, trust.checkpoint, { target });
    row.append(...eventView(event, words));
    if (signatureVerified(trust)) {
      row.classList.add("verified");
      row.append(el("p", "proof-status ok", `Verified in this browser · entry ${item.index}`));
    } else {
      row.classList.add("unsigned");
      row.append(el("p", "proof-status muted", `Matches the checkpoint, whose signature could not be checked · entry ${item.index}`));
    }
    return { row, ok: true };
  } catch (error) {
    row.classList.add("failed");
    const claimed = looseEvent(item.entry);
    if (claimed && claimed.tag) row.append(...eventView(claimed, words));
    const status = el("p", "proof-status failed", `${FAILED} (Entry ${item.index}: ${error.message}.)`);
    row.append(status);
    return { row, ok: false };
  }
}

async function check(section) {
  summary(section, "progress", "Checking every event in this browser…");
  const words = pageWords(section);
  let history;
  let trust;
  try {
    history = await fetchJSON(section.dataset.api);
    trust = await trustCheckpoint(history.checkpoint.note);
  } catch (error) {
    summary(section, "alert", "The ledger could not be verified in this browser.", error.message);
    return;
  }
  const results = [];
  for (const item of history.items) results.push(await eventItem(item, trust, words, section.dataset.target));
  const list = section.querySelector("[data-events]") || el("ol", "events");
  list.dataset.events = "";
  list.replaceChildren(...results.map((r) => r.row));
  if (!list.isConnected) section.querySelector("[data-summary]").after(list);
  localTimes(list);
  report(section, results, trust);
}

function report(section, results, trust) {
  const bad = results.filter((r) => !r.ok).length;
  const checkpointWords = `Checked against the ledger's signed checkpoint of ${trust.checkpoint.size} entries. ${trustWords(trust)}`;
  if (bad) {
    summary(section, "alert", `${bad} of ${results.length} events do not match the signed ledger: they may have been altered.`, checkpointWords);
  } else if (!signatureVerified(trust)) {
    const these = results.length === 1 ? "The event matches" : `The ${results.length} events match`;
    summary(section, "warning", `${these} the ledger's checkpoint, but its signature could not be checked in this browser: they are not verified.`, checkpointWords);
  } else {
    const all = results.length === 1 ? "The event was" : `All ${results.length} events were`;
    summary(section, "ok", `${all} verified in this browser.`, checkpointWords);
  }
}

for (const hint of document.querySelectorAll("[data-needs-js]")) hint.remove();
const section = document.querySelector("[data-history]");
if (section) check(section);
