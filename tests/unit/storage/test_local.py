"""What only the local store promises: file modes, durable renames, crash leftovers,
symlinks refused, and disk errors turned into ``StorageUnavailable``."""

from __future__ import annotations

import errno
import os
import secrets
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from strongroom.storage import local as local_module
from strongroom.storage.interfaces import BlobNotFound, StorageUnavailable
from strongroom.storage.local import TEMP_PREFIX, LocalBlobStore


def new_key() -> str:
    return secrets.token_urlsafe(24)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "root" / "blobs")


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Modes must come from the store, not from a strict umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def put(store: LocalBlobStore, key: str, data: bytes) -> None:
    with store.create(key) as writer:
        writer.write(data)
        writer.commit()


@pytest.mark.usefixtures("permissive_umask")
def test_files_are_0600_and_directories_0700(store: LocalBlobStore) -> None:
    key = new_key()
    put(store, key, b"secret-ish")
    path = store.path_for(key)
    assert path == store.root / key[:2] / key[2:4] / key
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    assert mode(store.root) == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_temp_file_lives_next_to_the_final_file(store: LocalBlobStore) -> None:
    key = new_key()
    with store.create(key) as writer:
        writer.write(b"partial")
        temp = writer.temp_path
        assert temp.parent == store.path_for(key).parent  # same file system: atomic rename
        assert temp.name.startswith(f"{TEMP_PREFIX}{key}-")
        assert temp.read_bytes() == b"partial"
        assert mode(temp) == 0o600
        assert not store.path_for(key).exists()
        writer.commit()
    assert not temp.exists()
    assert store.path_for(key).read_bytes() == b"partial"


