"""``strongroom backup``: create -> verify -> restore into a fresh instance -> ledger
verify, storage verify and every file downloaded with its bytes, on SQLite + local disk
and (``make test-postgres``) on PostgreSQL + S3; tampering, refusals, key material."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from click.testing import CliRunner, Result
from sqlalchemy import text
from sqlalchemy.engine import make_url

from strongroom.backup import restore as restore_module
from strongroom.backup.blobs import blob_path
from strongroom.backup.create import create_backup
from strongroom.backup.exceptions import SnapshotFailed
from strongroom.backup.manifest import MANIFEST_NAME, hash_file
from strongroom.cli import main
from strongroom.context import get_database
from strongroom.crypto.keys import generate_key, key_line
from strongroom.db import Database, upgrade
from strongroom.files.deps import make_store
from strongroom.files.models import StoredFile
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.note import Checkpoint, Signer, open_checkpoint
from strongroom.settings import load_settings
from strongroom.storage.local import LocalBlobStore
from tests.auth_helpers import new_account
from tests.conftest import MIGRATION_HEAD, AppFactory, PostgresSchemas, migrate
from tests.files_helpers import download, file_deps, random_bytes, upload
from tests.integration.test_files_cli import storage_settings

ORIGIN = load_settings({}).effective_ledger_origin


class Instance:
    """One Strongroom installation: a database, a data directory, a blob store, the
    operator's keys, and the environment its CLI runs with."""

    def __init__(
        self, database_url: str, data_dir: Path, keys: dict[str, str], store: dict[str, Any]
    ):
        self.database_url = database_url
        self.data_dir = data_dir
        self.keys = keys
        self.store = store
        self.env = {
            "STRONGROOM_MODE": "testing",
            "STRONGROOM_DATABASE_URL": database_url,
            "STRONGROOM_DATA_DIR": str(data_dir),
            "STRONGROOM_MASTER_KEYS": keys["master_keys"],
            "STRONGROOM_LEDGER_SIGNING_KEY": keys["ledger_signing_key"],
            **{f"STRONGROOM_{k.upper()}": str(v) for k, v in store.items()},
        }

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env)

    def app(self, make_app: AppFactory) -> APIFlask:
        return make_app(
            database_url=self.database_url, data_dir=self.data_dir, **self.keys, **self.store
        )


@pytest.fixture
def keys() -> dict[str, str]:
    """The operator's key material, kept apart from every backup."""
    return {
        "master_keys": key_line("1", generate_key()),
        "ledger_signing_key": Signer.generate(ORIGIN).encode(),
    }


@pytest.fixture
def world(
    make_app: AppFactory, fresh_database_url: str, tmp_path: Path, keys: dict[str, str]
) -> dict[str, Any]:
    """A source instance with three users' files (empty, small, several segments)."""
    migrate(fresh_database_url)
    probe = make_app(database_url=fresh_database_url, **keys)
    source = Instance(fresh_database_url, tmp_path / "data", keys, storage_settings(probe))
    app = source.app(make_app)
    client = app.test_client()
    alice, bob = new_account(client, "alice"), new_account(client, "bob")
    contents = [(alice, random_bytes(n)) for n in (0, 1, 70_000)] + [(bob, random_bytes(5000))]
    files = [(who, upload(client, who, data, f"f{i}.bin")["id"], data) for i, (who, data) in
             enumerate(contents)]  # fmt: skip
    return {"source": source, "app": app, "files": files, "make_app": make_app}


def is_s3(world: dict[str, Any]) -> bool:
    return bool(world["source"].store.get("storage_backend") == "s3")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def create(world: dict[str, Any], root: Path) -> Path:
    result = world["source"].cli("backup", "create", str(root))
    assert result.exit_code == 0, result.output
    made = [p for p in root.iterdir() if p.name.startswith("strongroom-")]
    assert len(made) == 1
    return made[0]


def empty_target(request: pytest.FixtureRequest, world: dict[str, Any], tmp_path: Path) -> Instance:
    """A new, empty instance with the operator's keys: a new SQLite file, or a new
    PostgreSQL schema after the source's is dropped (the database was lost); a new
    data directory; the same S3 bucket (S3 keeps the blobs) or an empty local store."""
    source: Instance = world["source"]
    with world["app"].app_context():
        get_database().dispose()
    return new_instance(request, source, tmp_path)


