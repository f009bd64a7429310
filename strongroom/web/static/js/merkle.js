// The ledger's verification rules (docs/spec/ledger.md), written again for the browser
// so that a person need not take the server's word: canonical event bytes (section 1.1),
// leaves and RFC 9162 hashing (2, 3), inclusion and consistency proofs (4), and C2SP
// signed-note checkpoints with Ed25519 (5). Pure functions over bytes; the only outside
// thing used is WebCrypto (SHA-256 and Ed25519). Every failure throws a LedgerError
// whose message is one plain sentence.

export class LedgerError extends Error {
  constructor(message) {
    super(message);
    this.name = "LedgerError";
  }
}

export const HASH_SIZE = 32;
const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1, the spec's integer bound
const MAX_NOTE_BYTES = 16 * 1024;
const MAX_SIGNATURES = 16;
const SIGNATURE_PREFIX = "\u2014 "; // EM DASH, space
const ED25519_TYPE = 1;
const encoder = new TextEncoder();

// --- bytes ---------------------------------------------------------------------------

export function utf8(text) {
  return encoder.encode(text);
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function toBase64(bytes) {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

// Strict base64 (RFC 4648 section 4, padded): only the canonical spelling is accepted,
// so that one note has exactly one encoding (spec, conventions).
export function fromBase64(text, what = "a value") {
  let raw;
  try {
    raw = atob(text);
  } catch {
    throw new LedgerError(`${what} is not valid base64`);
  }
  const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
  if (typeof text !== "string" || toBase64(bytes) !== text) {
    throw new LedgerError(`${what} is not canonical base64`);
  }
  return bytes;
}

// --- hashing (section 3) ---------------------------------------------------------------

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

export function leafHash(leaf) {
  return sha256(concat(Uint8Array.of(0), leaf));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

// The leaf of an entry is its salt followed by its canonical event bytes (section 2).
export function entryLeafHash(salt, eventBytes) {
  return leafHash(concat(salt, eventBytes));
}

// MTH of a list of leaves (section 3): only for tests and small trees.
export async function treeHash(leaves) {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leafHash(leaves[0]);
  const k = largestPowerOfTwoBelow(leaves.length);
  return nodeHash(await treeHash(leaves.slice(0, k)), await treeHash(leaves.slice(k)));
}

function largestPowerOfTwoBelow(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function checkHash(value, what) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw new LedgerError(`${what} must be ${HASH_SIZE} bytes`);
  }
}

function checkSize(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new LedgerError(`${what} must be a whole number`);
  }
}

// Sizes reach 2^62 in the API; halving by division keeps the loops exact above 2^31,
// where JavaScript's bit operators would wrap.
const odd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

// --- inclusion proofs (section 4, RFC 9162 2.1.3.2) ------------------------------------

export async function verifyInclusion(leaf, index, size, proof, root) {
  checkHash(leaf, "the leaf hash");
  checkHash(root, "the root hash");
  checkSize(index, "the index");
  checkSize(size, "the tree size");
  if (index >= size) throw new LedgerError(`entry ${index} is not in a tree of size ${size}`);
  let fn = index;
  let sn = size - 1;
  let result = leaf;
  for (const element of proof) {
    checkHash(element, "a proof hash");
    if (sn === 0) throw new LedgerError("the inclusion proof is too long");
    if (odd(fn) || fn === sn) {
      result = await nodeHash(element, result);
      if (!odd(fn)) {
        while (fn !== 0 && !odd(fn)) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      result = await nodeHash(result, element);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new LedgerError("the inclusion proof is too short");
  if (!equalBytes(result, root)) {
    throw new LedgerError(`entry ${index} is not in this tree: its proof leads to another root`);
  }
}

// --- consistency proofs (section 4, RFC 9162 2.1.4.2) ----------------------------------

export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  checkHash(oldRoot, "the old root");
  checkHash(newRoot, "the new root");
  proof.forEach((element) => checkHash(element, "a proof hash"));
  checkSize(oldSize, "the old size");
  checkSize(newSize, "the new size");
  if (oldSize > newSize) throw new LedgerError(`size ${oldSize} cannot precede size ${newSize}`);
  if (oldSize === 0 || oldSize === newSize) {
    if (proof.length) throw new LedgerError("no proof is needed from the empty tree or between equal sizes");
    if (oldSize && !equalBytes(oldRoot, newRoot)) {
      throw new LedgerError("same size, different roots: the ledger forked");
    }
    return;
  }
  if (!proof.length) throw new LedgerError("the consistency proof is empty");
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  const [oldResult, newResult] = await walkConsistency(oldSize - 1, newSize - 1, path);
  if (!equalBytes(oldResult, oldRoot)) {
    throw new LedgerError("the proof does not lead to the old root: history was rewritten");
  }
  if (!equalBytes(newResult, newRoot)) throw new LedgerError("the proof does not lead to the new root");
}

function isPowerOfTwo(n) {
  while (n > 1 && !odd(n)) n = half(n);
  return n === 1;
}

async function walkConsistency(fn, sn, path) {
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const element of path.slice(1)) {
    if (sn === 0) throw new LedgerError("the consistency proof is too long");
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(element, fr);
      sr = await nodeHash(element, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = await nodeHash(sr, element);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new LedgerError("the consistency proof is too short");
  return [fr, sr];
}

// --- canonical event encoding (section 1.1, RFC 8785 for the values events hold) --------

export function canonicalJSON(value) {
  if (value === null || value === true || value === false) return String(value);
  if (typeof value === "number") {
    if (!Number.isInteger(value) || Math.abs(value) > MAX_SAFE) {
      throw new LedgerError("events hold only whole numbers within +-(2^53 - 1)");
    }
    return Object.is(value, -0) ? "0" : String(value);
  }
  if (typeof value === "string") return canonicalString(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJSON).join(",")}]`;
  if (typeof value === "object") {
    // JavaScript compares strings by UTF-16 code units, exactly the order JCS asks for.
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${canonicalString(k)}:${canonicalJSON(value[k])}`).join(",")}}`;
  }
  throw new LedgerError(`${typeof value} values are not allowed in events`);
}

const ESCAPES = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r" };

function canonicalString(text) {
  if (!text.isWellFormed()) throw new LedgerError("event strings must be valid Unicode");
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0);
    if (ESCAPES[ch]) out += ESCAPES[ch];
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

// The event an entry's bytes hold, once they are proven to be its one canonical form:
// JSON.parse alone would accept duplicate keys, other spacing or a float.
export function parseEvent(eventText) {
  let value;
  try {
    value = JSON.parse(eventText);
  } catch {
    throw new LedgerError("the event bytes are not JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new LedgerError("the event is not a JSON object");
  }
  if (canonicalJSON(value) !== eventText) throw new LedgerError("the event bytes are not canonical");
  return value;
}

// --- keys and signed notes (section 5) -------------------------------------------------

export async function keyId(name, publicKey) {
  const digest = await sha256(concat(utf8(name), Uint8Array.of(0x0a, ED25519_TYPE), publicKey));
  return digest.slice(0, 4);
}

// "<name>+<key id hex>+<base64(0x01 || public key)>" -> {name, keyId, publicKey}
export async function parseVerifierKey(text) {
  const trimmed = text.trim();
  const first = trimmed.indexOf("+");
  const second = trimmed.indexOf("+", first + 1);
  if (first < 1 || second < 0) throw new LedgerError("a verifier key is <name>+<key id>+<base64 key>");
  const name = trimmed.slice(0, first);
  checkName(name);
  const raw = fromBase64(trimmed.slice(second + 1), "the verifier key");
  if (raw.length !== 33 || raw[0] !== ED25519_TYPE) throw new LedgerError("the verifier key is not an Ed25519 key");
  const publicKey = raw.slice(1);
  const id = await keyId(name, publicKey);
  if (toHex(id) !== trimmed.slice(first + 1, second).toLowerCase()) {
    throw new LedgerError("the verifier key's id does not match its name and key");
  }
  return { name, keyId: id, publicKey };
}

function checkName(name) {
  if (!name || /[\s+]/u.test(name) || hasControl(name)) {
    throw new LedgerError("a key name is non-empty, with no spaces and no '+'");
  }
}

function hasControl(text, allowNewline = false) {
  for (const ch of text) {
    if (ch.codePointAt(0) < 0x20 && !(allowNewline && ch === "\n")) return true;
  }
  return false;
}

// Splits a signed note into its text and signature lines (C2SP signed-note).
export function splitNote(note) {
  if (utf8(note).length > MAX_NOTE_BYTES) throw new LedgerError(`the note is over ${MAX_NOTE_BYTES} bytes`);
  if (hasControl(note, true)) throw new LedgerError("the note holds control characters");
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw new LedgerError("no blank line separates the text from the signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  if (!lines.length || lines.length > MAX_SIGNATURES) {
    throw new LedgerError(`a note carries 1 to ${MAX_SIGNATURES} signature lines`);
  }
  return { text, lines };
}

// "<origin>\n<size>\n<base64 root>\n" -> {origin, size, root}
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length !== 4 || lines[3] !== "") throw new LedgerError("a checkpoint is exactly origin, size and root hash lines");
  const [origin, size, root] = lines;
  if (!origin) throw new LedgerError("the checkpoint's origin is empty");
  if (!/^(0|[1-9][0-9]{0,15})$/u.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new LedgerError("the checkpoint's size is not a decimal number");
  }
  const rootHash = fromBase64(root, "the checkpoint's root hash");
  if (rootHash.length !== HASH_SIZE) throw new LedgerError("the checkpoint's root hash is not 32 bytes");
  return { origin, size: Number(size), root: rootHash };
}

// Whether this browser's WebCrypto has Ed25519 (Chromium 137+, Firefox 129+, Safari 17+).
export async function ed25519Supported() {
  try {
    await crypto.subtle.importKey("raw", new Uint8Array(32), { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

// The checkpoint a signed note holds, once a signature by ``verifier`` checks out.
// Returns {checkpoint, signature: "verified" | "unsupported"}: without Ed25519 in the
// browser the note is still parsed and the signature line located, but not checked.
export async function openCheckpoint(note, verifier) {
  const { text, lines } = splitNote(note);
  const ours = findSignature(lines, verifier);
  const checkpoint = parseCheckpoint(text);
  if (checkpoint.origin !== verifier.name) {
    throw new LedgerError(`the checkpoint is for ${checkpoint.origin}, the key for ${verifier.name}`);
  }
  if (!(await ed25519Supported())) return { checkpoint, signature: "unsupported" };
  const key = await crypto.subtle.importKey("raw", verifier.publicKey, { name: "Ed25519" }, false, ["verify"]);
  for (const signature of ours) {
    if (!(await crypto.subtle.verify({ name: "Ed25519" }, key, signature, utf8(text)))) {
      throw new LedgerError("the checkpoint's signature does not verify");
    }
  }
  return { checkpoint, signature: "verified" };
}

function findSignature(lines, verifier) {
  const ours = [];
  for (const line of lines) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new LedgerError("a signature line starts with an em dash and a space");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const raw = fromBase64(space < 0 ? "" : rest.slice(space + 1), "a signature");
    if (raw.length < 5) throw new LedgerError("a signature is too short");
    // Signatures by other keys (a witness, an old key) are ignored, as C2SP says.
    if (name === verifier.name && equalBytes(raw.slice(0, 4), verifier.keyId)) ours.push(raw.slice(4));
  }
  if (!ours.length) throw new LedgerError("the checkpoint carries no signature by the pinned key (the ledger's public key)");
  return ours;
}
