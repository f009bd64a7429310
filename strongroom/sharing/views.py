"""Grants API: share a file with named users, list, change and revoke those grants;
and "shared with me" for the recipient. Every route authorizes through
``sharing.policy``; the views parse, call one service and shape the answer."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.policy import login_required
from strongroom.context import db_session, writes_on_read
from strongroom.files.views import FILE_ID, file_out
from strongroom.ledger.views import entry_body
from strongroom.ledger.web import get_ledger
from strongroom.sharing import grants
from strongroom.sharing.history import current_checkpoint, file_history
from strongroom.sharing.models import Grant
from strongroom.sharing.policy import Action
from strongroom.sharing.schemas import (
    GrantChangeIn,
    GrantIn,
    GrantListOut,
    GrantOut,
    HistoryOut,
    PageQuery,
    SharedPageOut,
)
from strongroom.sharing.web import authorized_file

bp = APIBlueprint("sharing", __name__, url_prefix="/api/v1", tag="Sharing")
GRANT_ID = "<int(max=2147483647):grant_id>"


def grant_out(grant: Grant, now: datetime) -> dict[str, Any]:
    return {
        "id": grant.id,
        "file_id": grant.file_id,
        "username": grant.grantee.username,
        "permission": grant.permission,
        "expires_at": grant.expires_at,
        "active": grant.active_at(now),
        "created_at": grant.created_at,
        "updated_at": grant.updated_at,
    }


@bp.post(f"/files/{FILE_ID}/grants")
@login_required("sharing:grant:create", scope="shares:write")
@bp.input(GrantIn, arg_name="body")
@bp.output(GrantOut, status_code=201)
@bp.doc(summary="Share a file with a user (read access, optionally until a time)")
def create_grant(file_id: str, body: dict[str, Any]) -> Any:
    file, actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    db = db_session()
    grant = grants.share(
        db,
        file,
        body["username"],
        permission=body["permission"],
        expires_at=body["expires_at"],
        actor=actor,
        now=now,
    )
    out = grant_out(grant, now)  # before the commit: nothing may reopen the write lock
    db.commit()
    return out, 201


@bp.get(f"/files/{FILE_ID}/grants")
@login_required("sharing:grant:list", scope="shares:write")
@bp.output(GrantListOut)
@bp.doc(summary="Who a file is shared with (expired grants included)")
def list_grants(file_id: str) -> Any:
    file, _actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    return {"items": [grant_out(g, now) for g in grants.grants_of(db_session(), file)]}


@bp.patch(f"/files/{FILE_ID}/grants/{GRANT_ID}")
@login_required("sharing:grant:update", scope="shares:write")
@bp.input(GrantChangeIn, arg_name="body")
@bp.output(GrantOut)
@bp.doc(summary="Change a grant's expiry (null: never) or permission")
def change_grant(file_id: str, grant_id: int, body: dict[str, Any]) -> Any:
    file, actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    db = db_session()
    grant = grants.change(
        db,
        file,
        grant_id,
        expires_at=body["expires_at"],
        permission=body["permission"],
        actor=actor,
        now=now,
    )
    out = grant_out(grant, now)
    db.commit()
    return out


@bp.delete(f"/files/{FILE_ID}/grants/{GRANT_ID}")
@login_required("sharing:grant:revoke", scope="shares:write")
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke a grant; the grantee's next request is refused")
def revoke_grant(file_id: str, grant_id: int) -> Any:
    file, actor, now = authorized_file(Action.REVOKE, file_id, lock=True)
    db = db_session()
    grants.revoke(db, file, grant_id, actor=actor, now=now)
    db.commit()
    return "", 204


@bp.get("/shared")
@login_required("sharing:shared:list", scope="files:read")
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(SharedPageOut)
@bp.doc(summary="Files shared with me, newest share first")
def shared_with_me(query: dict[str, Any]) -> Any:
    user = require_principal().user
    now = get_deps().now()
    page = grants.shared_with(
        db_session(), user.id, now=now, offset=query["offset"], limit=query["limit"]
    )
    return {
        "items": [{"file": file_out(f), "grant": grant_out(g, now)} for g, f in page.items],
        "total": page.total,
        "offset": query["offset"],
        "limit": query["limit"],
    }


@bp.delete(f"/shared/{FILE_ID}")
@login_required("sharing:shared:decline", scope="files:read")
@bp.output({}, status_code=204)
@bp.doc(summary="Remove a file shared with me from my list (ends my access)")
def decline(file_id: str) -> Any:
    user = require_principal().user
    db = db_session()
    grants.decline(db, file_id, user_id=user.id, now=get_deps().now())
    db.commit()
    return "", 204


@bp.get(f"/files/{FILE_ID}/history")
@login_required("sharing:history:read", scope="files:read")
@writes_on_read
@bp.input(PageQuery, location="query", arg_name="query")
@bp.output(HistoryOut)
@bp.doc(
    summary="The file's ledger events, each with its inclusion proof against a signed "
    "checkpoint (the owner only)"
)
def history(file_id: str, query: dict[str, Any]) -> Any:
    file, _actor, now = authorized_file(Action.HISTORY, file_id, lock=True)
    db = db_session()
    checkpoint = current_checkpoint(db, get_ledger().signer, now=now)
    found = file_history(db, file.id, checkpoint, offset=query["offset"], limit=query["limit"])
    out = {
        "file_id": file.id,
        "checkpoint": {
            "size": checkpoint.size,
            "root_hash": _b64(checkpoint.root),
            "note": checkpoint.note,
        },
        "items": [
            {
                "index": p.entry.index,
                "proof": [_b64(h) for h in p.proof],
                "entry": entry_body(p.entry, visible=True),
            }
            for p in found.entries
        ],
        "total": found.total,
        "offset": query["offset"],
        "limit": query["limit"],
    }
    db.commit()  # the checkpoint, if one was signed
    return out


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
