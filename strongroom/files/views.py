"""The files API under ``/api/v1/files``: upload, list, metadata, rename, delete,
download, and storage usage.

Views parse, call one service and shape the answer; uploads and downloads stream.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from apiflask import APIBlueprint
from flask import Response, request, url_for
from werkzeug.http import parse_options_header

from strongroom.auth.authn import check_streamed_csrf, get_deps, require_principal
from strongroom.auth.policy import admin_required, login_required
from strongroom.bodies import accepts_body
from strongroom.context import db_session, writes_on_read
from strongroom.files import reading, services, serving, storing
from strongroom.files.deps import get_file_deps
from strongroom.files.exceptions import BadUpload
from strongroom.files.models import StoredFile
from strongroom.files.schemas import (
    FileOut,
    FilePageOut,
    ListQuery,
    RenameIn,
    StorageOverviewOut,
    UploadQuery,
    UsageOut,
)
from strongroom.files.transfer import receive_upload
from strongroom.files.upload import body_stream
from strongroom.ops import metrics
from strongroom.sharing.grants import ShareAtUpload
from strongroom.sharing.policy import Action
from strongroom.sharing.web import authorized_file

bp = APIBlueprint("files", __name__, url_prefix="/api/v1", tag="Files")
FILE_ID = "<string(minlength=1,maxlength=64):file_id>"
NAME_HEADER = "X-File-Name"
_BINARY: dict[int | str, dict[str, str | dict[str, dict[str, Any]]]] = {
    200: {"description": "The plaintext", "content": {"application/octet-stream": {}}}
}


def file_out(row: StoredFile) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "original_name": row.original_name.decode("utf-8", "replace"),
        "size": row.size,
        "content_type": row.content_type,
        "sha256": row.sha256.hex(),
        "owner": row.owner.username,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "key_version": row.key_version,
        "upload_entry": row.upload_entry,
    }


@bp.post("/files")
@login_required("files:file:upload", scope="files:write")
@accepts_body(
    "application/octet-stream", "multipart/form-data", limit="max_upload_size", streamed=True
)
@bp.input(UploadQuery, location="query", arg_name="query")
@bp.output(FileOut, status_code=201)
@bp.doc(
    summary="Upload a file (multipart `file` field, or a raw body named by "
    "`X-File-Name` / `?name=`), optionally shared at once (`share_with`); streamed and "
    "encrypted on the way"
)
def upload(query: dict[str, Any]) -> Any:
    raw_name = query["name"] or header_name(request.headers.get(NAME_HEADER))
    row = upload_from_request(raw_name=raw_name, share_with=query["share_with"])
    location = url_for("files.metadata", file_id=row.id)
    return file_out(row), 201, {"Location": location}


def upload_from_request(
    *, raw_name: str | None, share_with: str | None, sharing: ShareAtUpload | None = None
) -> StoredFile:
    """Store this request's body (raw or a form) for the signed-in caller; the API's
    upload and the web page's form both come here. ``sharing`` (made here when not
    given) lets the caller see the form's ``share_with`` after a refusal."""
    principal = require_principal()
    # ``request.mimetype`` is lower-cased, as the body and CSRF checks saw it: media
    # types are case-insensitive, and ``Multipart/Form-Data`` must be a form here too.
    _, options = parse_options_header(request.headers.get("Content-Type", ""))
    now = get_deps().now()
    with metrics.UploadTimer() as timer:
        row = receive_upload(
            body_stream(request.environ, request.stream, request.content_length),
            declared_length=request.content_length,
            multipart=request.mimetype == "multipart/form-data",
            content_type_options=options,
            raw_name=raw_name,
            owner=principal.user,
            csrf_check=check_streamed_csrf,
            deps=get_file_deps(),
            db=db_session(),
            at=now,
            extras=sharing or ShareAtUpload(share_with, actor=principal.actor, now=now),
        )
        timer.stored(row.size)
    return row


