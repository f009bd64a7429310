"""One account, as an admin sees it: its facts and recent events, and the actions
(disable or enable, change the role, reset the password, turn off 2FA).

Every action calls the admin API's service, which applies the rules: disabling,
a role change or a reset ends the account's sessions and revokes its tokens, and the
last active administrator cannot be disabled or demoted. As in the API, an admin
resets neither their own password nor their own 2FA here: the account pages ask
for proof of the old ones.
"""

from __future__ import annotations

from flask import Response, request, url_for

from strongroom.admin import monitoring, services
from strongroom.admin.schemas import ROLES
from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.exceptions import Conflict
from strongroom.auth.models import Role, Status, User
from strongroom.auth.policy import admin_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.ledger.vocabulary import TAGS
from strongroom.web.admin import secret_page
from strongroom.web.blueprint import FORM, bp, done, page

USER_ID = "<int(max=2147483647):user_id>"
OWN_ACCOUNT = "This is your own account: change your password and 2FA on your account pages."


def _user(user_id: int) -> User:
    """The account, or the 404 page."""
    return services.get_user(db_session(), user_id)


def _user_page(user: User, *, status: int = 200, error: str = "", role: str = "") -> Response:
    db = db_session()
    events = monitoring.user_events(db, user_id=user.id)
    return page(
        "admin_user.html", status=status, account=user, roles=ROLES,
        chosen_role=role or str(user.role), error=error, events=events,
        names=monitoring.usernames(db, events), tags=TAGS,
        own=user.id == require_principal().user.id,
    )  # fmt: skip


def _refused(user: User, err: Conflict, *, role: str = "") -> Response:
    """A rule said no (the last admin, nothing to reset): the page again, with why."""
    db_session().rollback()
    return _user_page(_user(user.id), status=409, error=str(err), role=role)


@bp.get(f"/admin/users/{USER_ID}")
@admin_required("web:admin:user", tokens=False)
def admin_user(user_id: int) -> Response:
    return _user_page(_user(user_id))


@bp.post(f"/admin/users/{USER_ID}/status")
@admin_required("web:admin:user:status", tokens=False)
@accepts_body(FORM)
def admin_user_status(user_id: int) -> Response:
    user = _user(user_id)
    wanted = request.form.get("status", "")
    if wanted not in {s.value for s in Status}:
        return _user_page(user, status=422, error="Choose whether to enable or disable it.")
    db = db_session()
    try:
        services.set_status(
            db, get_deps(), actor=require_principal().actor, user=user, status=Status(wanted)
        )
    except Conflict as err:
        return _refused(user, err)
    db.commit()
    if wanted == Status.DISABLED:
        message = (
            f"{user.username} is disabled: their sessions ended and their tokens were revoked."
        )
    else:
        message = f"{user.username} is enabled again and can sign in."
    return done(message, "web.admin_user", user_id=user.id)


@bp.post(f"/admin/users/{USER_ID}/role")
@admin_required("web:admin:user:role", tokens=False)
@accepts_body(FORM)
def admin_user_role(user_id: int) -> Response:
    user = _user(user_id)
    wanted = request.form.get("role", "")[:16]
    if wanted not in ROLES:
        return _user_page(user, status=422, error="Choose a role: user or admin.")
    if wanted == user.role:
        return done(f"{user.username} already has that role; nothing changed.",
                    "web.admin_user", user_id=user.id)  # fmt: skip
    db = db_session()
    try:
        services.set_role(
            db, get_deps(), actor=require_principal().actor, user=user, role=Role(wanted)
        )
    except Conflict as err:
        return _refused(user, err, role=wanted)
    db.commit()
    title = "an administrator" if wanted == Role.ADMIN else "a user"
    return done(f"{user.username} is now {title}. They must sign in again.",
                "web.admin_user", user_id=user.id)  # fmt: skip


@bp.post(f"/admin/users/{USER_ID}/password-reset")
@admin_required("web:admin:user:password-reset", tokens=False)
@accepts_body(FORM)
def admin_user_password_reset(user_id: int) -> Response:
    user = _user(user_id)
    if user.id == require_principal().user.id:
        return _user_page(user, status=409, error=OWN_ACCOUNT)
    db = db_session()
    password = services.reset_password(db, get_deps(), actor=require_principal().actor, user=user)
    db.commit()
    return secret_page(
        title="Password reset",
        message=f"{user.username} now has this temporary password; their sessions ended and "
        "their tokens were revoked. Give it to them through a safe channel: it is shown "
        "only now, and they must choose their own password when they sign in.",
        label="Temporary password",
        secret=password,
        back=url_for("web.admin_user", user_id=user.id),
    )


@bp.post(f"/admin/users/{USER_ID}/2fa-reset")
@admin_required("web:admin:user:2fa-reset", tokens=False)
@accepts_body(FORM)
def admin_user_two_factor_reset(user_id: int) -> Response:
    user = _user(user_id)
    if user.id == require_principal().user.id:
        return _user_page(user, status=409, error=OWN_ACCOUNT)
    db = db_session()
    try:
        services.reset_two_factor(db, get_deps(), actor=require_principal().actor, user=user)
    except Conflict as err:
        return _refused(user, err)
    db.commit()
    return done(f"Two-factor authentication is off for {user.username}; their sessions "
                "ended. They can set it up again after signing in.",
                "web.admin_user", user_id=user.id)  # fmt: skip
