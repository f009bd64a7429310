"""Blobs as objects in an S3 (or S3-compatible) bucket, at ``<prefix><key>``.

Every request has timeouts and a bounded number of attempts (botocore's standard
retry mode: transient errors and throttling are retried with jittered backoff), so a
sick store turns into ``StorageUnavailable`` in bounded time instead of a hung worker.
A blob smaller than one part is one PutObject at commit; a larger one is a multipart
upload holding one part in memory at a time, completed at commit (S3 makes the object
visible atomically) and aborted on any failure, so no half-written object ever shows.
"""

from __future__ import annotations

import builtins
import functools
import logging
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as URLLib3Error

from strongroom.storage.interfaces import (
    MAX_CHUNK,
    PROBE_PREFIX,
    BlobInfo,
    BlobNotFound,
    BlobReader,
    NoBytes,
    StorageError,
    StorageUnavailable,
    check_cutoff,
    check_range,
    is_valid_key,
    validate_key,
)

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import (
        CompletedPartTypeDef,
        GetObjectRequestTypeDef,
        ObjectTypeDef,
    )

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3 refuses smaller parts (except the last)
DEFAULT_PART_SIZE = 8 * MIB
MAX_PARTS = 10_000  # S3's limit per multipart upload
_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_NO_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _unavailable(operation: str, err: Exception) -> StorageUnavailable:
    # Shown to clients: the operation and S3's error code, never bucket or key names.
    detail = _error_code(err) if isinstance(err, ClientError) else type(err).__name__
    return StorageUnavailable(f"the S3 blob store failed ({operation}: {detail})")


def _translate(operation: str, err: Exception) -> StorageError:
    if isinstance(err, ClientError) and _error_code(err) in _NOT_FOUND:
        return BlobNotFound("no such blob")
    return _unavailable(operation, err)


def make_client(
    *,
    endpoint_url: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> S3Client:
    """An S3 client with bounded attempts (``max_attempts`` counts the first one) and
    timeouts. Custom endpoints (MinIO, Ceph, R2) get path-style addressing and
    checksums only where S3 requires them, which every S3-compatible store accepts;
    integrity does not depend on them, the blobs are authenticated ciphertext."""
    custom = endpoint_url is not None
    config = Config(
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        s3={"addressing_style": "path"} if custom else None,
        request_checksum_calculation="when_required" if custom else None,
        response_checksum_validation="when_required" if custom else None,
    )
    # One session for every store of the process: building a client from a new session
    # reloads botocore's service models each time (~0.1 s). Building clients from one
    # session is not thread-safe, hence the lock; the clients themselves are.
    with _SESSION_LOCK:
        return _shared_session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )


_SESSION_LOCK = threading.Lock()


@functools.cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session()


