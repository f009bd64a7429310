"""My files: the list (search, sort, pages) and the upload form that works without
JavaScript. The upload goes through the same streamed, encrypted request path as
the API (``files.views.upload_from_request``); with JavaScript, ``upload.js`` takes
the form over and sends each file to the JSON API with progress and cancel."""

from __future__ import annotations

from flask import Response, request

from strongroom.auth.authn import get_deps, require_principal
from strongroom.auth.policy import login_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session
from strongroom.errors import problem_for_exception
from strongroom.files import services as file_services
from strongroom.files.deps import get_file_deps
from strongroom.files.exceptions import FileError
from strongroom.files.views import upload_from_request
from strongroom.sharing.exceptions import SharingError
from strongroom.sharing.grants import ShareAtUpload
from strongroom.storage.interfaces import StorageError
from strongroom.web.blueprint import bp, done, int_arg, page

PAGE_SIZE = 50
SORTS = {
    "-created": "Newest first",
    "created": "Oldest first",
    "name": "Name A-Z",
    "-name": "Name Z-A",
    "-size": "Largest first",
    "size": "Smallest first",
}


@bp.get("/files")
@login_required("web:files", tokens=False)
def files() -> Response:
    return _files_page()


def _files_page(*, status: int = 200, error: str | None = None, share_with: str = "") -> Response:
    principal = require_principal()
    query = request.args.get("q", "")[:255]
    sort = request.args.get("sort", "-created")
    if sort not in SORTS:
        sort = "-created"
    page_number = int_arg("page", 1)
    listing = file_services.list_files(
        db_session(), owner_id=principal.user.id, query=query, sort=sort,  # type: ignore[arg-type]
        offset=(page_number - 1) * PAGE_SIZE, limit=PAGE_SIZE,
    )  # fmt: skip
    return page(
        "files.html",
        status=status,
        items=listing.items,
        total=listing.total,
        query=query,
        sort=sort,
        sorts=SORTS,
        page=page_number,
        pages=max(1, -(-listing.total // PAGE_SIZE)),
        error=error,
        share_with=share_with,
        max_upload_size=get_file_deps().limits.max_upload_size,
    )


@bp.post("/files/upload")
@login_required("web:files:upload", tokens=False)
@accepts_body("multipart/form-data", limit="max_upload_size", streamed=True)
def upload() -> Response:
    """The upload form without JavaScript: the same streamed, encrypted upload as the
    API, then back to the list with a message (or the list with what went wrong)."""
    sharing = ShareAtUpload(None, actor=require_principal().actor, now=get_deps().now())
    try:
        row = upload_from_request(raw_name=None, share_with=None, sharing=sharing)
    except (FileError, SharingError, StorageError) as err:
        problem = problem_for_exception(err)
        return _files_page(
            status=problem.status if problem else 400,
            error=str(err),
            share_with=(sharing.form_value or "")[:4096],
        )
    return done(f"“{row.name}” was uploaded and encrypted.", "web.files")
