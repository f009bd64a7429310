"""``strongroom keys`` and ``strongroom storage``: rotation without rewriting blobs
(resumable, ledgered), collection of unreferenced blobs, and the scrub."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from click.testing import CliRunner
from sqlalchemy import update

from strongroom.cli import main
from strongroom.context import get_database
from strongroom.crypto.keys import LocalKeyring, WrappedKey
from strongroom.crypto.stream import encrypt_chunks
from strongroom.files import rotation
from strongroom.files.maintenance import collect_garbage
from strongroom.files.models import StoredFile
from strongroom.ledger.models import LedgerEntry
from tests.auth_helpers import SignedIn, new_account
from tests.conftest import AppFactory, migrate
from tests.files_helpers import blob_keys, download, file_deps, random_bytes, row_of, upload
from tests.integration.test_files_integrity import flip, rewrite_blob


@pytest.fixture
def world(make_app: AppFactory, fresh_database_url: str, tmp_path: Path) -> dict[str, Any]:
    """A fresh database, an app on it with three files, and the CLI's environment."""
    migrate(fresh_database_url)
    app = make_app(database_url=fresh_database_url, file_segment_size=4096)
    client = app.test_client()
    alice = new_account(client, "keys")
    data = [random_bytes(n) for n in (0, 5000, 20_000)]
    metas = [upload(client, alice, d, f"f{i}.bin") for i, d in enumerate(data)]
    env = {
        "STRONGROOM_DATABASE_URL": fresh_database_url,
        "STRONGROOM_DATA_DIR": str(tmp_path / "data"),
        "STRONGROOM_MODE": "testing",
        **{f"STRONGROOM_{k.upper()}": str(v) for k, v in storage_settings(app).items()},
    }
    return {
        "app": app,
        "client": client,
        "alice": alice,
        "data": data,
        "metas": metas,
        "env": env,
        "make_app": make_app,
    }