class S3BlobWriter:
    """A blob being uploaded; holds at most one part (``part_size`` bytes) in memory."""

    def __init__(self, client: S3Client, *, bucket: str, object_key: str, part_size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = object_key
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []
        self._state = "open"
        self.bytes_written = 0

    @property
    def upload_id(self) -> str | None:
        """The multipart upload in progress, if one was started."""
        return self._upload_id

    def write(self, data: bytes) -> None:
        """Buffer ``data``, uploading each full part; raises ``StorageUnavailable``
        (the upload is then aborted)."""
        self._require_open()
        view = memoryview(data)
        while view:
            room = self._part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) >= self._part_size:
                self._upload_part()
        self.bytes_written += len(data)

    def commit(self) -> None:
        """PutObject (small blob) or upload the last part and complete; raises
        ``StorageUnavailable`` after aborting, so nothing becomes visible."""
        self._require_open()
        if self._upload_id is not None and self._buffer:
            self._upload_part()
        try:
            if self._upload_id is None:
                body = bytes(self._buffer)
                self._client.put_object(Bucket=self._bucket, Key=self._key, Body=body)
            else:
                self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts},
                )
        except (BotoCoreError, ClientError) as err:
            self.abort()
            raise _unavailable("commit", err) from err
        self._state = "committed"
        self._buffer = bytearray()

    def abort(self) -> None:
        """Drop the buffer and abort the multipart upload; idempotent, no-op after
        ``commit()``. A failed abort is logged and left to ``cleanup_incomplete``."""
        if self._state in {"committed", "aborted"}:
            return
        self._state = "aborted"
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=upload_id
            )
        except (BotoCoreError, ClientError) as err:
            log.warning("could not abort a multipart upload", extra={"error": repr(err)})

    def _upload_part(self) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            self.abort()
            raise StorageError("the blob is too large for the configured S3 part size")
        try:
            if self._upload_id is None:
                created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
                self._upload_id = created["UploadId"]
            # Copy out and clear first, so only this one part is held during the upload.
            body, self._buffer = bytes(self._buffer), bytearray()
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=body,
            )
        except (BotoCoreError, ClientError) as err:
            self.abort()
            raise _unavailable("upload part", err) from err
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def _require_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"the blob writer is {self._state}")

    def __enter__(self) -> S3BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class _BodyChunks:
    """Iterator over a GetObject body in chunks of at most 256 KiB, never reading the
    whole body; closes it when done, on error, or when dropped."""

    def __init__(self, body: StreamingBody) -> None:
        self._body: StreamingBody | None = body
        self._chunks = body.iter_chunks(MAX_CHUNK)

    def __iter__(self) -> _BodyChunks:
        return self

    def __next__(self) -> bytes:
        if self._body is None:
            raise StopIteration
        try:
            return next(self._chunks)
        except StopIteration:
            self.close()
            raise
        except (BotoCoreError, URLLib3Error, OSError) as err:
            self.close()
            raise _unavailable("read", err) from err

    def close(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    __del__ = close


class S3BlobStore:
    """A ``BlobStore`` in an S3 bucket under ``prefix``."""

    name = "s3"
    list_page_size = 1000

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_attempts: int = 4,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        client: S3Client | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self._owns_client = client is None
        self.client: S3Client = client or make_client(
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def object_key(self, key: str) -> str:
        """The S3 key of blob ``key``; raises ``InvalidBlobKey``."""
        return self.prefix + validate_key(key)

    def create(self, key: str) -> S3BlobWriter:
        """A writer; nothing is sent before a full part or ``commit()``."""
        return S3BlobWriter(
            self.client,
            bucket=self.bucket,
            object_key=self.object_key(key),
            part_size=self.part_size,
        )

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> BlobReader:
        """A ranged GET streamed in chunks; raises ``BlobNotFound`` before yielding."""
        check_range(start, end)
        params: GetObjectRequestTypeDef = {"Bucket": self.bucket, "Key": self.object_key(key)}
        if end == start:
            self.size(key)  # an empty range still needs the blob to exist
            return NoBytes()
        if start or end is not None:  # no Range for the whole blob: empty objects have none
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            response = self.client.get_object(**params)
        except ClientError as err:
            if _error_code(err) == "InvalidRange":  # start at or past the end: no bytes
                return NoBytes()
            raise _translate("read", err) from err
        except BotoCoreError as err:
            raise _unavailable("read", err) from err
        return _BodyChunks(response["Body"])

    def size(self, key: str) -> int:
        """Size in bytes (HeadObject); raises ``BlobNotFound``."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except (BotoCoreError, ClientError) as err:
            raise _translate("head", err) from err
        return head["ContentLength"]

    def exists(self, key: str) -> bool:
        """Whether the blob is committed."""
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """DeleteObject (S3 answers the same whether or not the object existed)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except (BotoCoreError, ClientError) as err:
            raise _unavailable("delete", err) from err

    def list(self) -> Iterator[BlobInfo]:
        """Committed blobs under the prefix, page by page; probe and foreign objects
        (anything that is not prefix + valid key) are skipped."""
        for obj in self._objects(self.prefix):
            name = obj["Key"][len(self.prefix) :]
            if is_valid_key(name):
                modified = obj["LastModified"].astimezone(UTC)
                yield BlobInfo(key=name, size=obj["Size"], modified=modified)

    def cleanup_incomplete(self, *, older_than: datetime) -> int:
        """Abort multipart uploads (and delete probe objects) under the prefix that
        were started before ``older_than``; returns how many."""
        check_cutoff(older_than)
        removed = 0
        try:
            for object_key, upload_id in self._stale_uploads(older_than):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=object_key, UploadId=upload_id
                )
                removed += 1
            for obj in self._objects(self.prefix + PROBE_PREFIX):
                if obj["LastModified"] < older_than:
                    self.client.delete_object(Bucket=self.bucket, Key=obj["Key"])
                    removed += 1
        except (BotoCoreError, ClientError) as err:
            raise _unavailable("clean up", err) from err
        return removed

    def probe(self) -> None:
        """Put, get and delete ``<prefix>.probe-<random>``; raises ``StorageUnavailable``."""
        object_key = f"{self.prefix}{PROBE_PREFIX}{secrets.token_hex(8)}"
        payload = secrets.token_bytes(32)
        try:
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=payload)
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=object_key)["Body"]
                with body:
                    read_back = body.read()
            finally:
                self.client.delete_object(Bucket=self.bucket, Key=object_key)
        except (BotoCoreError, ClientError, URLLib3Error) as err:
            raise _unavailable("probe", err) from err
        if read_back != payload:
            raise StorageUnavailable("the S3 blob store returned other bytes than written")

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist (development and tests)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            if _error_code(err) not in _NO_BUCKET:
                raise _unavailable("head bucket", err) from err
        except BotoCoreError as err:
            raise _unavailable("head bucket", err) from err
        else:
            return
        region = self.client.meta.region_name
        extra: dict[str, Any] = {}
        if region and region != "us-east-1":  # us-east-1 refuses an explicit constraint
            constraint = cast("BucketLocationConstraintType", region)
            extra["CreateBucketConfiguration"] = {"LocationConstraint": constraint}
        try:
            self.client.create_bucket(Bucket=self.bucket, **extra)
        except ClientError as err:
            if _error_code(err) != "BucketAlreadyOwnedByYou":
                raise _unavailable("create bucket", err) from err
        except BotoCoreError as err:
            raise _unavailable("create bucket", err) from err

    def close(self) -> None:
        """Close the connection pool of a client this store created."""
        if self._owns_client:
            self.client.close()

    def _objects(self, prefix: str) -> Iterator[ObjectTypeDef]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.list_page_size}
        )
        try:
            for page in pages:
                yield from page.get("Contents", [])
        except (BotoCoreError, ClientError) as err:
            raise _unavailable("list", err) from err

    def _stale_uploads(self, older_than: datetime) -> builtins.list[tuple[str, str]]:
        # Collected first: aborting while paginating would shift the listing under us.
        paginator = self.client.get_paginator("list_multipart_uploads")
        stale = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for upload in page.get("Uploads", []):
                name = upload["Key"][len(self.prefix) :]
                if is_valid_key(name) and upload["Initiated"] < older_than:
                    stale.append((upload["Key"], upload["UploadId"]))
        return stale
