"""The owner's sharing forms on a file's page: grants to named users (add, change the
expiry, revoke) and share links (create, revoke).

The same services as the grants and links APIs do the work, after the same policy
check (``Action.SHARE`` / ``Action.REVOKE``). A refused form shows the file page again
with the service's own message, so an unknown user gets exactly the API's answer
and the page tells no more about which accounts exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Response
from marshmallow import ValidationError

from strongroom.auth.authn import get_deps
from strongroom.auth.policy import login_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.errors import problem_for_exception
from strongroom.files.models import StoredFile
from strongroom.sharing import grants, links
from strongroom.sharing.exceptions import SharingError
from strongroom.sharing.link_schemas import LinkIn
from strongroom.sharing.link_views import public_url
from strongroom.sharing.models import LINK_ID_LENGTH, MAX_NOTE_LENGTH
from strongroom.sharing.policy import Action
from strongroom.sharing.web import authorized_file
from strongroom.web.blueprint import FORM, bp, done, form_text
from strongroom.web.file_detail import DURATIONS, FILE_ID, Form, file_page_for

GRANT_ID = "<int(max=2147483647):grant_id>"
LINK_ID = f"<string(minlength=1,maxlength={LINK_ID_LENGTH}):link_id>"
CHOOSE_DURATION = "Choose one of the listed durations."
NO_NAME = "Type the username of the person to share with."
# What the link form says about a field the API's schema refused.
LINK_FIELD_MESSAGES = {
    "max_downloads": f"The download limit is a whole number from 1 to {links.MAX_DOWNLOADS}, "
    "or empty for no limit.",
    "note": f"The note may have up to {MAX_NOTE_LENGTH} characters, without control or "
    "invisible characters.",
    "password": f"The password may have at most {links.MAX_PASSWORD_LENGTH} characters.",
}


def ends_at(now: datetime, hours: str) -> datetime | None:
    """The end of a duration chosen from ``DURATIONS`` ("" = never); ``KeyError`` for
    anything else."""
    if hours not in DURATIONS:
        raise KeyError(hours)
    return now + timedelta(hours=int(hours)) if hours else None


def _refused(file: StoredFile, now: datetime, err: SharingError, form: Form) -> Response:
    db_session().rollback()
    problem = problem_for_exception(err)
    return file_page_for(file, now=now, status=problem.status if problem else 422, form=form)


def _back(message: str, file_id: str) -> Response:
    return done(message, "web.file_page", file_id=file_id, _anchor="sharing")


def _retry(file: StoredFile, now: datetime, form: Form) -> Response:
    return file_page_for(file, now=now, status=422, form=form)


@bp.post(f"/files/{FILE_ID}/grants")
@login_required("web:files:grant:create", tokens=False)
@accepts_body(FORM)
def add_grants(file_id: str) -> Response:
    """Share with one or more users at once: all of them, or none if one is refused."""
    file, actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    typed = {
        "usernames": form_text("usernames", limit=4096),
        "grant_for": form_text("grant_for", limit=8),
    }
    try:
        names = grants.parse_recipients(typed["usernames"])
        expires_at = ends_at(now, typed["grant_for"])
    except KeyError:
        return _retry(file, now, Form.failed("grant_for", CHOOSE_DURATION, **typed))
    except SharingError as err:
        return _refused(file, now, err, Form.failed("usernames", str(err), **typed))
    if not names:
        return _retry(file, now, Form.failed("usernames", NO_NAME, **typed))
    db = db_session()
    try:
        made = [
            grants.share(db, file, name, expires_at=expires_at, actor=actor, now=now)
            for name in names
        ]
    except SharingError as err:
        return _refused(file, now, err, Form.failed("usernames", str(err), **typed))
    # The message is made before the commit: nothing may load rows after it.
    message = f"“{file.name}” is now shared with {', '.join(g.grantee.username for g in made)}."
    db.commit()
    return _back(message, file_id)


@bp.post(f"/files/{FILE_ID}/grants/{GRANT_ID}/change")
@login_required("web:files:grant:change", tokens=False)
@accepts_body(FORM)
def change_grant(file_id: str, grant_id: int) -> Response:
    file, actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    hours = form_text("grant_for", limit=8)
    try:
        expires_at = ends_at(now, hours)
    except KeyError:
        return _retry(file, now, Form.failed(f"grant-{grant_id}", CHOOSE_DURATION))
    db = db_session()
    # GrantNotFound (another file's grant, or revoked meanwhile) becomes the 404 page.
    grant = grants.change(
        db, file, grant_id, expires_at=expires_at, permission=None, actor=actor, now=now
    )
    until = "until you revoke it" if expires_at is None else f"for {DURATIONS[hours]} from now"
    message = f"{grant.grantee.username} now has access {until}."
    db.commit()
    return _back(message, file_id)


@bp.post(f"/files/{FILE_ID}/grants/{GRANT_ID}/revoke")
@login_required("web:files:grant:revoke", tokens=False)
@accepts_body(FORM)
def revoke_grant(file_id: str, grant_id: int) -> Response:
    file, actor, now = authorized_file(Action.REVOKE, file_id, lock=True)
    db = db_session()
    who = grants.get_grant(db, file, grant_id).grantee.username
    message = f"{who} no longer has access to “{file.name}”."
    grants.revoke(db, file, grant_id, actor=actor, now=now)
    db.commit()
    return _back(message, file_id)


def _link_body(typed: dict[str, str], password: str, now: datetime) -> dict[str, Any]:
    """The form as the API's ``LinkIn`` takes it, validated by that same schema."""
    expires_at = ends_at(now, typed["link_for"])
    body: dict[str, Any] = LinkIn().load(
        {
            "expires_at": expires_at.isoformat() if expires_at else None,
            "password": password or None,
            "max_downloads": typed["max_downloads"].strip() or None,
            "note": typed["note"],
        }
    )
    return body