def header_name(value: str | None) -> str | None:
    """The file name from ``X-File-Name``.

    Header values arrive as bytes (WSGI hands them over as Latin-1 text). Clients send
    a name either as raw UTF-8 (curl in a UTF-8 terminal) or, to stay within ASCII, in
    the RFC 8187 form ``UTF-8''<percent-encoded>``; anything else that is not ASCII is
    refused rather than guessed at, since a wrong guess would store another name.
    """
    if value is None:
        return None
    try:
        if value[:7].lower() == "utf-8''":
            return unquote(value[7:], encoding="utf-8", errors="strict")
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError as err:
        raise BadUpload(
            f"{NAME_HEADER} must be UTF-8 (or UTF-8'' followed by the percent-encoded name); "
            "or send the name as ?name=."
        ) from err


@bp.get("/files")
@login_required("files:file:list", scope="files:read")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.output(FilePageOut)
@bp.doc(summary="My files, paged, sorted, filtered by name")
def list_files(query: dict[str, Any]) -> Any:
    owner = require_principal().user
    page = services.list_files(
        db_session(),
        owner_id=owner.id,
        query=query["q"],
        sort=query["sort"],
        offset=query["offset"],
        limit=query["limit"],
    )
    return {
        "items": [file_out(r) for r in page.items],
        "total": page.total,
        "offset": query["offset"],
        "limit": query["limit"],
    }


@bp.get(f"/files/{FILE_ID}")
@login_required("files:file:read", scope="files:read")
@bp.output(FileOut)
@bp.doc(summary="A file's metadata")
def metadata(file_id: str) -> Any:
    return file_out(_authorized(Action.VIEW, file_id))


@bp.patch(f"/files/{FILE_ID}")
@login_required("files:file:rename", scope="files:write")
@bp.input(RenameIn, arg_name="body")
@bp.output(FileOut)
@bp.doc(summary="Rename a file")
def rename(file_id: str, body: dict[str, Any]) -> Any:
    db = db_session()
    row = _authorized(Action.RENAME, file_id, lock=True)
    row = services.rename_file(
        db, row, new_name=body["name"], actor=require_principal().actor, at=get_deps().now()
    )
    db.commit()
    return file_out(row)


@bp.delete(f"/files/{FILE_ID}")
@login_required("files:file:delete", scope="files:write")
@bp.output({}, status_code=204)
@bp.doc(summary="Delete a file (its row and ledger entry at once; the blob right after)")
def delete(file_id: str) -> Any:
    db = db_session()
    row = _authorized(Action.DELETE, file_id, lock=True)
    blob_key = services.delete_file(db, row, actor=require_principal().actor, at=get_deps().now())
    db.commit()
    storing.discard_blob(get_file_deps().store, blob_key)
    return "", 204


@bp.get(f"/files/{FILE_ID}/content")
@login_required("files:file:download", scope="files:read")
@writes_on_read
@bp.doc(
    summary="Download (decrypted, streamed); single byte ranges are supported", responses=_BINARY
)
def content(file_id: str) -> Response:
    db = db_session()
    row = _authorized(Action.DOWNLOAD, file_id)
    etag, byte_range = serving.requested_range(row)
    snapshot = reading.Snapshot.of(row)
    if request.method == "HEAD":  # the headers only: nothing is read, so nothing ledgered
        db.commit()
        return serving.content_response(row, iter(()), byte_range, etag)
    services.record_download(
        db, row, actor=require_principal().actor, byte_range=byte_range, at=get_deps().now()
    )
    db.commit()
    body = serving.plaintext_of(snapshot, byte_range)
    return serving.content_response(row, body, byte_range, etag)


def _authorized(action: Action, file_id: str, *, lock: bool = False) -> StoredFile:
    """The file, if the signed-in caller may do ``action`` to it (``sharing.policy``)."""
    return authorized_file(action, file_id, lock=lock)[0]


@bp.get("/storage/usage")
@login_required("files:usage:read", scope="files:read")
@bp.output(UsageOut)
@bp.doc(summary="How much I store and how much my quota leaves")
def usage() -> Any:
    owner = require_principal().user
    used, count = storing.usage(db_session(), owner.id)
    quota = get_file_deps().limits.user_quota or None
    available = None if quota is None else max(0, quota - used)
    return {"bytes": used, "files": count, "quota": quota, "available": available}


@bp.get("/admin/storage")
@admin_required("admin:storage:read")
@bp.output(StorageOverviewOut)
@bp.doc(summary="Storage per user and files per master key version")
def overview() -> Any:
    deps = get_file_deps()
    return services.storage_overview(db_session(), keys=deps.keys, backend=deps.store.name)
