"""The request-side halves of an upload and a download.

``receive_upload`` turns a request body (raw or multipart) into a stored file
following DESIGN.md section 3; ``damage_recorder`` gives a download stream the means
to log and ledger damage it finds after the request has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import IO, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from strongroom.auth.authn import get_deps
from strongroom.auth.models import User
from strongroom.context import get_database
from strongroom.files import storing
from strongroom.files.deps import FileDeps
from strongroom.files.exceptions import BadUpload
from strongroom.files.models import StoredFile
from strongroom.files.names import clean_name
from strongroom.files.reading import DamageHandler
from strongroom.files.upload import MultipartUpload, boundary_of, read_chunks
from strongroom.ledger.services import record_event

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"


class UploadExtras(Protocol):
    """What another domain adds to an upload (sharing at upload): its form fields,
    a check before any byte is stored, and rows written in the upload's transaction."""

    fields: frozenset[str]

    def check(self, db: Session, owner: User, fields: Mapping[str, str]) -> None:
        """Refuse the upload early (fields sent before the file; query parameters)."""

    def apply(self, db: Session, row: StoredFile, fields: Mapping[str, str]) -> None:
        """Write what goes with the new row, in its transaction (all form fields)."""


def receive_upload(
    stream: IO[bytes],
    *,
    declared_length: int | None,
    multipart: bool,
    content_type_options: dict[str, str],
    raw_name: str | None,
    owner: User,
    csrf_check: Callable[[str | None], None],
    deps: FileDeps,
    db: Session,
    at: datetime,
    extras: UploadExtras | None = None,
) -> StoredFile:
    """Stream, encrypt and store the body's file, then commit its row and entry.

    Raises ``BadUpload``, ``InvalidFileName``, ``FileTooLarge``, ``QuotaExceeded``,
    ``UploadIncomplete``, ``CsrfFailed`` (and what ``extras`` raises); in every case
    nothing stays behind.
    """
    known = frozenset({CSRF_FIELD}) | (extras.fields if extras is not None else frozenset())
    fields: dict[str, str] = {}
    if multipart:
        try:
            boundary = boundary_of(content_type_options)
        except BadUpload:
            csrf_check(None)  # a form that cannot carry its token is refused as such first
            raise
        form = MultipartUpload(stream, boundary, declared_length)
        chunks = form.open_file()
        # The token must come before the file, so a forged cross-site form is
        # refused before a byte of it is stored.
        csrf_check(form.fields.get(CSRF_FIELD))
        _refuse_unknown_fields(form.fields, known)
        raw_name = form.filename
        fields = form.fields
    else:
        # A cookie session's CSRF check is deferred to the form only for multipart
        # bodies; if one was deferred, this is not the body it was deferred for: refuse.
        csrf_check(None)
        chunks = read_chunks(stream, expected=declared_length)
    if extras is not None:
        extras.check(db, owner, fields)
    if not raw_name:
        raise BadUpload(
            f"Name the file: the {'filename' if multipart else 'X-File-Name header'} is missing."
        )
    name = clean_name(raw_name)
    allowance = storing.quota_allowance(db, owner.id, deps.limits.user_quota)
    db.rollback()  # hold no transaction (and on SQLite no write lock) while streaming
    blob = storing.write_blob(
        chunks if not multipart else _then_finish(chunks, form, known),
        name=name,
        store=deps.store,
        keys=deps.keys,
        segment_size=deps.limits.segment_size,
        max_size=deps.limits.max_upload_size,
        allowance=allowance,
    )
    try:
        row = storing.record_upload(
            db, blob, owner=owner, name=name, raw_name=raw_name, quota=deps.limits.user_quota, at=at
        )
        if extras is not None:
            extras.apply(db, row, fields)
        db.commit()
    except BaseException:
        db.rollback()
        if not _committed_anyway(blob.file_id):
            storing.discard_blob(deps.store, blob.blob_key)
        raise
    log.info("file stored", extra={"file_id": row.id, "size": row.size})
    return row


def _committed_anyway(file_id: str) -> bool:
    """Whether the row exists after all: a commit can succeed on the server and still
    raise here (the connection dropped before the answer). Its blob must then stay;
    when the database cannot tell, the blob stays too and ``storage gc`` removes it
    later if no row refers to it."""
    try:
        with get_database().session(write=False) as check:
            return check.get(StoredFile, file_id) is not None
    except SQLAlchemyError:
        log.warning("could not tell whether an upload committed; its blob is kept")
        return True


def _then_finish(
    chunks: Iterator[bytes], form: MultipartUpload, known: frozenset[str]
) -> Iterator[bytes]:
    """The file's bytes, then the rest of the form read and checked, all before the
    blob is committed: a malformed ending or a second file leaves nothing behind."""
    yield from chunks
    form.finish()
    _refuse_unknown_fields(form.fields, known)


def _refuse_unknown_fields(fields: Mapping[str, str], known: frozenset[str]) -> None:
    unknown = sorted(set(fields) - known)
    if unknown:
        raise BadUpload(
            f"Unknown form fields: {', '.join(unknown)} (a form sends 'csrf_token', then "
            f"'file'; also allowed: {', '.join(sorted(known - {CSRF_FIELD})) or 'nothing'})."
        )


def damage_recorder(file_id: str) -> DamageHandler:
    """A handler that logs and ledgers damage found while streaming ``file_id``; it
    needs no request context, since the stream outlives the request."""
    database = get_database()
    now = get_deps().now

    def record(reason: str) -> None:
        log.error("stored file failed verification", extra={"file_id": file_id, "reason": reason})
        try:
            with database.session() as db:
                record_event(
                    db,
                    "file:corrupt",
                    actor="system",
                    target=f"file:{file_id}",
                    details={"during": "download", "reason": reason[:200]},
                    at=now(),
                )
                db.commit()
        except SQLAlchemyError:
            log.exception("could not ledger the damage", extra={"file_id": file_id})

    return record
