"""The ledger API under ``/api/v1/ledger`` (and the redaction admin route).

Hashes, proofs, checkpoints and the public key are public: anyone may audit the log.
Event bodies are shown only to those allowed to see them: admins see all, a user the
events where they are the actor or the target. Everyone else gets the entry's index
and leaf hash, which is all a proof needs.
"""

from __future__ import annotations

import base64
from typing import Any

from apiflask import APIBlueprint
from flask import Response
from sqlalchemy import or_, select

from strongroom.auth.authn import current_principal, get_deps, require_principal
from strongroom.auth.policy import admin_required, login_required, public
from strongroom.auth.principal import Principal
from strongroom.context import db_session
from strongroom.ledger import proofs, services
from strongroom.ledger.checkpoints import latest_checkpoint, make_checkpoint
from strongroom.ledger.exceptions import BadTreeRequest, EntryNotFound, NotRedactable
from strongroom.ledger.merkle import ProofError
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.schemas import (
    ConsistencyOut,
    ConsistencyQuery,
    EntryPageOut,
    InclusionOut,
    RangeQuery,
    RedactIn,
    RedactOut,
    TreeSizeQuery,
)
from strongroom.ledger.web import get_ledger

bp = APIBlueprint("ledger", __name__, url_prefix="/api/v1", tag="Ledger")
_TEXT: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    200: {"description": "text/plain", "content": {"text/plain": {"schema": {"type": "string"}}}}
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def may_see(entry: LedgerEntry, principal: Principal | None) -> bool:
    """Whether the caller may read the event (the web pages share this rule)."""
    if principal is None:
        return False
    if principal.user.is_admin and principal.has_scope("admin"):
        return True
    me = f"user:{principal.user.id}"
    return me in {entry.actor, entry.target}


def _entry(entry: LedgerEntry, principal: Principal | None) -> dict[str, Any]:
    return entry_body(entry, visible=may_see(entry, principal))


def entry_body(entry: LedgerEntry, *, visible: bool) -> dict[str, Any]:
    """An entry as the API shows it (``EntryOut``): the event, salt and canonical
    bytes only when ``visible`` (the caller decided) and not redacted."""
    visible = visible and entry.event is not None
    body: dict[str, Any] = {
        "index": entry.index,
        "leaf_hash": _b64(entry.leaf_hash),
        "redacted": entry.event is None,
        "visible": visible,
        "event": None,
        "salt": None,
        "canonical": None,
    }
    if visible and entry.event is not None and entry.salt is not None:
        body["event"] = {
            "time": services.event_time(entry.occurred_at),
            "tag": entry.tag,
            "actor": entry.actor,
            "target": entry.target,
            "details": entry.details,
            "request_id": entry.request_id,
        }
        body["salt"] = _b64(entry.salt)
        body["canonical"] = entry.event.decode("utf-8")
    return body


@bp.get("/ledger/checkpoint")
@public("ledger:checkpoint:read")
@bp.doc(summary="The latest signed checkpoint (C2SP signed note)", responses=_TEXT)
def checkpoint() -> Response:
    db = db_session()
    stored = latest_checkpoint(db)
    if stored is None:  # a new log: sign its first tree head now
        db.commit()  # end the read, so the signing transaction starts with its write
        stored = make_checkpoint(db, get_ledger().signer, at=get_deps().now())
        db.commit()
    return Response(stored.note, mimetype="text/plain")


@bp.get("/ledger/public-key")
@public("ledger:key:read")
@bp.doc(summary="The verifier key that signs checkpoints", responses=_TEXT)
def public_key() -> Response:
    return Response(get_ledger().signer.verifier.encode() + "\n", mimetype="text/plain")


