"""Shared with me: the files other people shared with the signed-in user, paged, with
download and "remove from my list" (which ends the user's own access)."""

from __future__ import annotations

from flask import Response

from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.policy import login_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.sharing import grants
from strongroom.web.blueprint import FORM, bp, done, int_arg, page
from strongroom.web.file_detail import FILE_ID

PAGE_SIZE = 50


@bp.get("/shared")
@login_required("web:shared", tokens=False)
def shared() -> Response:
    user = require_principal().user
    page_number = int_arg("page", 1)
    found = grants.shared_with(
        db_session(), user.id, now=get_deps().now(),
        offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE,
    )  # fmt: skip
    return page(
        "shared.html",
        items=found.items,
        total=found.total,
        page=page_number,
        pages=max(1, -(-found.total // PAGE_SIZE)),
    )


@bp.post(f"/shared/{FILE_ID}/decline")
@login_required("web:shared:decline", tokens=False)
@accepts_body(FORM)
def decline(file_id: str) -> Response:
    user = require_principal().user
    db = db_session()
    # FileNotFound (nothing shared with this user under that id) becomes the 404 page.
    grants.decline(db, file_id, user_id=user.id, now=get_deps().now())
    db.commit()
    return done(
        "The file was removed from your list; you no longer have access to it.", "web.shared"
    )
