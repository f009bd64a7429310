"""Share-link management for a file's owner: create, list, revoke.

The token is in the answer to the creation only (as ``url``); lists never carry it,
since only its hash is kept. Every route authorizes through ``sharing.policy``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apiflask import APIBlueprint

from strongroom.auth.authn import get_deps
from strongroom.auth.policy import login_required
from strongroom.context import db_session, get_settings
from strongroom.files.views import FILE_ID
from strongroom.sharing import links
from strongroom.sharing.link_schemas import LinkIn, LinkListOut, NewLinkOut
from strongroom.sharing.models import LINK_ID_LENGTH, ShareLink
from strongroom.sharing.policy import Action
from strongroom.sharing.web import authorized_file

bp = APIBlueprint("links", __name__, url_prefix="/api/v1", tag="Share links")
LINK_ID = f"<string(minlength=1,maxlength={LINK_ID_LENGTH}):link_id>"


def link_out(link: ShareLink, now: datetime) -> dict[str, Any]:
    expired = link.expires_at is not None and now >= link.expires_at
    return {
        "id": link.id,
        "file_id": link.file_id,
        "expires_at": link.expires_at,
        "max_downloads": link.max_downloads,
        "downloads": link.downloads,
        "password_required": link.password_hash is not None,
        "note": link.note,
        "created_at": link.created_at,
        "revoked_at": link.revoked_at,
        "active": link.revoked_at is None and not expired and links.downloads_left(link) != 0,
    }


def public_url(token: str) -> str:
    """The link to hand out, on the configured public URL (never the request's Host
    header, which a client chooses)."""
    return f"{get_settings().base_url}/s/{token}"


@bp.post(f"/files/{FILE_ID}/links")
@login_required("sharing:link:create", scope="shares:write")
@bp.input(LinkIn, arg_name="body")
@bp.output(NewLinkOut, status_code=201)
@bp.doc(summary="Create a share link (its URL is shown in this answer only)")
def create_link(file_id: str, body: dict[str, Any]) -> Any:
    file, actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    db = db_session()
    link, token = links.create_link(
        db,
        file,
        expires_at=body["expires_at"],
        password=body["password"],
        max_downloads=body["max_downloads"],
        note=body["note"],
        actor=actor,
        now=now,
        passwords=get_deps().passwords,
    )
    out = {**link_out(link, now), "url": public_url(token)}
    db.commit()
    return out, 201


@bp.get(f"/files/{FILE_ID}/links")
@login_required("sharing:link:list", scope="shares:write")
@bp.output(LinkListOut)
@bp.doc(summary="A file's share links (revoked, expired and used-up ones included)")
def list_links(file_id: str) -> Any:
    file, _actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    return {"items": [link_out(link, now) for link in links.list_links(db_session(), file)]}


@bp.delete(f"/files/{FILE_ID}/links/{LINK_ID}")
@login_required("sharing:link:revoke", scope="shares:write")
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke a share link; its next use gets 404")
def revoke_link(file_id: str, link_id: str) -> Any:
    file, actor, now = authorized_file(Action.REVOKE, file_id, lock=True)
    db = db_session()
    links.revoke_link(db, file, link_id, actor=actor, now=now)
    db.commit()
    return "", 204
