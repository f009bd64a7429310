"""Backups: a consistent snapshot of the database, the blobs it refers to (copied, or
listed for S3), the latest signed checkpoint and the ledger's public key, described by
a manifest of SHA-256 hashes; verified and restored into an empty instance.

Master keys, the ledger signing key, settings and ``<data dir>/dev-secrets/`` are never
part of a backup (docs/operations/backup.md, docs/operations/keys.md).
"""