@bp.post(f"/files/{FILE_ID}/links")
@login_required("web:files:link:create", tokens=False)
@accepts_body(FORM)
def create_link(file_id: str) -> Response:
    """A new share link; its URL is on the answer to this form only (no-store)."""
    file, actor, now = authorized_file(Action.SHARE, file_id, lock=True)
    typed = {
        "link_for": form_text("link_for", limit=8),
        "max_downloads": form_text("max_downloads", limit=16),
        "note": form_text("note", limit=MAX_NOTE_LENGTH * 2),
    }  # the password is never shown back
    try:
        body = _link_body(typed, form_text("password", limit=4096), now)
    except KeyError:
        return _retry(file, now, Form.failed("link_for", CHOOSE_DURATION, **typed))
    except ValidationError as err:
        fields = err.messages_dict.items()
        errors = {str(k): [LINK_FIELD_MESSAGES.get(str(k), str(v))] for k, v in fields}
        return _retry(file, now, Form(typed=typed, errors=errors))
    db = db_session()
    try:
        _link, token = links.create_link(
            db, file, **body, actor=actor, now=now, passwords=get_deps().passwords
        )
    except SharingError as err:
        return _refused(file, now, err, Form.failed("link", str(err), **typed))
    # Drawn before the commit, like the API's answer: no read may reopen the write lock.
    response = file_page_for(file, now=now, status=201, form=Form(new_link=public_url(token)))
    db.commit()
    response.headers["Cache-Control"] = "no-store"  # the link is a secret shown once
    return response


@bp.post(f"/files/{FILE_ID}/links/{LINK_ID}/revoke")
@login_required("web:files:link:revoke", tokens=False)
@accepts_body(FORM)
def revoke_link(file_id: str, link_id: str) -> Response:
    file, actor, now = authorized_file(Action.REVOKE, file_id, lock=True)
    db = db_session()
    # LinkNotFound (another file's link) becomes the 404 page.
    links.revoke_link(db, file, link_id, actor=actor, now=now)
    db.commit()
    return _back("The share link was revoked; it no longer works.", file_id)
