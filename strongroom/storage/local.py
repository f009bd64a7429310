"""Blobs as files under one root directory: ``root/<key[0:2]>/<key[2:4]>/<key>``.

Writes go to a temp file in the final directory (so the rename never crosses a file
system), are fsynced, renamed over the key with ``os.replace`` (atomic: readers see
the old blob or the new one, never a mix) and the directory is fsynced so the rename
itself survives a power cut. Files are 0600 and directories 0700: blobs are
ciphertext, but their sizes and names are still nobody else's business.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from strongroom.storage.interfaces import (
    MAX_CHUNK,
    PROBE_PREFIX,
    BlobInfo,
    BlobNotFound,
    BlobReader,
    StorageError,
    StorageUnavailable,
    check_cutoff,
    check_range,
    is_valid_key,
    validate_key,
)

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
FILE_MODE = 0o600
DIR_MODE = 0o700
# O_NOFOLLOW: a symlink planted at a key's path is refused rather than followed out of
# the root. Keys themselves cannot traverse (validate_key), this covers the last hop.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _unavailable(action: str, err: OSError) -> StorageUnavailable:
    # The message reaches clients: the errno name only, never the path.
    code = errno.errorcode.get(err.errno or 0, "unknown error")
    return StorageUnavailable(f"the local blob store cannot {action} ({code})")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# Start flushing a large blob to disk while it is still being written, every this many
# bytes, so that the fsync at commit has little left to do: for 1 GiB the final fsync
# alone took about 0.5 s here, time in which the upload could do nothing else.
EARLY_FLUSH_BYTES = 16 * 1024 * 1024


class LocalBlobWriter:
    """A blob being written to ``.tmp-<key>-<random>`` next to its final path."""

    def __init__(self, final: Path, temp: Path, fd: int) -> None:
        self._final = final
        self._temp = temp
        self._fd: int | None = fd
        self._state = "open"
        self.bytes_written = 0
        self._flushed_at = 0
        self._flusher: threading.Thread | None = None
        self._flush_error: OSError | None = None

    @property
    def temp_path(self) -> Path:
        """Where the bytes are until ``commit()`` (tests look at it)."""
        return self._temp

    def write(self, data: bytes) -> None:
        """Append ``data``; raises ``StorageUnavailable`` (the temp file is removed)."""
        fd = self._require_open()
        try:
            _write_all(fd, data)
        except OSError as err:
            self.abort()
            raise _unavailable("write", err) from err
        self.bytes_written += len(data)
        if self.bytes_written - self._flushed_at >= EARLY_FLUSH_BYTES:
            self._flush_in_background(fd)

    def _flush_in_background(self, fd: int) -> None:
        """fsync what is written so far in a thread (one at a time); the fsync at
        commit still makes the whole blob durable, this only starts the work early."""
        if self._flusher is not None and self._flusher.is_alive():
            return
        self._flushed_at = self.bytes_written
        self._flusher = threading.Thread(target=self._early_fsync, args=(fd,), daemon=True)
        self._flusher.start()

    def _early_fsync(self, fd: int) -> None:
        # Kept for commit to raise: Linux reports a writeback error to one fsync per
        # open file, so the commit's own fsync might not see it again.
        try:
            os.fsync(fd)
        except OSError as err:
            self._flush_error = err

    def _wait_for_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    def commit(self) -> None:
        """fsync, rename over the key, fsync the directory; raises ``StorageUnavailable``."""
        fd = self._require_open()
        try:
            self._wait_for_flusher()
            if self._flush_error is not None:
                raise self._flush_error
            os.fsync(fd)
            self._close_fd()
            self._temp.replace(self._final)  # os.replace: atomic within one directory
            self._state = "committed"
            _fsync_dir(self._final.parent)
        except OSError as err:
            if self._state != "committed":
                self.abort()
            raise _unavailable("commit", err) from err

    def abort(self) -> None:
        """Close and remove the temp file; idempotent, does nothing after ``commit()``."""
        if self._state in {"committed", "aborted"}:
            return
        self._state = "aborted"
        try:
            self._wait_for_flusher()  # never close a descriptor another thread uses
            self._close_fd()
            self._temp.unlink(missing_ok=True)
        except OSError as err:
            # Left for cleanup_incomplete; the caller already has a better error to report.
            log.warning("could not remove a temp blob file", extra={"errno": err.errno})

    def _require_open(self) -> int:
        if self._state != "open" or self._fd is None:
            raise StorageError(f"the blob writer is {self._state}")
        return self._fd

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> LocalBlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    def __del__(self) -> None:
        # An abandoned writer (a crash in the caller) must not leak its descriptor; the
        # temp file stays for cleanup_incomplete, as it would after a real crash.
        if self._fd is not None:
            os.close(self._fd)


class _FileChunks:
    """Iterator over ``[pos, stop)`` of an open descriptor; closes it when done or
    dropped, so a download abandoned before its first chunk leaks nothing."""

    def __init__(self, fd: int, pos: int, stop: int) -> None:
        self._fd: int | None = fd
        self._pos = pos
        self._stop = stop

    def __iter__(self) -> _FileChunks:
        return self

    def __next__(self) -> bytes:
        if self._fd is None or self._pos >= self._stop:
            self.close()
            raise StopIteration
        try:
            data = os.pread(self._fd, min(MAX_CHUNK, self._stop - self._pos), self._pos)
        except OSError as err:
            self.close()
            raise _unavailable("read", err) from err
        if not data:
            self.close()
            raise StopIteration
        self._pos += len(data)
        return data

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    __del__ = close


class LocalBlobStore:
    """A ``BlobStore`` on the local file system under ``root`` (created on first write)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        """The final path of ``key``; raises ``InvalidBlobKey``."""
        validate_key(key)
        return self.root / key[0:2] / key[2:4] / key

    def create(self, key: str) -> LocalBlobWriter:
        """A writer whose temp file exists from now on; raises ``StorageUnavailable``."""
        final = self.path_for(key)
        temp = final.parent / f"{TEMP_PREFIX}{key}-{secrets.token_hex(8)}"
        try:
            self._make_dirs(final.parent)
            fd = os.open(temp, _CREATE_FLAGS, FILE_MODE)
        except OSError as err:
            raise _unavailable("create a blob", err) from err
        return LocalBlobWriter(final, temp, fd)

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> BlobReader:
        """Bytes ``[start, end)`` in chunks of at most 256 KiB; raises ``BlobNotFound``."""
        check_range(start, end)
        path = self.path_for(key)
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError as err:
            raise BlobNotFound("no such blob") from err
        except OSError as err:
            raise _unavailable("read", err) from err
        try:
            size = os.fstat(fd).st_size
        except OSError as err:
            os.close(fd)
            raise _unavailable("read", err) from err
        stop = size if end is None else min(end, size)
        return _FileChunks(fd, start, stop)

    def size(self, key: str) -> int:
        """Size in bytes; raises ``BlobNotFound``."""
        path = self.path_for(key)
        try:
            return path.lstat().st_size
        except FileNotFoundError as err:
            raise BlobNotFound("no such blob") from err
        except OSError as err:
            raise _unavailable("read", err) from err

    def exists(self, key: str) -> bool:
        """Whether the blob is committed."""
        try:
            self.size(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove the blob (nothing when absent) and make the removal durable."""
        path = self.path_for(key)
        try:
            path.unlink()
            _fsync_dir(path.parent)
        except FileNotFoundError:
            return
        except OSError as err:
            raise _unavailable("delete", err) from err

    def list(self) -> Iterator[BlobInfo]:
        """Committed blobs (temp and probe files are skipped); raises ``StorageUnavailable``."""
        try:
            for entry in self._leaf_entries():
                if self._is_blob(entry):
                    stat = entry.stat(follow_symlinks=False)
                    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                    yield BlobInfo(key=entry.name, size=stat.st_size, modified=modified)
        except OSError as err:
            raise _unavailable("list", err) from err

    def cleanup_incomplete(self, *, older_than: datetime) -> int:
        """Remove temp (and leftover probe) files last modified before ``older_than``."""
        check_cutoff(older_than)
        cutoff = older_than.timestamp()
        removed = 0
        try:
            for entry in self._leftovers():
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    Path(entry.path).unlink(missing_ok=True)
                    removed += 1
        except OSError as err:
            raise _unavailable("clean up", err) from err
        return removed

    def probe(self) -> None:
        """Write, fsync, read back and remove ``root/.probe-<random>``."""
        payload = secrets.token_bytes(32)
        path = self.root / f"{PROBE_PREFIX}{secrets.token_hex(8)}"
        try:
            self._make_root()
            fd = os.open(path, _CREATE_FLAGS, FILE_MODE)
            try:
                _write_all(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            matches = path.read_bytes() == payload
            path.unlink()
        except OSError as err:
            raise _unavailable("be written", err) from err
        if not matches:
            raise StorageUnavailable("the local blob store returned other bytes than written")

    def _make_root(self) -> None:
        if not self.root.is_dir():
            self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)

    def _make_dirs(self, directory: Path) -> None:
        """Create the root and the two shard levels (0700), fsyncing each new entry."""
        self._make_root()
        for level in (directory.parent, directory):
            try:
                level.mkdir(mode=DIR_MODE)
            except FileExistsError:
                continue
            _fsync_dir(level.parent)

    def _leaf_entries(self) -> Iterator[os.DirEntry[str]]:
        """Every entry two shard levels down (symlinked shard directories are skipped)."""
        for first in self._subdirs(self.root):
            for second in self._subdirs(Path(first.path)):
                with os.scandir(second.path) as entries:
                    yield from entries

    def _subdirs(self, directory: Path) -> Iterator[os.DirEntry[str]]:
        if not directory.is_dir():
            return
        with os.scandir(directory) as entries:
            yield from (e for e in entries if len(e.name) == 2 and e.is_dir(follow_symlinks=False))

    def _is_blob(self, entry: os.DirEntry[str]) -> bool:
        # A valid name in the wrong shard could not be opened by its key: not a blob.
        name = entry.name
        return (
            is_valid_key(name)
            and entry.path == str(self.path_for(name))
            and entry.is_file(follow_symlinks=False)
        )

    def _leftovers(self) -> Iterator[os.DirEntry[str]]:
        for entry in self._leaf_entries():
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
                yield entry
        if self.root.is_dir():
            with os.scandir(self.root) as top:
                yield from (e for e in top if e.name.startswith(PROBE_PREFIX))
