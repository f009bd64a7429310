"""Admin pages: the accounts list (search, filters, pages), creating an account with a
temporary password, and invitations (create, list, revoke).

The same services and input schemas as the admin API (``strongroom.admin``); the
same requirements too (admins only, sessions only, 2FA when the policy asks for it).
A secret made here (a temporary password, an invitation link) is shown once, on a
page that is never cached, and is never put in a flash message: those live in the
session cookie.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from marshmallow import ValidationError

from strongroom.admin import services
from strongroom.admin.schemas import ROLES, STATUSES, InviteIn, UserCreateIn
from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.exceptions import AccountNotFound, InvalidUsername, UsernameTaken
from strongroom.auth.models import Role, Status
from strongroom.auth.policy import admin_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session, get_settings
from strongroom.web.blueprint import FORM, bp, done, form_text, int_arg, page

PER_PAGE = 25
Errors = dict[str, list[str]]
# What the forms echo back when they are shown again, and how much of it.
USER_FIELDS = {"username": 128, "email": 254, "display_name": 100, "role": 16}
INVITE_FIELDS = {"note": 200, "role": 16}


def secret_page(*, title: str, message: str, label: str, secret: str, back: str) -> Response:
    """A secret shown once (with a copy button): never cached, never stored."""
    response = page(
        "admin_secret.html", title=title, message=message, label=label, secret=secret, back=back
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def schema_errors(schema: Any, body: dict[str, Any]) -> Errors:
    """The admin API's own validation of ``body``, as messages per form field."""
    try:
        schema.load(body)
    except ValidationError as err:
        return {str(field): [str(m) for m in msgs] for field, msgs in err.messages_dict.items()}
    return {}


# --- the accounts list --------------------------------------------------------------------


@bp.get("/admin")
@admin_required("web:admin:users", tokens=False)
def admin_users() -> Response:
    return _users_page()


def _users_page(
    *, status: int = 200, errors: Errors | None = None, typed: dict[str, str] | None = None,
    invite_errors: Errors | None = None, invite_typed: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    filters = _filters()
    number = int_arg("page", 1, high=10_000)
    found = services.search_users(
        db_session(), query=filters["q"], page=number, per_page=PER_PAGE,
        role=Role(filters["role"]) if filters["role"] else None,
        status=Status(filters["status"]) if filters["status"] else None,
    )  # fmt: skip
    return page(
        "admin_users.html", status=status, users=found.users, total=found.total,
        filters=filters, page=number, pages=max(1, -(-found.total // PER_PAGE)),
        roles=ROLES, statuses=STATUSES, errors=errors or {}, typed=typed or {"role": "user"},
        invites=services.list_invites(db_session(), get_deps()),
        invite_errors=invite_errors or {}, invite_typed=invite_typed or {"role": "user"},
    )  # fmt: skip


def _filters() -> dict[str, str]:
    """The search box and filters from the query string (unknown values ignored)."""
    role = request.args.get("role", "")
    state = request.args.get("status", "")
    return {
        "q": request.args.get("q", "")[:100],
        "role": role if role in ROLES else "",
        "status": state if state in STATUSES else "",
    }


# --- creating an account --------------------------------------------------------------------


@bp.post("/admin/users")
@admin_required("web:admin:user:create", tokens=False)
@accepts_body(FORM)
def admin_create_user() -> Response:
    typed = {name: form_text(name, limit=limit) for name, limit in USER_FIELDS.items()}
    body: dict[str, Any] = {
        "username": typed["username"].strip(),
        "email": typed["email"].strip() or None,
        "display_name": typed["display_name"].strip(),
        "role": typed["role"],
    }
    errors = schema_errors(UserCreateIn(), body)
    if not body["username"]:
        errors["username"] = ["Enter a username for the new account."]
    if errors:
        return _users_page(status=422, errors=errors, typed=typed)
    db = db_session()
    try:
        user, temporary = services.create_user(
            db, get_deps(), actor=require_principal().actor, password=None,
            **{**body, "role": Role(body["role"])},
        )  # fmt: skip
        db.commit()
    except (InvalidUsername, UsernameTaken) as err:
        return _users_page(status=422, errors={"username": [str(err)]}, typed=typed)
    return secret_page(
        title="Account created",
        message=f"The account “{user.username}” was created. Give its owner this temporary "
        "password through a safe channel: it is shown only now, and they must choose "
        "their own password when they first sign in.",
        label="Temporary password",
        secret=temporary or "",
        back=url_for("web.admin_user", user_id=user.id),
    )


# --- invitations --------------------------------------------------------------------------


@bp.post("/admin/invites")
@admin_required("web:admin:invite:create", tokens=False)
@accepts_body(FORM)
def admin_create_invite() -> Response:
    typed = {name: form_text(name, limit=limit) for name, limit in INVITE_FIELDS.items()}
    body = {"note": typed["note"].strip(), "role": typed["role"]}
    errors = schema_errors(InviteIn(), body)
    if errors:
        return _users_page(status=422, invite_errors=errors, invite_typed=typed)
    db = db_session()
    token, invite = services.create_invite(
        db, get_deps(), actor_id=require_principal().user.id, note=body["note"],
        role=Role(body["role"]),
    )  # fmt: skip
    db.commit()
    return secret_page(
        title="Invitation created",
        message="Send this link to the person you invite. It works once, until "
        f"{invite.expires_at:%d %b %Y, %H:%M} UTC, and is shown only now.",
        label="Invitation link",
        # On the configured public URL, never the request's Host header (which the
        # client chooses): the link is a credential and must point at this service.
        secret=get_settings().base_url + url_for("web.register_page", invite=token),
        back=url_for("web.admin_users", _anchor="invites"),
    )


@bp.post("/admin/invites/<int(max=2147483647):invite_id>/revoke")
@admin_required("web:admin:invite:revoke", tokens=False)
@accepts_body(FORM)
def admin_revoke_invite(invite_id: int) -> Response:
    db = db_session()
    try:
        services.revoke_invite(
            db, get_deps(), actor_id=require_principal().user.id, invite_id=invite_id
        )
    except AccountNotFound as err:
        raise AccountNotFound(
            "That invitation was already used, revoked or never existed."
        ) from err
    db.commit()
    return done("The invitation was revoked: its link no longer works.", "web.admin_users",
                _anchor="invites")  # fmt: skip
