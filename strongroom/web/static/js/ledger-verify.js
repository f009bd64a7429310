// What the history page and the ledger explorer share: trust in the ledger's key and
// checkpoint, kept in this browser between visits, and the check of one entry.
//
// Trust on first use: the first key and checkpoint this browser sees are remembered
// (localStorage). On every later visit the key must be the same, and the new
// checkpoint must be proven (RFC 9162 consistency proof) to extend the remembered one,
// so a server that rewrote or dropped past events is caught even though it signs
// whatever it likes today. A checkpoint that fails, or whose signature this browser
// could not check, is never remembered.
//
// What this cannot do: the key comes from the same server as this script, so a
// dishonest server (rather than someone editing its database) could serve another
// key, script or list; and no page can prove that no event is missing from a list.

import {
  LedgerError,
  entryLeafHash,
  fromBase64,
  openCheckpoint,
  parseEvent,
  parseVerifierKey,
  toBase64,
  toHex,
  utf8,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";

const API = "/api/v1/ledger";
const STORE = "strongroom.ledger";
const REDACT_TAG = "ledger:entry:redact";

async function fetchOk(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json, text/plain" } });
  if (!response.ok) throw new LedgerError(`the server did not answer ${url} (HTTP ${response.status})`);
  return response;
}

export async function fetchJSON(url) {
  return (await fetchOk(url)).json();
}

// The API address of entry ``index`` with its inclusion proof in the tree of ``size``.
export function entryURL(index, size) {
  return `${API}/entries/${index}?tree_size=${size}`;
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

// The ledger's public key, which must be the one this browser saw first (it is
// remembered by trustCheckpoint, once a checkpoint's signature by it has verified).
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

// The one rule both pages follow: a check counts as verified only against a checkpoint
// whose signature this browser verified. Without Ed25519 the entries may match the
// checkpoint, but anyone who can edit the database could have written that too.
export function signatureVerified(trust) {
  return trust.signature === "verified";
}

// The checkpoint of a signed ``note``, checked: signature by the ledger key (when the
// browser can) and consistency with the one remembered. Remembers key and checkpoint
// only when the signature verified (an unchecked one must not become the reference
// the next visit is compared with).
export async function trustCheckpoint(note) {
  const { verifier, text } = await ledgerKey();
  const { checkpoint, signature } = await openCheckpoint(note, verifier);
  const consistency = await checkAgainstRemembered(checkpoint);
  const trust = { checkpoint, signature, consistency, key: text };
  if (!signatureVerified(trust)) return trust;
  if (!remembered("key")) remember("key", text);
  const old = remembered("checkpoint");
  if (!old || old.size <= checkpoint.size) {
    remember("checkpoint", { origin: checkpoint.origin, size: checkpoint.size, root: toBase64(checkpoint.root), note });
  }
  return trust;
}

// An answer must be about the entry that was asked for: a proof of another entry
// (genuine, and so passing every other check) must not stand in for it.
function sameIndex(item, asked) {
  if (asked !== undefined && item.index !== Number(asked)) {
    throw new LedgerError(`the server answered with entry ${item.index}, not entry ${asked}`);
  }
}

async function included(leaf, item, checkpoint) {
  const proof = item.proof.map((h) => fromBase64(h, "a proof hash"));
  await verifyInclusion(leaf, item.index, checkpoint.size, proof, checkpoint.root);
}

// Check one entry as the API serves it ({index, proof, entry}) against a trusted
// checkpoint: it must be entry ``index`` (when given) and, when given, about
// ``target``. The leaf hash is recomputed from the entry's own salt and canonical
// bytes, never taken from the server, so an altered row cannot pass; an entry without
// those bytes (erased, or not shown to this reader) fails. Returns the event.
export async function verifyEntry(item, checkpoint, { index, target } = {}) {
  sameIndex(item, index);
  const { entry } = item;
  if (!entry.visible || typeof entry.canonical !== "string" || typeof entry.salt !== "string") {
    throw new LedgerError("the server sent no event bytes for it, so nothing about it can be checked");
  }
  const event = parseEvent(entry.canonical);
  if (event.index !== item.index) throw new LedgerError(`the event says it is entry ${event.index}, not ${item.index}`);
  if (target && event.target !== target) throw new LedgerError("the event is about something else");
  await included(await entryLeafHash(fromBase64(entry.salt, "the salt"), utf8(entry.canonical)), item, checkpoint);
  return event;
}

// An erased entry keeps only its leaf hash, which the server supplies: it is accepted
// (spec section 6) only with a later, verified ``ledger:entry:redact`` event naming
// this index and exactly this leaf hash. ``redaction`` is that event's index as the
// page gives it ("" when none is recorded). Returns "erased" when proven, "unproven"
// when the reader may not see the redaction (the hash is still proven in the tree).
async function verifyErased(item, checkpoint, redaction) {
  if (!/^\d+$/u.test(redaction ?? "")) {
    throw new LedgerError("its event is missing, but the ledger records no redaction of it");
  }
  const leaf = fromBase64(item.entry.leaf_hash, "the leaf hash");
  const record = await fetchJSON(entryURL(redaction, checkpoint.size));
  sameIndex(record, redaction);
  if (!record.entry.visible) {
    await included(leaf, item, checkpoint);
    return "unproven";
  }
  const event = await verifyEntry(record, checkpoint, { index: redaction, target: `entry:${item.index}` });
  const details = event.details || {};
  if (event.tag !== REDACT_TAG || record.index <= item.index || details.index !== item.index) {
    throw new LedgerError(`entry ${record.index} is not a redaction of this entry`);
  }
  if (details.leaf_hash !== toHex(leaf)) throw new LedgerError(`entry ${record.index} erased an entry with another hash`);
  await included(leaf, item, checkpoint);
  return "erased";
}

// Check an entry of the explorer, whatever the reader may see of it. Returns
// {state, event}: "verified" (its bytes, with ``event``), "hidden" (not about the
// reader: only its hash is in the tree, nothing is claimed about its event), "erased"
// (proven by its redaction) or "unproven" (erased, but the redaction is not shown to
// this reader). Throws when the entry does not match the signed ledger.
export async function checkEntry(item, checkpoint, { index, redaction }) {
  sameIndex(item, index);
  if (item.entry.visible) return { state: "verified", event: await verifyEntry(item, checkpoint, { index }) };
  if (item.entry.redacted) return { state: await verifyErased(item, checkpoint, redaction), event: null };
  await included(fromBase64(item.entry.leaf_hash, "the leaf hash"), item, checkpoint);
  return { state: "hidden", event: null };
}

// What a checked checkpoint means, in a sentence for the page.
export function trustWords(trust) {
  const signed = signatureVerified(trust);
  const parts = [];
  parts.push(
    signed
      ? "Its signature was verified in this browser."
      : "Its signature could not be checked: this browser lacks Ed25519 (WebCrypto), so nothing here counts as verified and this checkpoint is not remembered.",
  );
  if (trust.consistency.kind === "extended" && trust.consistency.from < trust.consistency.size) {
    parts.push(`It extends the checkpoint this browser saw before (${trust.consistency.from} entries): nothing earlier was changed.`);
  } else if (trust.consistency.kind === "extended") {
    parts.push("It is the checkpoint this browser saw before.");
  } else if (signed) {
    parts.push("This browser had seen no checkpoint before; it remembers this one to check the next.");
  } else {
    parts.push("This browser had seen no checkpoint before.");
  }
  return parts.join(" ");
}

// A status box: "ok" (green), "alert" (red) or anything else (neutral: in progress,
// or a warning that something could not be proven).
export function statusBox(kind, lines) {
  const note = el("div", kind === "ok" ? "notice" : kind === "alert" ? "alert" : `muted status-${kind}`);
  note.setAttribute("role", kind === "alert" ? "alert" : "status");
  for (const line of lines) note.append(el("p", "", line));
  return note;
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
