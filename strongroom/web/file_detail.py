"""A file's page: its facts and download for everyone who may read it; rename,
delete, grants and share links for its owner (``file_sharing`` has the sharing forms).

Every lookup goes through ``sharing.web.authorized_file``, as the API's do: a file the
caller may not know about is a 404, one they may read but not change a 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import Response, current_app

from strongroom.auth.authn import require_principal
from strongroom.auth.policy import login_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.files import services as file_services
from strongroom.files import storing
from strongroom.files.deps import get_file_deps
from strongroom.files.exceptions import InvalidFileName
from strongroom.files.models import StoredFile
from strongroom.files.names import MAX_NAME_LENGTH
from strongroom.sharing import grants, links
from strongroom.sharing.link_views import link_out
from strongroom.sharing.policy import Action, Actor, can
from strongroom.sharing.views import grant_out
from strongroom.sharing.web import authorized_file
from strongroom.web.blueprint import FORM, bp, done, form_text, page

FILE_ID = "<string(minlength=1,maxlength=64):file_id>"
# The history page belongs to the ledger's pages; link to it once it is registered.
HISTORY_ENDPOINT = "web.file_history"
# Expiry choices of the grant and link forms, in hours ("" = never). Offered as
# durations rather than dates: the server does not know the reader's time zone.
DURATIONS = {"1": "1 hour", "24": "1 day", "168": "7 days", "720": "30 days", "": "Never"}


@dataclass
class Form:
    """What a re-shown file page keeps: the fields typed (never a password), the
    errors by field, and a new share link's URL (shown this once)."""

    typed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    new_link: str | None = None

    @classmethod
    def failed(cls, field_name: str, message: str, /, **typed: str) -> Form:
        return cls(typed=typed, errors={field_name: [message]})


@bp.get(f"/files/{FILE_ID}")
@login_required("web:files:file", tokens=False)
def file_page(file_id: str) -> Response:
    file, _actor, now = authorized_file(Action.VIEW, file_id)
    return file_page_for(file, now=now)


def file_page_for(
    file: StoredFile, *, now: datetime, status: int = 200, form: Form | None = None
) -> Response:
    """The file's page; the owner's management parts only for those who may share."""
    principal = require_principal()
    # Only an owner may share, so whether a grant exists cannot change this answer.
    manages = can(Actor.of(principal), Action.SHARE, file, None, now).allowed
    db = db_session()
    context: dict[str, object] = {}
    if manages:
        context = {
            "grants": [grant_out(g, now) for g in grants.grants_of(db, file)],
            "links": [link_out(link, now) for link in links.list_links(db, file)],
        }
    return page(
        "file.html", status=status, file=file, manages=manages, now=now,
        form=form or Form(), durations=DURATIONS,
        history=HISTORY_ENDPOINT in current_app.view_functions, **context,
    )  # fmt: skip


@bp.post(f"/files/{FILE_ID}/rename")
@login_required("web:files:rename", tokens=False)
@accepts_body(FORM)
def rename_file(file_id: str) -> Response:
    file, actor, now = authorized_file(Action.RENAME, file_id, lock=True)
    typed = form_text("name", limit=MAX_NAME_LENGTH * 4)
    db = db_session()
    old = file.name
    try:
        file_services.rename_file(db, file, new_name=typed, actor=actor, at=now)
    except InvalidFileName as err:
        db.rollback()
        return file_page_for(
            file, now=now, status=422, form=Form.failed("name", str(err), name=typed)
        )
    db.commit()
    if file.name == old:
        return done("The name is unchanged.", "web.file_page", file_id=file.id)
    return done(f"Renamed to “{file.name}”.", "web.file_page", file_id=file.id)


@bp.post(f"/files/{FILE_ID}/delete")
@login_required("web:files:delete", tokens=False)
@accepts_body(FORM)
def delete_file(file_id: str) -> Response:
    file, actor, now = authorized_file(Action.DELETE, file_id, lock=True)
    name = file.name
    db = db_session()
    blob_key = file_services.delete_file(db, file, actor=actor, at=now)
    db.commit()
    storing.discard_blob(get_file_deps().store, blob_key)
    return done(f"“{name}” was deleted.", "web.files")
