"""Blob stores: where encrypted file bodies live (a local directory or an S3 bucket).

``interfaces`` holds the ``BlobStore``/``BlobWriter`` protocols and the exceptions;
``local`` and ``s3`` implement them and pass the same contract tests. This package
knows nothing of Flask, the database or the file format.
"""

from __future__ import annotations

from strongroom.storage.interfaces import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobWriter,
    InvalidBlobKey,
    StorageError,
    StorageUnavailable,
    validate_key,
)

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "BlobWriter",
    "InvalidBlobKey",
    "StorageError",
    "StorageUnavailable",
    "validate_key",
]