@bp.get("/ledger/entries")
@login_required("ledger:entry:list")
@bp.input(RangeQuery, location="query", arg_name="query")
@bp.output(EntryPageOut)
@bp.doc(summary="Entries by index range (events shown where the caller may see them)")
def entries(query: dict[str, Any]) -> Any:
    db = db_session()
    size = proofs.current_size(db)
    rows = db.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.index >= query["start"])
        .order_by(LedgerEntry.index)
        .limit(query["limit"])
    ).all()
    principal = current_principal()
    return {"entries": [_entry(r, principal) for r in rows], "start": query["start"],
            "tree_size": size}  # fmt: skip


@bp.get("/ledger/entries/<int(max=4611686018427387904):index>")
@public("ledger:entry:prove")
@bp.input(TreeSizeQuery, location="query", arg_name="query")
@bp.output(InclusionOut)
@bp.doc(summary="An entry and its inclusion proof in the tree of `tree_size`")
def entry(index: int, query: dict[str, Any]) -> Any:
    db = db_session()
    size = query["tree_size"]
    try:
        proof = proofs.inclusion_proof(db, index, size)
    except ProofError as err:
        raise BadTreeRequest(str(err)) from err
    row = db.get(LedgerEntry, index)
    if row is None:  # pragma: no cover - the proof above found it
        raise EntryNotFound(f"no entry {index}")
    return {
        "index": index,
        "tree_size": size,
        "leaf_hash": _b64(row.leaf_hash),
        "proof": [_b64(p) for p in proof],
        "entry": _entry(row, current_principal()),
    }


@bp.get("/ledger/consistency")
@public("ledger:consistency:prove")
@bp.input(ConsistencyQuery, location="query", arg_name="query")
@bp.output(ConsistencyOut)
@bp.doc(summary="Consistency proof from tree size `from` to `to` (RFC 9162)")
def consistency(query: dict[str, Any]) -> Any:
    old, new = query["old"], query["new"]
    db = db_session()
    try:
        proofs.root_at(db, new)  # the newer size must exist, whatever the older one
        proof = [] if old in {0, new} else proofs.consistency_proof(db, old, new)
    except ProofError as err:
        raise BadTreeRequest(str(err)) from err
    return {"from_size": old, "to_size": new, "proof": [_b64(p) for p in proof]}


@bp.get("/ledger/users/<int(max=2147483647):user_id>/events")
@login_required("ledger:user-events:read")
@bp.input(RangeQuery, location="query", arg_name="query")
@bp.output(EntryPageOut)
@bp.doc(summary="A user's events (their own, or anyone's for an admin)")
def user_events(user_id: int, query: dict[str, Any]) -> Any:
    principal = require_principal()
    allowed = principal.user.id == user_id or (
        principal.user.is_admin and principal.has_scope("admin")
    )
    if not allowed:
        raise EntryNotFound("No such user events.")
    db = db_session()
    me = f"user:{user_id}"
    rows = db.scalars(
        select(LedgerEntry)
        .where(or_(LedgerEntry.actor == me, LedgerEntry.target == me))
        .where(LedgerEntry.index >= query["start"])
        .order_by(LedgerEntry.index)
        .limit(query["limit"])
    ).all()
    return {"entries": [_entry(r, principal) for r in rows], "start": query["start"],
            "tree_size": proofs.current_size(db)}  # fmt: skip


@bp.post("/admin/ledger/entries/<int(max=4611686018427387904):index>/redact")
@admin_required("admin:ledger:redact", tokens=False)
@bp.input(RedactIn, arg_name="body")
@bp.output(RedactOut)
@bp.doc(summary="Erase an entry's personal data; its hash, and every proof, stay valid")
def redact(index: int, body: dict[str, Any]) -> Any:
    db = db_session()
    try:
        redaction = services.redact_entry(
            db, index, actor=require_principal().actor, reason=body["reason"], at=get_deps().now()
        )
    except LookupError as err:
        raise EntryNotFound(str(err)) from err
    except ValueError as err:
        raise NotRedactable(str(err)) from err
    db.commit()
    return {"index": index, "redaction_index": redaction.index}