def new_instance(request: pytest.FixtureRequest, source: Instance, tmp_path: Path) -> Instance:
    postgres: PostgresSchemas | None = request.getfixturevalue("_postgres")
    if postgres is None:
        url = f"sqlite:///{tmp_path / 'restored' / 'strongroom.db'}"
    else:
        # The dump recreates its own schema name, so the source's must be gone (as it
        # is when the database was lost); restore refuses otherwise (tested below).
        url = postgres.new()
        schema = make_url(source.database_url).query["options"].rsplit("=", 1)[-1]
        with postgres.admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    return Instance(url, tmp_path / "restored-data", source.keys, source.store)


def test_round_trip_create_verify_restore(
    world: dict[str, Any], root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backup = create(world, root)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    for path in backup.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    assert manifest["format"] == "strongroom-backup"
    assert manifest["version"] == 1
    assert manifest["blobs"]["count"] == len(world["files"])
    assert manifest["master_keys"].keys() == {"1"}
    for entry in manifest["files"]:
        assert hash_file(backup / entry["path"]) == (entry["size"], entry["sha256"])

    verified = world["source"].cli("backup", "verify", str(root))  # ROOT: its newest
    assert verified.exit_code == 0, verified.output
    assert f"backup {backup} OK" in verified.output

    target = empty_target(request, world, tmp_path)
    restored = target.cli("backup", "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    assert f"{len(world['files'])} files" in restored.output

    ledger = target.cli("ledger", "verify")
    assert ledger.exit_code == 0, ledger.output
    storage = target.cli("storage", "verify")
    assert storage.exit_code == 0, storage.output
    assert f"checked {len(world['files'])} files" in storage.output

    # Sessions were restored too: the same bearer tokens read the same bytes.
    client = target.app(world["make_app"]).test_client()
    for who, file_id, data in world["files"]:
        response = download(client, who, file_id)
        assert response.status_code == 200
        assert response.get_data() == data

    # The backup's checkpoint is in the restored log: an auditor pinned to it can go on.
    note = (backup / "ledger" / "checkpoint").read_bytes()
    verifier = Signer.parse(target.keys["ledger_signing_key"]).verifier
    pinned = open_checkpoint(note, verifier)
    export = target.cli("ledger", "export", str(tmp_path / "export"))
    assert export.exit_code == 0, export.output
    (tmp_path / "pinned").write_bytes(note)
    offline = target.cli(
        "ledger", "verify-export", str(tmp_path / "export"),
        "--public-key", verifier.encode(), "--checkpoint", str(tmp_path / "pinned"),
    )  # fmt: skip
    assert offline.exit_code == 0, offline.output
    assert f"consistent with your checkpoint at size {pinned.size}" in offline.output


def test_restore_into_a_non_empty_instance_is_refused_and_changes_nothing(
    world: dict[str, Any], root: Path
) -> None:
    backup = create(world, root)
    source: Instance = world["source"]
    app: APIFlask = world["app"]
    before = _state(app)
    result = source.cli("backup", "restore", str(backup))
    assert result.exit_code == 2
    assert "the database is not empty" in result.output
    assert _state(app) == before


def test_restore_into_an_empty_database_with_a_non_empty_store_is_refused(
    world: dict[str, Any], root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if is_s3(world):
        pytest.skip("S3 backups keep their blobs in the bucket: a full bucket is expected")
    backup = create(world, root)
    target = empty_target(request, world, tmp_path)
    shutil.copytree(world["source"].data_dir / "blobs", target.data_dir / "blobs")
    result = target.cli("backup", "restore", str(backup))
    assert result.exit_code == 2
    assert "the blob store is not empty" in result.output
    assert not Path(target.database_url.removeprefix("sqlite:///")).exists()


def _state(app: APIFlask) -> tuple[int, int, set[str]]:
    with app.app_context(), get_database().session(write=False) as db:
        files = db.query(StoredFile).count()
        entries = db.query(LedgerEntry).count()
    return files, entries, {info.key for info in file_deps(app).store.list()}


def _rehash(backup: Path, relative: str) -> None:
    """Record a changed file's new hash in the manifest, as a careful forger would."""
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    for entry in manifest["files"]:
        if entry["path"] == relative:
            entry["size"], entry["sha256"] = hash_file(backup / relative)
    (backup / MANIFEST_NAME).write_text(json.dumps(manifest))


def verify_problems(world: dict[str, Any], backup: Path) -> str:
    result = world["source"].cli("backup", "verify", str(backup))
    assert result.exit_code == 1, result.output
    assert "NOT usable" in result.output
    return result.output


def test_a_changed_byte_fails_verify(world: dict[str, Any], root: Path) -> None:
    backup = create(world, root)
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    database_file = backup / manifest["database"]["file"]
    data = bytearray(database_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    database_file.write_bytes(bytes(data))
    output = verify_problems(world, backup)
    assert f"{manifest['database']['file']} does not match its SHA-256" in output


def test_a_missing_blob_fails_verify(world: dict[str, Any], root: Path) -> None:
    backup = create(world, root)
    _who, file_id, _data = world["files"][2]
    with world["app"].app_context(), get_database().session(write=False) as db:
        row = db.get(StoredFile, file_id)
        assert row is not None
        key = row.blob_key
    if is_s3(world):  # the object is gone from the bucket
        file_deps(world["app"]).store.delete(key)
        output = verify_problems(world, backup)
        assert f"blob {key} is missing from the bucket" in output
        offline = world["source"].cli("backup", "verify", "--offline", str(backup))
        assert offline.exit_code == 0, offline.output
        assert "were not checked" in offline.output
        return
    (backup / blob_path(key)).unlink()
    output = verify_problems(world, backup)
    assert f"{blob_path(key)} is missing" in output
    assert f"blob {key} is missing from the backup" in output


def test_a_changed_blob_fails_verify_even_with_its_hash_rewritten(
    world: dict[str, Any], root: Path
) -> None:
    if is_s3(world):
        pytest.skip("S3 backups hold no blob copies")
    backup = create(world, root)
    blob = next(p for p in (backup / "blobs").rglob("*") if p.is_file() and p.stat().st_size)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x80
    blob.write_bytes(bytes(data))
    relative = blob.relative_to(backup).as_posix()
    _rehash(backup, relative)
    output = verify_problems(world, backup)
    assert f"blob {blob.name} does not match the hash its file row records" in output


def test_a_traversing_blob_key_is_a_problem_not_a_crash(world: dict[str, Any], root: Path) -> None:
    backup = create(world, root)
    index = json.loads((backup / "blobs.json").read_text())
    index[0]["key"] = "../../../etc/passwd"
    (backup / "blobs.json").write_text(json.dumps(index))
    _rehash(backup, "blobs.json")
    output = verify_problems(world, backup)
    assert "invalid blob key" in output
    assert "Traceback" not in output


def test_a_symbolic_link_in_a_backup_fails_verify(
    world: dict[str, Any], root: Path, tmp_path: Path
) -> None:
    backup = create(world, root)
    manifest = json.loads((backup / MANIFEST_NAME).read_text())
    relative = manifest["database"]["file"]
    # The same bytes, but outside the backup: verify and restore must not follow it.
    outside = tmp_path / "elsewhere.db"
    shutil.copyfile(backup / relative, outside)
    (backup / relative).unlink()
    (backup / relative).symlink_to(outside)
    output = verify_problems(world, backup)
    assert f"{relative} is a symbolic link" in output


def test_a_bad_checkpoint_signature_fails_verify(world: dict[str, Any], root: Path) -> None:
    backup = create(world, root)
    note_path = backup / "ledger" / "checkpoint"
    genuine = open_checkpoint(note_path.read_bytes(), _verifier(world))
    forger = Signer.generate(ORIGIN)  # same name, another key
    forged = Checkpoint(ORIGIN, genuine.size, bytes(32)).text()
    note_path.write_text(forger.sign(forged))
    _rehash(backup, "ledger/checkpoint")
    output = verify_problems(world, backup)
    assert "the checkpoint does not verify" in output


def test_a_pinned_key_must_match(world: dict[str, Any], root: Path) -> None:
    backup = create(world, root)
    other = Signer.generate(ORIGIN).verifier.encode()
    result = world["source"].cli("backup", "verify", "--public-key", other, str(backup))
    assert result.exit_code == 1
    assert "not the key you pinned" in result.output
    right = _verifier(world).encode()
    result = world["source"].cli("backup", "verify", "--public-key", right, str(backup))
    assert result.exit_code == 0, result.output


def _verifier(world: dict[str, Any]) -> Any:
    return Signer.parse(world["source"].keys["ledger_signing_key"]).verifier


def test_restore_refuses_a_backup_that_does_not_verify(
    world: dict[str, Any], root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backup = create(world, root)
    (backup / "ledger" / "public-key").write_text("garbage\n")
    target = empty_target(request, world, tmp_path)
    result = target.cli("backup", "restore", str(backup))
    assert result.exit_code == 2
    assert "the backup does not verify" in result.output


def test_restore_refuses_another_signing_key(
    world: dict[str, Any], root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backup = create(world, root)
    target = empty_target(request, world, tmp_path)
    target.env["STRONGROOM_LEDGER_SIGNING_KEY"] = Signer.generate(ORIGIN).encode()
    result = target.cli("backup", "restore", str(backup))
    assert result.exit_code == 2
    assert "not the one that signed this backup's checkpoints" in result.output


def test_no_key_material_in_the_backup(world: dict[str, Any], root: Path) -> None:
    backup = create(world, root)
    source: Instance = world["source"]
    master = source.keys["master_keys"].split(":", 1)[1]
    secrets_found = [
        master.encode(),
        base64.b64decode(master),
        source.keys["ledger_signing_key"].encode(),
        source.keys["ledger_signing_key"].split("+", 4)[4].encode(),
        base64.b64decode(source.keys["ledger_signing_key"].split("+", 4)[4])[1:],  # the seed
    ]
    dev_secrets = source.data_dir / "dev-secrets"
    assert dev_secrets.is_dir()  # the CLI made a development secret key there
    for path in dev_secrets.iterdir():
        secrets_found.append(path.read_bytes().strip())
    secret = source.store.get("s3_secret_access_key")
    if secret and len(secret) >= 16:
        secrets_found.append(secret.encode())
    everything = b"".join(p.read_bytes() for p in sorted(backup.rglob("*")) if p.is_file())
    names = [p.relative_to(backup).as_posix() for p in backup.rglob("*")]
    assert not any("dev-secrets" in name for name in names)
    for material in secrets_found:
        assert len(material) >= 16
        assert material not in everything


def test_create_fails_cleanly_on_a_bad_database(tmp_path: Path, keys: dict[str, str]) -> None:
    env = {
        "STRONGROOM_MODE": "testing",
        "STRONGROOM_DATA_DIR": str(tmp_path / "data"),
        "STRONGROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'missing.db'}",
        **{f"STRONGROOM_{k.upper()}": v for k, v in keys.items()},
    }
    root = tmp_path / "backups"
    result = CliRunner().invoke(main, ["backup", "create", str(root)], env=env)
    assert result.exit_code == 2
    assert "cannot back up" in result.output
    assert not root.exists() or not any(root.iterdir())


def test_verify_and_restore_name_a_missing_backup(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["backup", "verify", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "is neither a backup nor a directory holding backups" in result.output


def test_a_backup_from_an_older_schema_is_migrated_on_restore(
    fresh_database_url: str,
    tmp_path: Path,
    keys: dict[str, str],
    storage_settings: dict[str, Any],
    request: pytest.FixtureRequest,
) -> None:
    """A backup made by an older release (schema 0004) restores and is brought to head."""
    settings = load_settings(
        {"database_url": fresh_database_url, "data_dir": tmp_path / "data", **keys,
         **storage_settings}
    )  # fmt: skip
    database = Database(settings)
    try:
        upgrade(database.engine, "0004")
        backup, manifest = create_backup(
            tmp_path / "backups",
            settings=settings,
            database=database,
            store=make_store(settings),
            signer=Signer.parse(keys["ledger_signing_key"]),
            keys=None,
            now=datetime.now(UTC),
        )
    finally:
        database.dispose()
    assert manifest.schema_revision == "0004"
    source = Instance(fresh_database_url, tmp_path / "data", keys, storage_settings)
    target = new_instance(request, source, tmp_path)
    result = target.cli("backup", "restore", str(backup))
    assert result.exit_code == 0, result.output
    assert f"schema 0004 -> {MIGRATION_HEAD}" in result.output
    current = target.cli("db", "current", "--check")
    assert current.exit_code == 0, current.output


def test_a_backup_taken_while_files_are_uploaded_is_consistent(
    world: dict[str, Any], root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    app: APIFlask = world["app"]
    who = world["files"][0][0]
    uploaded: dict[str, bytes] = {}
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_uploading() -> None:
        client = app.test_client()
        try:
            while not stop.is_set():
                data = random_bytes(20_000)
                uploaded[upload(client, who, data, "busy.bin")["id"]] = data
        except BaseException as err:  # noqa: BLE001  # reported by the test thread
            errors.append(err)

    uploader = threading.Thread(target=keep_uploading)
    uploader.start()
    try:
        while len(uploaded) < 3 and uploader.is_alive():
            time.sleep(0.01)
        during = len(uploaded)
        backup = create(world, root)
        while len(uploaded) < during + 3 and uploader.is_alive():
            time.sleep(0.01)  # uploads go on after the snapshot too
    finally:
        stop.set()
        uploader.join()
    assert not errors, errors
    verified = world["source"].cli("backup", "verify", str(backup))
    assert verified.exit_code == 0, verified.output
    count = json.loads((backup / MANIFEST_NAME).read_text())["blobs"]["count"]
    assert len(world["files"]) + during <= count < len(world["files"]) + len(uploaded)

    target = empty_target(request, world, tmp_path)
    restored = target.cli("backup", "restore", str(backup))
    assert restored.exit_code == 0, restored.output
    for command in (("ledger", "verify"), ("storage", "verify")):
        result = target.cli(*command)
        assert result.exit_code == 0, result.output
    client = target.app(world["make_app"]).test_client()
    present = 0
    for file_id, data in uploaded.items():
        response = download(client, who, file_id)
        if response.status_code == 200:
            assert response.get_data() == data
            present += 1
        else:  # uploaded after the snapshot: absent as a whole, not half there
            assert response.status_code == 404
    assert present == count - len(world["files"])


def test_a_blob_that_vanishes_during_the_backup_fails_it_clearly(
    world: dict[str, Any], root: Path
) -> None:
    if is_s3(world):
        pytest.skip("S3 backups list objects; covered by the missing-blob test")
    app: APIFlask = world["app"]
    store = file_deps(app).store
    victim = sorted(info.key for info in store.list())[0]
    original_open = LocalBlobStore.open

    def open_then_vanish(self: LocalBlobStore, key: str, **kwargs: Any) -> Any:
        if key == victim:
            self.delete(key)  # deleted between the snapshot and its copy
        return original_open(self, key, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LocalBlobStore, "open", open_then_vanish)
        result = world["source"].cli("backup", "create", str(root))
    assert result.exit_code == 2
    assert f"blob {victim} vanished after the database snapshot" in result.output
    assert "run the backup again" in result.output
    assert list(root.iterdir()) == []  # nothing half-written is left


def test_create_names_a_missing_pg_dump(
    world: dict[str, Any], root: Path, request: pytest.FixtureRequest
) -> None:
    if request.getfixturevalue("_postgres") is None:
        pytest.skip("pg_dump is only used on PostgreSQL")
    result = world["source"].cli("backup", "create", "--pg-dump", "/nonexistent/pg_dump", str(root))
    assert result.exit_code == 2
    assert "/nonexistent/pg_dump is not installed (Debian: apt-get install postgresql-client)" in (
        result.output
    )
    assert list(root.iterdir()) == []


def test_restore_refuses_when_the_dumped_schema_exists_elsewhere(
    world: dict[str, Any], root: Path, request: pytest.FixtureRequest
) -> None:
    postgres: PostgresSchemas | None = request.getfixturevalue("_postgres")
    if postgres is None:
        pytest.skip("PostgreSQL schemas only")
    backup = create(world, root)
    source: Instance = world["source"]
    target = Instance(postgres.new(), source.data_dir.parent / "other", source.keys, source.store)
    result = target.cli("backup", "restore", str(backup))
    assert result.exit_code == 2
    assert "already exists in this database" in result.output
    assert _state(world["app"])[0] == len(world["files"])


def test_a_failed_database_restore_leaves_the_instance_empty_for_another_try(
    world: dict[str, Any],
    root: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backup = create(world, root)
    target = empty_target(request, world, tmp_path)

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise SnapshotFailed("pg_restore failed: the disk is full")

    monkeypatch.setattr(restore_module, "_restore_database", fail)
    result = target.cli("backup", "restore", str(backup))
    assert result.exit_code == 2
    assert "restore failed" in result.output
    assert "the disk is full" in result.output
    if not is_s3(world):  # the blobs written before the database failed are gone again
        assert not any(p.is_file() for p in (target.data_dir / "blobs").rglob("*"))
    monkeypatch.undo()
    again = target.cli("backup", "restore", str(backup))
    assert again.exit_code == 0, again.output
    storage = target.cli("storage", "verify")
    assert storage.exit_code == 0, storage.output


def test_a_versioned_bucket_names_the_version_to_bring_back(
    world: dict[str, Any], root: Path
) -> None:
    """S3 keeps the blobs; with versioning on, a blob deleted after the backup is
    named with its backed-up version, and once undeleted verify passes."""
    if not is_s3(world):
        pytest.skip("S3 buckets only")
    store: Any = file_deps(world["app"]).store
    client, bucket = store.client, store.bucket
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    who = world["files"][0][0]
    upload(world["app"].test_client(), who, random_bytes(9000), "versioned.bin")
    backup = create(world, root)
    index = {e["key"]: e for e in json.loads((backup / "blobs.json").read_text())}
    versioned = [e for e in index.values() if "version_id" in e]
    assert len(versioned) == 1  # the objects written before versioning have none
    entry = versioned[0]
    store.delete(entry["key"])  # a delete marker now hides it

    output = verify_problems(world, backup)
    assert f"blob {entry['key']} is missing from the bucket (backed up as version " in output
    assert entry["version_id"] in output

    # The documented undelete: remove the delete marker; the backed-up version (same
    # ETag, even for a multipart upload, which a copy would not keep) is current again.
    object_key = store.object_key(entry["key"])
    versions = client.list_object_versions(Bucket=bucket, Prefix=object_key)
    (marker,) = [m for m in versions["DeleteMarkers"] if m["Key"] == object_key]
    client.delete_object(Bucket=bucket, Key=object_key, VersionId=marker["VersionId"])
    again = world["source"].cli("backup", "verify", str(backup))
    assert again.exit_code == 0, again.output


def test_pg_dump_gets_the_password_from_its_environment_never_its_arguments(
    world: dict[str, Any], root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if request.getfixturevalue("_postgres") is None:
        pytest.skip("pg_dump is only used on PostgreSQL")
    password = "not-on-the-command-line-7731"  # the test server trusts; any password works
    source: Instance = world["source"]
    url = make_url(source.database_url).set(password=password)
    env = {**source.env, "STRONGROOM_DATABASE_URL": url.render_as_string(hide_password=False)}
    log = tmp_path / "pg_dump.log"
    wrapper = tmp_path / "pg_dump"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "arg %s\\n" "$@" >> {log}\n'
        f'printf "env PGPASSWORD=%s\\n" "$PGPASSWORD" >> {log}\n'
        f'exec {shutil.which("pg_dump")} "$@"\n'
    )
    wrapper.chmod(0o700)
    args = ["backup", "create", "--pg-dump", str(wrapper), str(root)]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    lines = log.read_text().splitlines()
    assert any(line.startswith("arg --snapshot=") for line in lines)
    assert not [line for line in lines if line.startswith("arg") and password in line]
    assert f"env PGPASSWORD={password}" in lines
