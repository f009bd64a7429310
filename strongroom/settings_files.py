"""Settings for files: master keys, blob storage (local or S3), sizes and quotas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
# S3 refuses multipart parts under 5 MiB (except the last) and allows 10,000 parts, so
# the part size also bounds the largest object: 8 MiB x 10,000 = 78 GiB.
S3_MIN_PART_SIZE = 5 * MIB


class FileSettings(BaseSettings):
    """The file-storage part of ``Settings`` (inherited, never used alone)."""

    master_keys: SecretStr | None = Field(
        None,
        description="Master keys that wrap each file's data key, as comma-separated "
        "`<version>:<base64 of 32 bytes>` entries; the highest version wraps new files "
        "(`strongroom keys generate` prints one). Production needs this or "
        "`STRONGROOM_MASTER_KEY_FILE`. Losing them makes every file unreadable.",
    )
    master_key_file: Path | None = Field(
        None,
        description="A file holding the master keys (same format, one per line, mode 0600). "
        "`strongroom keys rotate` adds new versions to it. Outside production, when neither "
        "this nor `STRONGROOM_MASTER_KEYS` is set, `<data dir>/dev-secrets/master-keys` is "
        "generated once.",
    )
    storage_backend: Literal["local", "s3"] = Field(
        "local",
        description="Where encrypted blobs are kept: `local` (a directory) or `s3` "
        "(any S3-compatible object store).",
    )
    storage_dir: Path | None = Field(
        None, description="Directory of the local blob store. Empty means `<data dir>/blobs`."
    )
    s3_bucket: str = Field("", description="S3 bucket for blobs (required with `s3`).")
    s3_prefix: str = Field(
        "", description="Key prefix inside the bucket (`strongroom/`), so a bucket can be shared."
    )
    s3_endpoint_url: str = Field(
        "",
        description="S3 endpoint URL for non-AWS stores (MinIO, Ceph, R2). Empty means AWS.",
    )
    s3_region: str = Field("", description="S3 region (`eu-west-1`). Empty means the default.")
    s3_access_key_id: str = Field(
        "", description="S3 access key id. Empty means boto3's usual credential chain."
    )
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_part_size: int = Field(
        8 * MIB,
        ge=S3_MIN_PART_SIZE,
        le=512 * MIB,
        description="Bytes per multipart-upload part; one part per upload is held in memory.",
    )
    s3_max_attempts: int = Field(
        4, ge=1, le=10, description="Attempts per S3 request (transient errors are retried)."
    )
    s3_connect_timeout: float = Field(5.0, gt=0, le=120, description="Seconds to connect to S3.")
    s3_read_timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds to wait for S3 to answer a request."
    )
    file_segment_size: int = Field(
        64 * KIB,
        ge=4 * KIB,
        le=16 * MIB,
        description="Plaintext bytes per encrypted segment of new files (see "
        "docs/spec/file-format.md; existing files keep theirs).",
    )
    user_quota: int = Field(
        10 * GIB,
        ge=0,
        description="Bytes each user may store in all (plaintext sizes). 0 means no quota.",
    )
    storage_gc_grace_seconds: int = Field(
        24 * 3600,
        ge=60,
        description="Age a blob (or an interrupted upload) must reach before "
        "`strongroom storage gc` may remove it when no file refers to it.",
    )

    @field_validator("file_segment_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        # Powers of two keep segments aligned with pages and S3 parts.
        if value & (value - 1):
            raise ValueError("must be a power of two (4096 ... 16777216)")
        return value

    @field_validator("s3_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError("must be a relative key prefix without '..'")
        return value

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> Self:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("STRONGROOM_S3_BUCKET is required with STRONGROOM_STORAGE_BACKEND=s3")
        return self
