"""``ledger export`` / ``verify-export``: the log as files an auditor checks offline.

The format is ``docs/spec/ledger.md`` section 7. Both directions stream the entries in
index order, so memory stays flat at any log size. The verifier trusts nothing in the
directory but what the pinned key signed: every leaf hash is recomputed from salt and
event bytes, the root at every checkpoint size from the leaves, and the first mismatch
raises ``ExportInvalid`` naming the file (and line) where it is. No Flask here.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from strongroom.ledger.canonical import parse_canonical
from strongroom.ledger.exceptions import LedgerMismatch
from strongroom.ledger.merkle import HASH_SIZE, CompactRange, leaf_hash
from strongroom.ledger.models import SALT_BYTES, LedgerCheckpoint, LedgerEntry
from strongroom.ledger.note import MAX_NOTE_BYTES, NoteError, Verifier, open_checkpoint
from strongroom.ledger.proofs import begin_snapshot, current_size, root_at
from strongroom.ledger.services import REDACT_TAG, event_time

FORMAT = "strongroom-ledger-export"
BATCH = 5000
MAX_LINE = 1 << 20  # one entries.jsonl line, newline included
MAX_SMALL_FILE = 64 * 1024  # manifest.json, public-key.txt
ENTRIES = "entries.jsonl"
TRUSTED = "trusted checkpoint"
_MANIFEST_KEYS = {"format", "version", "origin", "size", "root", "exported_at"}
_ENTRY_KEYS = {"index", "salt", "event"}
_REDACTED_KEYS = {"index", "redacted", "leaf_hash"}
_CHECKPOINT_NAME = re.compile(r"(0|[1-9][0-9]{0,18})\.txt")


class ExportInvalid(LedgerMismatch):
    """The export does not add up; ``where`` names the first bad file or line."""


@dataclass(frozen=True)
class ExportReport:
    origin: str
    size: int
    root: bytes
    checkpoints: int
    signed_size: int | None  # the largest checkpoint's size: entries beyond it are unsigned
    redacted: int
    trusted_size: int | None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- export ------------------------------------------------------------------------


def export_ledger(
    db: Session, directory: Path | str, verifier_key: str, *, at: datetime | None = None
) -> dict[str, Any]:
    """Write the log to ``directory`` (created, or empty) in one snapshot; returns the manifest.

    ``db`` must not have begun a transaction (the export reads one snapshot: REPEATABLE
    READ on PostgreSQL, one WAL read transaction on SQLite). Raises ``NoteError`` for
    an unusable key, ``FileExistsError`` for a non-empty directory, ``OSError`` on I/O.
    """
    verifier = Verifier.parse(verifier_key)
    target = Path(directory)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty; export into a new directory")
    begin_snapshot(db, "export_ledger")
    size = current_size(db)
    root = root_at(db, size)
    _write_entries(db, target / ENTRIES, size)
    (target / "checkpoints").mkdir(mode=0o700)
    checkpoints = select(LedgerCheckpoint.size, LedgerCheckpoint.note).where(
        LedgerCheckpoint.size <= size
    )
    for checkpoint_size, note in db.execute(checkpoints):
        (target / "checkpoints" / f"{checkpoint_size}.txt").write_bytes(note.encode("utf-8"))
    (target / "public-key.txt").write_text(verifier.encode() + "\n", encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "version": 1,
        "origin": verifier.name,
        "size": size,
        "root": _b64(root),
        "exported_at": event_time(at or datetime.now(UTC)),
    }
    # Written last: an interrupted export has no manifest and cannot pass verification.
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def _write_entries(db: Session, path: Path, size: int) -> None:
    columns = (LedgerEntry.index, LedgerEntry.salt, LedgerEntry.event, LedgerEntry.leaf_hash)
    query = select(*columns).where(LedgerEntry.index < size).order_by(LedgerEntry.index)
    rows = db.execute(query.execution_options(yield_per=BATCH))
    try:
        with path.open("xb") as out:
            for index, salt, event, leaf in rows:
                out.write(_entry_line(index, salt, event, leaf))
    finally:
        rows.close()


def _entry_line(index: int, salt: bytes | None, event: bytes | None, leaf: bytes) -> bytes:
    """One entries.jsonl line; the stored bytes go out as they are, even if tampered."""
    body: dict[str, Any]
    if salt is None or event is None:
        body = {"index": index, "redacted": True, "leaf_hash": _b64(bytes(leaf))}
    else:
        text = bytes(event).decode("utf-8", errors="surrogateescape")
        body = {"index": index, "salt": _b64(bytes(salt)), "event": text}
    try:
        return (json.dumps(body, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # not UTF-8 in the database: escaped, and caught by verify
        return (json.dumps(body) + "\n").encode("ascii")


# --- verification ------------------------------------------------------------------

Claims = dict[int, list[tuple[str, bytes]]]  # size -> (where, root) claimed at that size


def verify_export(
    directory: Path | str, verifier: Verifier, trusted_checkpoint: str | bytes | None = None
) -> ExportReport:
    """Check an export against the pinned ``verifier`` (and an older checkpoint kept).

    Returns what was verified; raises ``ExportInvalid`` at the first problem, whatever
    the directory holds (malformed, oversized or missing files included).
    """
    base = Path(directory)
    size, root = _read_manifest(base, verifier)
    signed = _read_checkpoints(base, verifier, size)
    _check_public_key(base, verifier)
    claims: Claims = {n: [(f"checkpoints/{n}.txt", signed[n])] for n in sorted(signed)}
    trusted_size = None
    if trusted_checkpoint is not None:
        trusted_size, trusted_root = _open_trusted(trusted_checkpoint, verifier, size)
        claims.setdefault(trusted_size, []).append((TRUSTED, trusted_root))
    claims.setdefault(size, []).append(("manifest.json", root))
    redacted = _walk_entries(base / ENTRIES, size, claims)
    signed_size = max(signed) if signed else None
    return ExportReport(verifier.name, size, root, len(signed), signed_size, redacted, trusted_size)


def _read_small(path: Path, limit: int, where: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as err:
        raise ExportInvalid(where, f"cannot be read ({err.strerror or err})") from err
    if len(data) > limit:
        raise ExportInvalid(where, f"is over {limit} bytes")
    return data


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("a member name is repeated")
    return dict(pairs)


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError, JSONDecodeError too
        raise ExportInvalid(where, f"is not valid JSON ({str(err)[:200]})") from err


def _decode(text: Any, length: int, where: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except ValueError as err:  # binascii.Error, non-ASCII text
        raise ExportInvalid(where, f"the {what} is not valid base64") from err
    if len(raw) != length:
        raise ExportInvalid(where, f"the {what} is not {length} bytes of base64")
    return raw


def _read_manifest(base: Path, verifier: Verifier) -> tuple[int, bytes]:
    where = "manifest.json"
    manifest = _json(_read_small(base / where, MAX_SMALL_FILE, where), where)
    if not isinstance(manifest, dict) or set(manifest) != _MANIFEST_KEYS:
        raise ExportInvalid(where, f"must hold exactly {sorted(_MANIFEST_KEYS)}")
    if manifest["format"] != FORMAT or manifest["version"] != 1:
        raise ExportInvalid(where, f"is not a {FORMAT} version 1")
    size = manifest["size"]
    if type(size) is not int or size < 0 or not isinstance(manifest["exported_at"], str):
        raise ExportInvalid(where, "the size or the export time is malformed")
    if manifest["origin"] != verifier.name:
        raise ExportInvalid(where, f"is of another log than the pinned key's, {verifier.name}")
    return size, _decode(manifest["root"], HASH_SIZE, where, "root hash")


def _read_checkpoints(base: Path, verifier: Verifier, size: int) -> dict[int, bytes]:
    """Every checkpoint file opened with the pinned key: size -> signed root."""
    try:
        names = sorted(path.name for path in (base / "checkpoints").iterdir())
    except OSError as err:
        raise ExportInvalid("checkpoints/", f"cannot be read ({err.strerror or err})") from err
    for name in names:
        if not _CHECKPOINT_NAME.fullmatch(name):
            raise ExportInvalid(f"checkpoints/{name}", "is not named <tree size>.txt")
    signed: dict[int, bytes] = {}
    for name_size in sorted(int(name.removesuffix(".txt")) for name in names):
        where = f"checkpoints/{name_size}.txt"
        note = _read_small(base / where, MAX_NOTE_BYTES, where)
        try:
            checkpoint = open_checkpoint(note, verifier)
        except NoteError as err:
            raise ExportInvalid(where, f"the signed note does not verify ({err})") from err
        if checkpoint.size != name_size:
            raise ExportInvalid(where, f"the signed note is for size {checkpoint.size}")
        if name_size > size:
            raise ExportInvalid(where, f"is beyond the export's {size} entries: some were dropped")
        signed[name_size] = checkpoint.root
    return signed


def _check_public_key(base: Path, verifier: Verifier) -> None:
    where = "public-key.txt"
    data = _read_small(base / where, MAX_SMALL_FILE, where)
    try:
        exported = Verifier.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, NoteError) as err:
        raise ExportInvalid(where, f"is not a verifier key ({err})") from err
    if exported != verifier:
        raise ExportInvalid(where, "names another key than the one pinned")


def _open_trusted(note: str | bytes, verifier: Verifier, size: int) -> tuple[int, bytes]:
    try:
        checkpoint = open_checkpoint(note, verifier)
    except NoteError as err:
        raise ExportInvalid(TRUSTED, f"does not verify with the pinned key ({err})") from err
    if checkpoint.size > size:
        raise ExportInvalid(
            TRUSTED, f"is at size {checkpoint.size}, beyond the export's {size}: rolled back"
        )
    return checkpoint.size, checkpoint.root


def _lines(path: Path) -> Iterator[tuple[str, bytes]]:
    """Each line of entries.jsonl with the place to name it by; bounded in length."""
    try:
        with path.open("rb") as handle:
            number = 0
            while line := handle.readline(MAX_LINE + 1):
                number += 1
                where = f"{ENTRIES} line {number}"
                if len(line) > MAX_LINE:
                    raise ExportInvalid(where, f"is over {MAX_LINE} bytes")
                if not line.endswith(b"\n"):
                    raise ExportInvalid(where, "does not end with a newline (truncated?)")
                yield where, line
    except OSError as err:
        raise ExportInvalid(ENTRIES, f"cannot be read ({err.strerror or err})") from err


def _walk_entries(path: Path, size: int, claims: Claims) -> int:
    """Recompute the tree from entries.jsonl, checking the roots ``claims`` name on the way.

    Returns the number of redacted entries.
    """
    tree = CompactRange()
    pending: dict[int, tuple[str, bytes]] = {}  # redacted, and not vouched for (yet)
    since = redacted = 0
    _check_roots(tree, claims, since)
    for where, line in _lines(path):
        if tree.size >= size:
            raise ExportInvalid(where, f"is beyond the {size} entries the manifest names")
        digest, event = _leaf(_json(line, where), tree.size, where)
        if event is None:
            pending[tree.size] = (where, digest)
            redacted += 1
        else:
            _note_redaction(event, tree.size, pending)
        tree.append(digest)
        if tree.size in claims:
            _check_roots(tree, claims, since)
            since = tree.size
    if tree.size != size:
        raise ExportInvalid(ENTRIES, f"ends after {tree.size} entries; the manifest says {size}")
    if pending:
        where, _ = pending[min(pending)]
        raise ExportInvalid(where, f"is redacted, but no later {REDACT_TAG} event vouches for it")
    return redacted


def _check_roots(tree: CompactRange, claims: Claims, since: int) -> None:
    """Compare the recomputed root at this size with every root claimed for it."""
    root = tree.root()
    for where, claimed in claims.get(tree.size, []):
        if hmac.compare_digest(root, claimed):
            continue
        if where == TRUSTED:
            raise ExportInvalid(
                where,
                f"the log forked: history up to size {tree.size} differs from what you trusted",
            )
        raise ExportInvalid(
            where, f"its root is not the entries' root: one from index {since} on was altered"
        )


def _leaf(entry: Any, index: int, where: str) -> tuple[bytes, dict[str, Any] | None]:
    """The leaf hash of line ``index``, and its event (None when redacted), once checked."""
    if not isinstance(entry, dict) or set(entry) not in (_ENTRY_KEYS, _REDACTED_KEYS):
        raise ExportInvalid(where, "must be {index, salt, event} or {index, redacted, leaf_hash}")
    if type(entry["index"]) is not int or entry["index"] != index:
        found = repr(entry["index"])[:40]
        raise ExportInvalid(where, f"holds entry {found} where entry {index} belongs")
    if "redacted" in entry:
        if entry["redacted"] is not True:
            raise ExportInvalid(where, '"redacted" must be true')
        return _decode(entry["leaf_hash"], HASH_SIZE, where, "leaf hash"), None
    salt = _decode(entry["salt"], SALT_BYTES, where, "salt")
    if not isinstance(entry["event"], str):
        raise ExportInvalid(where, "the event must be a JSON string")
    try:
        body = entry["event"].encode("utf-8")
        event = parse_canonical(body)
    except (ValueError, RecursionError) as err:  # UnicodeEncodeError and CanonicalError too
        raise ExportInvalid(where, f"the event is not canonical JSON ({str(err)[:200]})") from err
    if not isinstance(event, dict) or type(event.get("index")) is not int:
        raise ExportInvalid(where, "the event is not an object with an index")
    if event["index"] != index:
        raise ExportInvalid(where, f"the event names index {event['index']}, not {index}")
    return leaf_hash(salt + body), event


def _note_redaction(
    event: dict[str, Any], index: int, pending: dict[int, tuple[str, bytes]]
) -> None:
    """A redaction event vouches for an earlier redacted entry with exactly its leaf hash."""
    details = event.get("details")
    if event.get("tag") != REDACT_TAG or not isinstance(details, dict):
        return
    named = details.get("index")
    if type(named) is not int or named >= index:
        return
    earlier = pending.get(named)
    if earlier is not None and earlier[1].hex() == details.get("leaf_hash"):
        del pending[named]