def storage_settings(app: APIFlask) -> dict[str, Any]:
    """The app's blob store settings, for a CLI that must use the same store."""
    settings = app.extensions["strongroom.settings"]
    names = (
        "storage_backend",
        "s3_bucket",
        "s3_prefix",
        "s3_endpoint_url",
        "s3_region",
        "s3_access_key_id",
    )
    out = {name: getattr(settings, name) for name in names if getattr(settings, name)}
    if settings.s3_secret_access_key is not None:
        out["s3_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    return out


def cli(world: dict[str, Any], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=world["env"])


def tags(app: APIFlask) -> list[str]:
    with app.app_context(), get_database().session(write=False) as db:
        return [e.tag for e in db.query(LedgerEntry).order_by(LedgerEntry.index)]


def versions(app: APIFlask) -> list[str]:
    with app.app_context(), get_database().session(write=False) as db:
        return sorted(v for (v,) in db.query(StoredFile.key_version))


def assert_all_download(world: dict[str, Any], app: APIFlask | None = None) -> None:
    app = app or world["app"]
    client = app.test_client()
    alice: SignedIn = world["alice"]
    for meta, data in zip(world["metas"], world["data"], strict=True):
        assert download(client, alice, meta["id"]).get_data() == data


def test_generate_prints_a_usable_key(world: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, ["keys", "generate", "--version", "3"])
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert line.startswith("3:")
    assert len(base64.b64decode(line[2:])) == 32
    assert LocalKeyring.from_text(line).current_version() == "3"


def test_status_counts_files_per_version(world: dict[str, Any]) -> None:
    result = cli(world, "keys", "status")
    assert result.exit_code == 0, result.output
    assert "current version 1" in result.output
    assert "version 1 (current): 3 files, key held" in result.output


def test_rotate_rewraps_every_key_without_touching_blobs(world: dict[str, Any]) -> None:
    app: APIFlask = world["app"]
    before = {m["id"]: row_of(app, m["id"]) for m in world["metas"]}
    blobs = {k: b"".join(file_deps(app).store.open(k)) for k in blob_keys(app)}
    result = cli(world, "keys", "rotate")
    assert result.exit_code == 0, result.output
    assert "added master key version 2" in result.output
    assert versions(app) == ["2", "2", "2"]
    for file_id, old in before.items():
        new = row_of(app, file_id)
        assert new is not None
        assert old is not None
        assert new.wrapped_key != old.wrapped_key
        assert new.blob_key == old.blob_key
    assert {k: b"".join(file_deps(app).store.open(k)) for k in blob_keys(app)} == blobs
    assert tags(app)[-3:] == ["keys:version:add", "keys:rewrap", "keys:rotate:complete"]
    # The running app follows the key file (no restart), and so does a new one.
    assert_all_download(world)
    assert_all_download(
        world, world["make_app"](database_url=world["env"]["STRONGROOM_DATABASE_URL"])
    )
    status = cli(world, "keys", "status")
    assert "version 2 (current): 3 files" in status.output
    assert "version 1: 0 files, key held" in status.output


def test_an_interrupted_rotation_resumes(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rotation.rewrap_batch
    calls = {"n": 0}

    def failing_after_one(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C, or the host went down
        return real(*args, **{**kwargs, "batch_size": 1})

    monkeypatch.setattr(rotation, "rewrap_batch", failing_after_one)
    interrupted = cli(world, "keys", "rotate")
    assert interrupted.exit_code != 0
    assert versions(world["app"]) == ["1", "1", "2"]  # one batch committed, nothing lost
    assert_all_download(world)
    monkeypatch.setattr(rotation, "rewrap_batch", real)
    resumed = cli(world, "keys", "rotate", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "added master key" not in resumed.output
    assert versions(world["app"]) == ["2", "2", "2"]
    assert_all_download(world)


def test_rotate_refuses_to_edit_keys_from_the_environment(world: dict[str, Any]) -> None:
    env = {
        **world["env"],
        "STRONGROOM_MASTER_KEYS": "1:" + base64.b64encode(os.urandom(32)).decode(),
    }
    result = CliRunner().invoke(main, ["keys", "rotate"], env=env)
    assert result.exit_code == 2
    assert "cannot add a version to STRONGROOM_MASTER_KEYS" in result.output


def test_status_reports_versions_the_keyring_lacks(world: dict[str, Any]) -> None:
    env = {
        **world["env"],
        "STRONGROOM_MASTER_KEYS": "2:" + base64.b64encode(os.urandom(32)).decode(),
    }
    result = CliRunner().invoke(main, ["keys", "status"], env=env)
    assert result.exit_code == 2
    assert "version 1: 3 files, key MISSING" in result.output


def test_verify_passes_on_whole_files(world: dict[str, Any]) -> None:
    result = cli(world, "storage", "verify")
    assert result.exit_code == 0, result.output
    assert "checked 3 files (25000 bytes): 0 damaged" in result.output


def test_verify_reports_every_kind_of_damage_and_changes_nothing(world: dict[str, Any]) -> None:
    app: APIFlask = world["app"]
    empty, middle, large = world["metas"]
    rewrite_blob(app, large["id"], flip(200))
    file_deps(app).store.delete(row_of(app, middle["id"]).blob_key)  # type: ignore[union-attr]
    with app.app_context(), get_database().session() as db:  # the row lies about the content
        db.execute(
            update(StoredFile)
            .where(StoredFile.id == empty["id"])
            .values(sha256=b"\x00" * 32, ciphertext_sha256=b"\x00" * 32)
        )
        db.commit()
    before = tags(app)
    result = cli(world, "storage", "verify")
    assert result.exit_code == 1
    assert f"file {large['id']}" in result.output
    assert "fails authentication" in result.output
    assert f"file {middle['id']}" in result.output
    assert "blob missing" in result.output
    assert f"file {empty['id']}" in result.output
    assert "hashes in its row" in result.output
    assert "3 damaged" in result.output
    assert tags(app) == before  # the scrub writes nothing


def test_verify_catches_content_rewritten_by_someone_holding_the_keys(
    world: dict[str, Any],
) -> None:
    """An operator with the master key re-encrypts other content for a file and fixes
    its row's hashes: every segment authenticates, the row agrees, and the scrub still
    reports it, because the ledger committed to the original hashes."""
    app: APIFlask = world["app"]
    target = world["metas"][1]
    row = row_of(app, target["id"])
    assert row is not None
    keys = file_deps(app).keys
    data_key = keys.unwrap(WrappedKey(row.key_version, row.wrapped_key), file_id=row.id)
    forged = b"".join(encrypt_chunks([b"forged content"], data_key=data_key, file_id=row.id))
    with file_deps(app).store.create(row.blob_key) as writer:
        writer.write(forged)
        writer.commit()
    with app.app_context(), get_database().session() as db:
        db.execute(
            update(StoredFile)
            .where(StoredFile.id == row.id)
            .values(
                sha256=hashlib.sha256(b"forged content").digest(),
                size=14,
                ciphertext_sha256=hashlib.sha256(forged).digest(),
                ciphertext_size=len(forged),
            )
        )
        db.commit()
    result = cli(world, "storage", "verify")
    assert result.exit_code == 1
    assert f"file {row.id}" in result.output
    assert "does not match the hashes the ledger committed to" in result.output


def test_verify_catches_a_blob_moved_from_another_file(world: dict[str, Any]) -> None:
    app: APIFlask = world["app"]
    _, middle, large = world["metas"]
    big = row_of(app, large["id"])
    assert big is not None
    with app.app_context(), get_database().session() as db:
        db.execute(update(StoredFile).where(StoredFile.id == big.id).values(blob_key="x" * 32))
        db.execute(
            update(StoredFile)
            .where(StoredFile.id == middle["id"])
            .values(
                blob_key=big.blob_key,
                sha256=big.sha256,
                ciphertext_sha256=big.ciphertext_sha256,
                ciphertext_size=big.ciphertext_size,
                wrapped_key=big.wrapped_key,
            )
        )
        db.commit()
    result = cli(world, "storage", "verify")
    assert result.exit_code == 1
    assert f"file {middle['id']}" in result.output  # the key is bound to the file id
    assert "cannot be unwrapped" in result.output


def test_gc_removes_only_old_unreferenced_blobs(world: dict[str, Any]) -> None:
    app: APIFlask = world["app"]
    store = file_deps(app).store
    orphan = "orphan" + "x" * 26
    with store.create(orphan) as writer:
        writer.write(b"left by a crash between blob and row")
        writer.commit()
    referenced = blob_keys(app) - {orphan}
    with app.app_context(), get_database().session() as db:
        now = app.extensions["strongroom.auth"].now()
        young = collect_garbage(db, store, grace=timedelta(hours=1), now=now)
        assert young.removed == 0
        old = collect_garbage(db, store, grace=timedelta(hours=1), now=now + timedelta(hours=2))
    assert old.removed == 1
    assert blob_keys(app) == referenced
    assert tags(app)[-1] == "storage:gc"
    assert_all_download(world)


def test_gc_cli_with_a_dry_run(
    make_app: AppFactory, fresh_database_url: str, tmp_path: Path
) -> None:
    """The command end to end on the local store, where a blob's age can be set by
    hand (the collector's S3 side is tested above through the service)."""
    migrate(fresh_database_url)
    app = make_app(database_url=fresh_database_url, storage_backend="local")
    client = app.test_client()
    alice = new_account(client, "gc")
    kept = upload(client, alice, b"referenced")
    store = file_deps(app).store
    orphan = "orphan" + "y" * 26
    with store.create(orphan) as writer:
        writer.write(b"orphan")
        writer.commit()
    past = time.time() - 7200
    for key in blob_keys(app):
        path = store.path_for(key)  # type: ignore[attr-defined]
        os.utime(path, (past, past))
    world = {
        "env": {
            "STRONGROOM_DATABASE_URL": fresh_database_url,
            "STRONGROOM_DATA_DIR": str(tmp_path / "data"),
            "STRONGROOM_MODE": "testing",
        }
    }
    dry = cli(world, "storage", "gc", "--grace", "3600", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "examined 2 blobs older than 3600 s; would remove 1 unreferenced" in dry.output
    assert orphan in blob_keys(app)
    real = cli(world, "storage", "gc", "--grace", "3600")
    assert "removed 1 unreferenced" in real.output
    assert orphan not in blob_keys(app)
    assert download(client, alice, kept["id"]).get_data() == b"referenced"
