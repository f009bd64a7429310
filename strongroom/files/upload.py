"""Reading an upload from the request body as a stream of plaintext chunks.

Two shapes are accepted: a raw body (``application/octet-stream``, the name in the
``X-File-Name`` header or the ``name`` query parameter) and ``multipart/form-data``
with one ``file`` part (browsers). Neither is ever spooled to disk or held whole in
memory: werkzeug's form parser would write large parts to a temporary file in
plaintext, so multipart bodies are decoded here, one chunk at a time, with werkzeug's
sans-IO decoder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.sansio.multipart import Data, Epilogue, Event, Field, File, MultipartDecoder, NeedData

from strongroom.files.exceptions import BadUpload, UploadIncomplete

READ_SIZE = 1024 * 1024
FILE_FIELD = "file"
# Form fields other than the file are small (a name, a CSRF token, a list of
# usernames); anything larger is refused rather than buffered.
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 16
MAX_PART_HEADER_BYTES = 16 * 1024


def read_chunks(
    stream: IO[bytes], *, expected: int | None = None, size: int = READ_SIZE
) -> Iterator[bytes]:
    """The body in chunks, never past ``expected`` bytes when a length was declared.

    A body that ends before its declared ``Content-Length`` (``expected``) raises
    ``UploadIncomplete``: servers that terminate the input themselves (gunicorn)
    report a client that went away as a plain end of the stream, or as an I/O error.
    """
    seen = 0
    while expected is None or seen < expected:
        want = size if expected is None else min(size, expected - seen)
        try:
            chunk = stream.read(want)
        except (ClientDisconnected, OSError) as err:
            raise UploadIncomplete("The upload ended before the declared length.") from err
        if not chunk:
            break
        seen += len(chunk)
        yield chunk
    if expected is not None and seen < expected:
        raise UploadIncomplete(
            f"The upload ended after {seen} of the {expected} bytes it declared."
        )


def body_stream(environ: dict[str, Any], fallback: IO[bytes], declared: int | None) -> IO[bytes]:
    """Where to read an upload from.

    With a declared length, straight from the server's input: the length was already
    checked against the limit before reading, and ``read_chunks`` never reads past it,
    so the wrappers werkzeug and ``bodies.CappedStream`` add (each copying every byte
    again) are not needed. A chunked body keeps them: its limit is only enforced there.
    """
    if declared is None:
        return fallback
    stream: IO[bytes] = environ["wsgi.input"]
    return stream


@dataclass
class MultipartUpload:
    """One ``file`` part and a few small fields from a multipart body.

    ``fields`` holds the fields read so far: those before the file part are there
    when ``file_chunks`` starts, those after it once the body has been read to the
    end (``finish``). Browsers send fields in form order.
    """

    stream: IO[bytes]
    boundary: bytes
    expected: int | None = None
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    _decoder: MultipartDecoder = field(init=False)
    _source: Iterator[bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._decoder = MultipartDecoder(self.boundary, max_parts=MAX_FIELDS + 1)
        self._source = read_chunks(self.stream, expected=self.expected)

    def open_file(self) -> Iterator[bytes]:
        """Read up to the ``file`` part and return an iterator over its bytes.

        Raises ``BadUpload`` when the body ends first or is not valid multipart.
        """
        while True:
            event = self._next()
            if isinstance(event, File) and event.name == FILE_FIELD:
                self.filename = event.filename
                return self._data()
            if isinstance(event, File):
                raise BadUpload(f"Unexpected file part {event.name!r}: send it as 'file'.")
            if isinstance(event, Field):
                self._read_field(event.name)
            elif isinstance(event, Epilogue):
                raise BadUpload("The form has no 'file' part.")

    def finish(self) -> None:
        """Read the rest of the body: fields after the file; a second file is refused."""
        while True:
            event = self._next()
            if isinstance(event, Epilogue):
                return
            if isinstance(event, File):
                raise BadUpload("Send one file per request.")
            if isinstance(event, Field):
                self._read_field(event.name)

    def _data(self) -> Iterator[bytes]:
        while True:
            event = self._next()
            if not isinstance(event, Data):
                raise BadUpload("The multipart body is malformed.")
            if event.data:
                yield event.data
            if not event.more_data:
                return

    def _read_field(self, name: str) -> None:
        if len(self.fields) >= MAX_FIELDS or name in self.fields:
            raise BadUpload(f"Too many form fields, or {name!r} sent twice.")
        value = bytearray()
        while True:
            event = self._next()
            if not isinstance(event, Data):
                raise BadUpload("The multipart body is malformed.")
            value.extend(event.data)
            if len(value) > MAX_FIELD_BYTES:
                raise BadUpload(f"The form field {name!r} is too long.")
            if not event.more_data:
                break
        try:
            self.fields[name] = value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadUpload(f"The form field {name!r} is not UTF-8.") from err

    def _next(self) -> Event:
        try:
            while True:
                event = self._decoder.next_event()
                if not isinstance(event, NeedData):
                    return event
                if len(self._decoder.buffer) > MAX_PART_HEADER_BYTES + READ_SIZE:
                    raise BadUpload("A multipart part header is too long.")
                self._decoder.receive_data(next(self._source, None))
        except ValueError as err:  # UnicodeDecodeError included
            raise BadUpload(f"The multipart body is malformed: {err}") from err
        except RequestEntityTooLarge as err:  # werkzeug's answer to too many parts
            raise BadUpload("The form has too many parts.") from err


def boundary_of(content_type_options: dict[str, str]) -> bytes:
    """The multipart boundary; raises ``BadUpload`` when it is missing or unusable."""
    boundary = content_type_options.get("boundary", "")
    if not boundary or len(boundary) > 70 or not boundary.isascii():
        raise BadUpload("The multipart Content-Type needs a boundary of 1-70 ASCII characters.")
    return boundary.encode("ascii")
