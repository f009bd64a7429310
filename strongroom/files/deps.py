"""What the files domain needs from the outside, built once from the settings.

``FileDeps`` holds the blob store, the key provider and the limits; views find it on
the app, services receive its parts as arguments, and tests hand in others.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app

from strongroom.crypto.exceptions import KeyringInvalid
from strongroom.crypto.keyfile import KeyFileKeyring
from strongroom.crypto.keys import KeyProvider, LocalKeyring, generate_key, key_line
from strongroom.devkeys import dev_secrets_dir
from strongroom.ops.metrics_storage import metered_store
from strongroom.settings import ConfigError, Mode, Settings, env_name
from strongroom.storage.interfaces import BlobStore
from strongroom.storage.local import LocalBlobStore

DEV_KEYRING_NAME = "master-keys"
_KEY = "strongroom.files"


@dataclass(frozen=True)
class Limits:
    """Sizes an upload must respect."""

    max_upload_size: int
    user_quota: int  # 0: no quota
    segment_size: int


@dataclass(frozen=True)
class FileDeps:
    """The blob store, the master keys and the limits of one app."""

    store: BlobStore
    keys: KeyProvider
    limits: Limits

    @classmethod
    def from_settings(cls, settings: Settings) -> FileDeps:
        """Build the store and key provider; raises ``ConfigError`` for unusable keys."""
        limits = Limits(
            max_upload_size=settings.max_upload_size,
            user_quota=settings.user_quota,
            segment_size=settings.file_segment_size,
        )
        store = metered_store(make_store(settings))
        return cls(store=store, keys=load_keyring(settings), limits=limits)


def make_store(settings: Settings) -> BlobStore:
    """The blob store the settings name."""
    if settings.storage_backend == "s3":
        # Imported here: boto3 adds about 10 MB to every server process, which a
        # deployment on the local store should not pay (docs/benchmarks.md).
        from strongroom.storage.s3 import S3BlobStore  # noqa: PLC0415

        secret = settings.s3_secret_access_key
        return S3BlobStore(
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=secret.get_secret_value() if secret else None,
            part_size=settings.s3_part_size,
            max_attempts=settings.s3_max_attempts,
            connect_timeout=settings.s3_connect_timeout,
            read_timeout=settings.s3_read_timeout,
        )
    return LocalBlobStore(settings.storage_dir or settings.data_dir / "blobs")


def keyring_path(settings: Settings) -> Path | None:
    """The key file in use: the configured one, the development one, or ``None``
    when the keys come from ``STRONGROOM_MASTER_KEYS``."""
    if settings.master_keys is not None:
        return None
    if settings.master_key_file is not None:
        return settings.master_key_file
    return dev_secrets_dir(settings.data_dir) / DEV_KEYRING_NAME


Keyring = LocalKeyring | KeyFileKeyring


def load_keyring(settings: Settings, *, create: bool = True) -> Keyring:
    """The local keyring from the environment, or one following the key file (or,
    outside production, the development key file, generated on first use).

    Raises ``ConfigError`` naming the setting when the keys cannot be used.
    """
    try:
        if settings.master_keys is not None:
            return LocalKeyring.from_text(settings.master_keys.get_secret_value())
        path = keyring_path(settings)
        assert path is not None  # noqa: S101  # only None with STRONGROOM_MASTER_KEYS
        if settings.master_key_file is None and create and settings.mode is not Mode.PRODUCTION:
            _create_dev_keyring(path)
        return KeyFileKeyring(path)
    except FileNotFoundError as err:
        raise ConfigError(
            [f"{env_name('master_key_file')} ({err.filename}) does not exist."]
        ) from err
    except KeyringInvalid as err:
        source = "master_keys" if settings.master_keys is not None else "master_key_file"
        raise ConfigError([f"{env_name(source)}: {err}"]) from err


def _create_dev_keyring(path: Path) -> None:
    """Write a first master key once; concurrent first starts agree on one file.

    The key is written in full under a temporary name and linked into place, so a
    second process either wins (and its key is the one) or finds the winner's file.
    """
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (key_line("1", generate_key()) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: its key is the one
    finally:
        tmp.unlink()


def init_app(app: Flask, deps: FileDeps) -> None:
    app.extensions[_KEY] = deps


def get_file_deps() -> FileDeps:
    deps: FileDeps = current_app.extensions[_KEY]
    return deps
