"""Sending a file's plaintext as an HTTP response, for every route that serves one
(the owner's and grantees' download, share links).

Each route authorizes and ledgers the read its own way; then they all read the
range, open the stream and shape the headers here, so a file leaves the service with
the same headers, whatever the route.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from flask import Response, request

from strongroom.files import reading
from strongroom.files.deps import get_file_deps
from strongroom.files.http import (
    content_disposition,
    etag_for,
    if_range_matches,
    parse_range,
    repr_digest,
)
from strongroom.files.models import StoredFile
from strongroom.files.sniff import is_active_content, may_be_inline
from strongroom.files.transfer import damage_recorder
from strongroom.ops import metrics


def requested_range(row: StoredFile) -> tuple[str, tuple[int, int] | None]:
    """The file's ETag and the byte range the request asks for (``None``: all of it).

    Raises ``RangeNotSatisfiable`` for a valid range that selects no byte.
    """
    etag = etag_for(row.id, row.sha256)
    byte_range = None
    if if_range_matches(request.headers.get("If-Range"), etag):
        byte_range = parse_range(request.headers.get("Range"), row.size)
    return etag, byte_range


def plaintext_of(snapshot: reading.Snapshot, byte_range: tuple[int, int] | None) -> Iterator[bytes]:
    """The decrypted stream of ``snapshot`` (first piece already read and verified)."""
    deps = get_file_deps()
    return reading.plaintext(
        snapshot,
        store=deps.store,
        keys=deps.keys,
        byte_range=byte_range,
        on_damage=damage_recorder(snapshot.id),
    )


def content_response(
    row: StoredFile, body: Iterable[bytes], byte_range: tuple[int, int] | None, etag: str
) -> Response:
    """A 200 (or 206 for ``byte_range``) response streaming ``body``, the content of ``row``."""
    inline = request.args.get("disposition") == "inline" and may_be_inline(row.content_type)
    headers = {
        "Content-Disposition": content_disposition(
            row.name, inline=inline and not is_active_content(row.content_type)
        ),
        "Repr-Digest": repr_digest(row.sha256),
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        # Even opened directly, the content can run nothing and load nothing.
        "Content-Security-Policy": "sandbox; default-src 'none'",
    }
    status = 200
    length = row.size
    if byte_range is not None:
        start, end = byte_range
        status, length = 206, end - start + 1
        headers["Content-Range"] = f"bytes {start}-{end}/{row.size}"
    headers["Content-Length"] = str(length)
    if request.method != "HEAD" and request.url_rule is not None:
        body = metrics.MeteredDownload(body, route=request.url_rule.rule, expected=length)
    # ``content_type``, not ``mimetype``: the stored type already says its charset (or
    # deliberately none), and werkzeug would add "; charset=utf-8" to any text type.
    return Response(
        body,
        status=status,
        headers=headers,
        content_type=row.content_type,
        direct_passthrough=True,
    )
