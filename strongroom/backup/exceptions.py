"""The backup domain's exceptions; every message is a sentence fit for the operator."""

from __future__ import annotations

from strongroom.exceptions import StrongroomError


class BackupError(StrongroomError):
    """A backup cannot be created, read, verified or restored."""


class ManifestInvalid(BackupError):
    """The manifest is missing, unreadable or of an unknown format."""


class SnapshotFailed(BackupError):
    """The database snapshot (SQLite backup API or ``pg_dump``) failed."""


class BlobVanished(BackupError):
    """A blob the snapshot refers to disappeared before it could be copied."""


class RestoreRefused(BackupError):
    """The target instance is not empty, or cannot take this backup as it is."""
