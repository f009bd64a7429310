"""The admin API under ``/api/v1/admin``: accounts and invitations."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import Response

from strongroom.admin import services
from strongroom.admin.schemas import (
    CreatedUserOut,
    InviteIn,
    InviteListOut,
    InviteOut,
    NewInviteOut,
    ResetOut,
    UserCreateIn,
    UserPageOut,
    UserPatchIn,
    UserQuery,
)
from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.exceptions import Conflict
from strongroom.auth.models import Role, Status, User
from strongroom.auth.policy import admin_required
from strongroom.auth.schemas import AccountOut
from strongroom.context import db_session

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1/admin", tag="Administration")


def _someone_else(user: User) -> User:
    """Admins change their own credentials through /me, which asks for proof of them."""
    if user.id == require_principal().user.id:
        raise Conflict("Use /api/v1/me/password or /api/v1/me/2fa for your own account.")
    return user


@bp.get("/users")
@admin_required("admin:user:list")
@bp.input(UserQuery, location="query", arg_name="query")
@bp.output(UserPageOut)
@bp.doc(summary="Search accounts (paged)")
def list_users(query: dict[str, Any]) -> Any:
    page = services.search_users(
        db_session(),
        query=query["q"],
        role=Role(query["role"]) if query["role"] else None,
        status=Status(query["status"]) if query["status"] else None,
        page=query["page"],
        per_page=query["per_page"],
    )
    return {
        "users": page.users,
        "total": page.total,
        "page": query["page"],
        "per_page": query["per_page"],
    }


@bp.post("/users")
@admin_required("admin:user:create", tokens=False)
@bp.input(UserCreateIn, arg_name="body")
@bp.output(CreatedUserOut, status_code=201)
@bp.doc(summary="Create an account", description="Without `password`, a temporary one is "
        "generated, returned once, and must be changed at first sign-in.")  # fmt: skip
def create_user(body: dict[str, Any]) -> Any:
    db = db_session()
    user, temporary = services.create_user(
        db, get_deps(), actor=require_principal().actor, **{**body, "role": Role(body["role"])}
    )
    db.commit()
    return {"user": user, "temporary_password": temporary}


@bp.get("/users/<int(max=2147483647):user_id>")
@admin_required("admin:user:read")
@bp.output(AccountOut)
@bp.doc(summary="One account")
def get_user(user_id: int) -> Any:
    return services.get_user(db_session(), user_id)


@bp.patch("/users/<int(max=2147483647):user_id>")
@admin_required("admin:user:update")
@bp.input(UserPatchIn, arg_name="body")
@bp.output(AccountOut)
@bp.doc(summary="Disable/enable, change role, e-mail or display name")
def update_user(user_id: int, body: dict[str, Any]) -> Any:
    db = db_session()
    deps = get_deps()
    actor = require_principal().actor
    user = services.get_user(db, user_id)
    if "status" in body:
        services.set_status(db, deps, actor=actor, user=user, status=Status(body["status"]))
    if "role" in body:
        services.set_role(db, deps, actor=actor, user=user, role=Role(body["role"]))
    services.update_profile(
        db,
        deps,
        actor=actor,
        user=user,
        email=(body["email"] or "") if "email" in body else None,
        display_name=body.get("display_name"),
    )
    db.commit()
    return user


@bp.post("/users/<int(max=2147483647):user_id>/password-reset")
@admin_required("admin:user:password-reset", tokens=False)
@bp.output(ResetOut)
@bp.doc(summary="Set a temporary password (shown once); the user's sessions end")
def reset_password(user_id: int) -> Any:
    db = db_session()
    user = _someone_else(services.get_user(db, user_id))
    password = services.reset_password(db, get_deps(), actor=require_principal().actor, user=user)
    db.commit()
    return {"temporary_password": password}


@bp.post("/users/<int(max=2147483647):user_id>/2fa-reset")
@admin_required("admin:user:2fa-reset", tokens=False)
@bp.output({}, status_code=204)
@bp.doc(summary="Turn off an account's 2FA (lost device); its sessions end")
def reset_two_factor(user_id: int) -> Any:
    db = db_session()
    user = _someone_else(services.get_user(db, user_id))
    services.reset_two_factor(db, get_deps(), actor=require_principal().actor, user=user)
    db.commit()
    return Response(status=204)


@bp.delete("/users/<int(max=2147483647):user_id>")
@admin_required("admin:user:delete")
@bp.output({}, status_code=204)
@bp.doc(summary="Delete an account (not the last admin)")
def delete_user(user_id: int) -> Any:
    db = db_session()
    user = services.get_user(db, user_id)
    services.delete_user(db, get_deps(), actor=require_principal().actor, user=user)
    db.commit()
    return Response(status=204)


@bp.get("/invites")
@admin_required("admin:invite:list")
@bp.output(InviteListOut)
@bp.doc(summary="Open invitations")
def list_invites() -> Any:
    return {"invites": services.list_invites(db_session(), get_deps())}


@bp.post("/invites")
@admin_required("admin:invite:create", tokens=False)
@bp.input(InviteIn, arg_name="body")
@bp.output(NewInviteOut, status_code=201)
@bp.doc(summary="Create a single-use invitation (token shown once)")
def create_invite(body: dict[str, Any]) -> Any:
    db = db_session()
    token, invite = services.create_invite(
        db, get_deps(), actor_id=require_principal().user.id, note=body["note"],
        role=Role(body["role"]),
    )  # fmt: skip
    db.commit()
    # The output schema serialises once: hand it the attributes, plus the secret.
    return {name: getattr(invite, name) for name in InviteOut().fields} | {"token": token}


@bp.delete("/invites/<int(max=2147483647):invite_id>")
@admin_required("admin:invite:revoke")
@bp.output({}, status_code=204)
@bp.doc(summary="Revoke an invitation")
def revoke_invite(invite_id: int) -> Any:
    db = db_session()
    services.revoke_invite(
        db, get_deps(), actor_id=require_principal().user.id, invite_id=invite_id
    )
    db.commit()
    return Response(status=204)