def test_commit_fsyncs_file_then_renames_then_fsyncs_directory(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    events: list[tuple[str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("fsync-dir" if stat.S_ISDIR(info.st_mode) else "fsync-file", info.st_ino))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", Path(src).stat().st_ino))
        real_replace(src, dst)

    with store.create(key) as writer:
        writer.write(b"durable")
        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        writer.commit()
    final = store.path_for(key)
    file_ino, dir_ino = final.stat().st_ino, final.parent.stat().st_ino
    assert events == [("fsync-file", file_ino), ("replace", file_ino), ("fsync-dir", dir_ino)]


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from strongroom.storage.local import LocalBlobStore

    writer = LocalBlobStore(Path(sys.argv[1])).create(sys.argv[2])
    writer.write(b"half of a blob")
    os._exit(3)  # a crash: no abort, no finally, no atexit
    """
)


def test_crash_mid_write_leaves_a_temp_file_that_cleanup_removes(store: LocalBlobStore) -> None:
    key = new_key()
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(store.root), key], check=False, timeout=30
    )
    assert done.returncode == 3
    shard = store.path_for(key).parent
    [temp] = shard.iterdir()
    assert temp.name.startswith(f"{TEMP_PREFIX}{key}-")
    assert not store.exists(key)
    assert list(store.list()) == []
    with pytest.raises(BlobNotFound):
        store.open(key)

    assert store.cleanup_incomplete(older_than=datetime.now(UTC) - timedelta(hours=1)) == 0
    assert store.cleanup_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert list(shard.iterdir()) == []


def test_abandoned_writer_leaves_its_temp_file(store: LocalBlobStore) -> None:
    key = new_key()
    writer = store.create(key)
    writer.write(b"abandoned")
    temp = writer.temp_path
    del writer  # dropped without commit or abort: the descriptor closes, the file stays
    assert temp.exists()
    assert list(store.list()) == []
    assert store.cleanup_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert not temp.exists()


def test_list_skips_everything_but_blobs(store: LocalBlobStore) -> None:
    key = new_key()
    put(store, key, b"real")
    shard = store.path_for(key).parent
    (shard / f"{TEMP_PREFIX}{key}-0123").write_bytes(b"temp")
    (shard / "not a key").write_bytes(b"stray")
    (shard / ("zz" + key[2:])).write_bytes(b"valid name, wrong shard")
    (shard / ("b" * 20)).mkdir()
    (store.root / ".probe-0123").write_bytes(b"old probe")
    (store.root / "xx").mkdir()
    (store.root / "xx" / "ab.txt").write_bytes(b"shallow stray")
    assert [(info.key, info.size) for info in store.list()] == [(key, 4)]


def test_list_and_cleanup_of_a_store_never_written(store: LocalBlobStore) -> None:
    assert list(store.list()) == []
    assert store.cleanup_incomplete(older_than=datetime.now(UTC)) == 0
    assert not store.root.exists()


def test_cleanup_removes_old_probe_leftovers(store: LocalBlobStore) -> None:
    store.probe()  # creates the root
    (store.root / ".probe-deadbeef").write_bytes(b"interrupted probe")
    assert store.cleanup_incomplete(older_than=datetime.now(UTC) + timedelta(minutes=1)) == 1
    assert list(store.root.iterdir()) == []


def test_symlink_at_a_key_is_not_followed(store: LocalBlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"not a blob of this store")
    key = new_key()
    path = store.path_for(key)
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)
    with pytest.raises(StorageUnavailable):
        store.open(key)
    assert list(store.list()) == []


def test_unwritable_root_is_unavailable(tmp_path: Path) -> None:
    # A regular file where the root should be (fails even as root, unlike a chmod 0500).
    blocker = tmp_path / "blobs"
    blocker.write_bytes(b"")
    store = LocalBlobStore(blocker)
    with pytest.raises(StorageUnavailable) as caught:
        store.create(new_key())
    assert isinstance(caught.value.__cause__, OSError)
    assert str(tmp_path) not in str(caught.value)  # clients see no paths
    with pytest.raises(StorageUnavailable):
        store.probe()


def failing(code: int) -> object:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    return fail


def test_disk_full_while_writing(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    writer = store.create(key)
    temp = writer.temp_path
    monkeypatch.setattr(os, "write", failing(errno.ENOSPC))
    with pytest.raises(StorageUnavailable, match="ENOSPC") as caught:
        writer.write(b"data")
    assert isinstance(caught.value.__cause__, OSError)
    assert not temp.exists()  # the failed write was aborted
    writer.abort()  # still safe


def test_fsync_failure_makes_nothing_visible(
    store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_key()
    with store.create(key) as writer:
        writer.write(b"data")
        monkeypatch.setattr(os, "fsync", failing(errno.EIO))
        with pytest.raises(StorageUnavailable, match="EIO"):
            writer.commit()
    monkeypatch.undo()
    assert not store.exists(key)
    assert list(store.path_for(key).parent.iterdir()) == []


def test_read_error_is_unavailable(store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    put(store, key, b"data")
    chunks = store.open(key)
    monkeypatch.setattr(os, "pread", failing(errno.EIO))
    with pytest.raises(StorageUnavailable, match="EIO"):
        next(chunks)


def open_descriptors() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


def test_abandoned_download_closes_its_descriptor(store: LocalBlobStore) -> None:
    key = new_key()
    put(store, key, b"x" * 10)
    before = open_descriptors()
    for _ in range(20):
        store.open(key)  # never iterated
    assert open_descriptors() <= before


def test_large_blobs_start_flushing_early_and_an_early_error_fails_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "EARLY_FLUSH_BYTES", 1024)
    store = LocalBlobStore(tmp_path / "blobs")
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    key = "early" + "a" * 27
    with store.create(key) as writer:
        for _ in range(8):
            writer.write(b"x" * 512)
        writer.commit()
    assert b"".join(store.open(key)) == b"x" * 4096
    assert len(synced) >= 3  # at least one early flush, the file at commit, the directory

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "writeback failed")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    bad = "early" + "b" * 27
    writer = store.create(bad)
    writer.write(b"y" * 2048)  # starts an early flush, which fails
    monkeypatch.setattr(os, "fsync", real_fsync)  # the commit's own fsync would succeed
    with pytest.raises(StorageUnavailable):
        writer.commit()
    assert not store.exists(bad)
