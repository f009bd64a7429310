"""The files domain's exceptions; ``strongroom.errors`` maps each to a problem type.

Messages are shown to clients: they name limits and what to change, never a storage
path, a key identifier or another user's data.
"""

from __future__ import annotations

from strongroom.exceptions import StrongroomError


class FileError(StrongroomError):
    """Base of the files domain's failures."""


class InvalidFileName(FileError):
    """The file name is empty, too long, or holds characters that are not allowed."""


class FileNotFound(FileError):
    """No such file for this caller (also used instead of "forbidden", so ids leak nothing)."""


class FileTooLarge(FileError):
    """The upload is larger than the configured maximum upload size."""


class QuotaExceeded(FileError):
    """Storing the upload would take the owner over their storage quota."""


class UploadIncomplete(FileError):
    """The body ended before its declared length, or the client went away mid-upload."""


class BadUpload(FileError):
    """The upload request is malformed: bad multipart body, no file part, or a bad header."""


class RangeNotSatisfiable(FileError):
    """The Range header asks for bytes outside the file; ``size`` is the file's length."""

    def __init__(self, size: int, message: str = "The requested range is not satisfiable.") -> None:
        super().__init__(message)
        self.size = size
        # RFC 9110 §15.5.17: a 416 should say how long the representation is.
        self.headers = {"Content-Range": f"bytes */{size}"}


class FileCorrupted(FileError):
    """A stored blob failed authentication when it was decrypted."""


class KeyUnavailable(FileError):
    """The key that wraps this file's data key cannot be reached or unwrapped."""
