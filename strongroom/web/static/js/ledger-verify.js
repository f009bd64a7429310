// What the history page and the ledger explorer share: trust in the ledger's key and
// checkpoint, kept in this browser between visits, and the check of one entry.
//
// Trust on first use: the first key and checkpoint this browser sees are remembered
// (localStorage). On every later visit the key must be the same, and the new
// checkpoint must be proven (RFC 9162 consistency proof) to extend the remembered one,
// so a server that rewrote or dropped past events is caught even though it signs
// whatever it likes today. A checkpoint that fails is never remembered.

import {
  LedgerError,
  entryLeafHash,
  fromBase64,
  openCheckpoint,
  parseEvent,
  parseVerifierKey,
  toBase64,
  utf8,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";

const API = "/api/v1/ledger";
const STORE = "strongroom.ledger";

async function fetchOk(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json, text/plain" } });
  if (!response.ok) throw new LedgerError(`the server did not answer ${url} (HTTP ${response.status})`);
  return response;
}

export async function fetchJSON(url) {
  return (await fetchOk(url)).json();
}

function remembered(name) {
  try {
    return JSON.parse(localStorage.getItem(`${STORE}.${name}`) || "null");
  } catch {
    return null;
  }
}

function remember(name, value) {
  try {
    localStorage.setItem(`${STORE}.${name}`, JSON.stringify(value));
  } catch {
    // Storage off (private mode, quota): this visit is still checked, the next one
    // just cannot compare with it.
  }
}

// The ledger's public key, which must be the one this browser saw first.
async function ledgerKey() {
  const text = (await (await fetchOk(`${API}/public-key`)).text()).trim();
  const verifier = await parseVerifierKey(text);
  const known = remembered("key");
  if (known && known !== text) {
    throw new LedgerError(
      "The ledger's signing key is not the one this browser saw before: the ledger may have been replaced. " +
        "Ask your administrator before trusting it.",
    );
  }
  if (!known) remember("key", text);
  return { verifier, text };
}

// Proof that ``checkpoint`` extends the one remembered here; the summary of what was
// checked. Throws (and keeps the old one) when it does not.
async function checkAgainstRemembered(checkpoint) {
  const old = remembered("checkpoint");
  if (!old || old.origin !== checkpoint.origin) return { kind: "first", size: checkpoint.size };
  const oldRoot = fromBase64(old.root, "the remembered root");
  if (old.size > checkpoint.size) {
    throw new LedgerError(
      `The ledger now has ${checkpoint.size} entries, but this browser saw ${old.size} before: ` +
        "entries were removed or the ledger was rolled back.",
    );
  }
  let proof = [];
  if (old.size > 0 && old.size < checkpoint.size) {
    const answer = await fetchJSON(`${API}/consistency?from=${old.size}&to=${checkpoint.size}`);
    proof = answer.proof.map((h) => fromBase64(h, "a proof hash"));
  }
  try {
    await verifyConsistency(old.size, checkpoint.size, oldRoot, checkpoint.root, proof);
  } catch (error) {
    throw new LedgerError(
      `The ledger was rewritten: it does not extend the checkpoint this browser saw before (${old.size} entries). ${error.message}`,
    );
  }
  return { kind: "extended", from: old.size, size: checkpoint.size };
}

// The checkpoint of a signed ``note``, checked: signature by the ledger key (when the
// browser can) and consistency with the one remembered. Remembers it when all is well.
export async function trustCheckpoint(note) {
  const { verifier, text } = await ledgerKey();
  const { checkpoint, signature } = await openCheckpoint(note, verifier);
  const consistency = await checkAgainstRemembered(checkpoint);
  const old = remembered("checkpoint");
  if (!old || old.size <= checkpoint.size) {
    remember("checkpoint", { origin: checkpoint.origin, size: checkpoint.size, root: toBase64(checkpoint.root), note });
  }
  return { checkpoint, signature, consistency, key: text };
}

// Check one entry as the API serves it ({index, proof, entry}) against a trusted
// checkpoint. The leaf hash is recomputed from the entry's own salt and canonical
// bytes, never taken from the server, so an altered row cannot pass. Returns the event
// those bytes hold (null when hidden or erased: then only the hash is proven).
export async function verifyEntry(item, checkpoint, { target } = {}) {
  const { entry } = item;
  let event = null;
  let leaf;
  if (entry.visible) {
    event = parseEvent(entry.canonical);
    if (event.index !== item.index) throw new LedgerError(`the event says it is entry ${event.index}, not ${item.index}`);
    if (target && event.target !== target) throw new LedgerError("the event is about something else");
    leaf = await entryLeafHash(fromBase64(entry.salt, "the salt"), utf8(entry.canonical));
  } else {
    leaf = fromBase64(entry.leaf_hash, "the leaf hash");
  }
  const proof = item.proof.map((h) => fromBase64(h, "a proof hash"));
  await verifyInclusion(leaf, item.index, checkpoint.size, proof, checkpoint.root);
  return event;
}

// What a checked checkpoint means, in a sentence for the page.
export function trustWords(trust) {
  const parts = [];
  parts.push(
    trust.signature === "verified"
      ? "Its signature was verified in this browser."
      : "Signature not checked: this browser lacks Ed25519.",
  );
  if (trust.consistency.kind === "extended" && trust.consistency.from < trust.consistency.size) {
    parts.push(`It extends the checkpoint this browser saw before (${trust.consistency.from} entries): nothing earlier was changed.`);
  } else if (trust.consistency.kind === "extended") {
    parts.push("It is the checkpoint this browser saw before.");
  } else {
    parts.push("This browser had seen no checkpoint before; it remembers this one to check the next.");
  }
  return parts.join(" ");
}

// --- showing an event in words ---------------------------------------------------------

// Labels of tags and names of actors, given by the page (data-labels, data-names).
export function pageWords(element) {
  const parse = (text) => {
    try {
      return JSON.parse(text || "{}");
    } catch {
      return {};
    }
  };
  return { labels: parse(element.dataset.labels), names: parse(element.dataset.names) };
}

export function who(ref, words) {
  if (words.names[ref]) return words.names[ref];
  if (ref === "anonymous") return "someone not signed in";
  if (ref.startsWith("link:")) return "someone with a share link";
  if (ref.startsWith("system")) return "Strongroom itself";
  return ref;
}

export function what(tag, words) {
  return words.labels[tag] || tag;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// <time> for an event time; localised by the caller with common.js's localTimes.
export function timeElement(iso) {
  const node = el("time", "", iso.replace("T", " ").replace(/\.\d+Z$/u, " UTC"));
  node.dateTime = iso;
  return node;
}

// The details of an event as a description list of plain key/value pairs.
export function detailsList(details) {
  const list = el("dl", "event-details");
  for (const [key, value] of Object.entries(details || {})) {
    list.append(el("dt", "", key.replaceAll("_", " ")));
    list.append(el("dd", "", value === null ? "none" : typeof value === "object" ? JSON.stringify(value) : String(value)));
  }
  return list;
}
