"""The ledger in the database: appends, proofs, checkpoints, verification, tampering."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from apiflask import APIFlask
from click.testing import CliRunner
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from strongroom.cli import main
from strongroom.context import get_database
from strongroom.db import Database, upgrade
from strongroom.ledger import proofs
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from strongroom.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode
from strongroom.ledger.note import open_checkpoint
from strongroom.ledger.services import record_event
from strongroom.ledger.verify import LedgerTampered, verify_ledger
from strongroom.ledger.web import get_ledger
from strongroom.settings import load_settings
from tests import ledger_reference as ref
from tests.conftest import AppFactory, migrate

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger_app(make_app: AppFactory, fresh_database_url: str) -> APIFlask:
    """An app on an empty, migrated database of its own (the ledger is global state)."""
    migrate(fresh_database_url)
    return make_app(database_url=fresh_database_url, ledger_checkpoint_entries=1000)


def session(app: APIFlask) -> Iterator[Session]:
    with app.app_context(), get_database().session() as db:
        yield db


def append(app: APIFlask, count: int, tag: str = "account:signout") -> None:
    for db in session(app):
        for n in range(count):
            record_event(db, tag, actor=f"user:{n}", target=f"session:{n}", at=NOW)
        db.commit()


def leaves(db: Session) -> list[bytes]:
    rows = db.scalars(select(LedgerEntry).order_by(LedgerEntry.index)).all()
    return [row.salt + row.event for row in rows if row.salt and row.event]


def test_roots_and_proofs_from_storage_match_the_reference(ledger_app: APIFlask) -> None:
    append(ledger_app, 37)
    for db in session(ledger_app):
        data = leaves(db)
        assert len(data) == 37
        for size in (1, 2, 5, 16, 17, 37):
            assert proofs.root_at(db, size) == ref.mth(data[:size])
        root = proofs.root_at(db, 37)
        for index in (0, 1, 15, 16, 36):
            proof = proofs.inclusion_proof(db, index, 37)
            assert proof == ref.path(index, data)
            verify_inclusion(leaf_hash(data[index]), index, 37, proof, root)
        for old in (1, 8, 20, 37):
            proof = proofs.consistency_proof(db, old, 37)
            assert proof == ref.proof(old, data)
            verify_consistency(old, 37, proofs.root_at(db, old), root, proof)
        report = verify_ledger(db, None)
        assert (report.entries, report.nodes) == (37, 18 + 9 + 4 + 2 + 1)


def test_account_activity_lands_in_the_ledger(ledger_app: APIFlask) -> None:
    client = ledger_app.test_client()
    client.post(
        "/api/v1/auth/register", json={"username": "ann", "password": "violet-harbour-lantern-97"}
    )
    client.post("/api/v1/auth/login", json={"username": "ann", "password": "wrong password!!"})
    for db in session(ledger_app):
        tags = db.scalars(select(LedgerEntry.tag).order_by(LedgerEntry.index)).all()
        assert tags == ["account:register", "account:signin:failure"]
        verify_ledger(db, get_ledger_verifier(ledger_app))


def get_ledger_verifier(app: APIFlask):  # type: ignore[no-untyped-def]
    with app.app_context():
        return get_ledger().signer.verifier


def test_concurrent_appends_never_fork_or_lose_entries(ledger_app: APIFlask) -> None:
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            with ledger_app.app_context():
                for n in range(15):
                    with get_database().session() as db:
                        record_event(db, "account:signout", actor=f"user:{worker}",
                                     target=f"session:{n}", at=NOW)  # fmt: skip
                        db.commit()
        except BaseException as err:  # noqa: BLE001  # reported below
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for db in session(ledger_app):
        indices = db.scalars(select(LedgerEntry.index).order_by(LedgerEntry.index)).all()
        assert indices == list(range(120))
        assert verify_ledger(db, None).entries == 120


def test_checkpoints_are_signed_on_the_cadence(
    make_app: AppFactory, fresh_database_url: str
) -> None:
    migrate(fresh_database_url)
    app = make_app(database_url=fresh_database_url, ledger_checkpoint_entries=3)
    client = app.test_client()
    for n in range(4):
        client.post("/api/v1/auth/login", json={"username": f"nobody{n}", "password": "x" * 12})
    verifier = get_ledger_verifier(app)
    for db in session(app):
        stored = db.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size)).all()
        assert [c.size for c in stored] == [1, 4]  # first entry, then 3 more
        for row in stored:
            checkpoint = open_checkpoint(row.note, verifier)
            assert checkpoint.root == proofs.root_at(db, row.size)


FIRST_LEAF = "(SELECT leaf_hash FROM ledger_entries WHERE idx = 0)"
EDITED_EVENT = "CAST(replace(CAST(event AS TEXT), 'user:3', 'user:9') AS BLOB)"


def tamper_cases() -> list[tuple[str, str, str]]:
    return [
        ("edit an event", f"UPDATE ledger_entries SET event = {EDITED_EVENT} WHERE idx = 3",
         "entry 3"),
        ("edit a column", "UPDATE ledger_entries SET actor = 'user:9' WHERE idx = 4", "entry 4"),
        ("edit a leaf hash", f"UPDATE ledger_entries SET leaf_hash = {FIRST_LEAF} WHERE idx = 5",
         "entry 5"),
        ("delete an entry", "DELETE FROM ledger_entries WHERE idx = 6", "entry 6"),
        ("edit a subtree",
         f"UPDATE ledger_nodes SET hash = {FIRST_LEAF} WHERE level = 2 AND idx = 1",
         "subtree (2, 1)"),
        ("edit a checkpoint", f"UPDATE ledger_checkpoints SET root = {FIRST_LEAF}",
         "checkpoint at size 12"),
        ("forge a signature", "UPDATE ledger_checkpoints SET note = replace(note, '12', '13')",
         "checkpoint at size 12"),
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "statement", "where"), tamper_cases(), ids=lambda c: str(c)[:20])
def test_tampering_is_reported_with_where(
    ledger_app: APIFlask, name: str, statement: str, where: str
) -> None:
    append(ledger_app, 12)
    for db in session(ledger_app):
        make_checkpoint(db, get_ledger_signer(ledger_app), at=NOW)
        db.commit()
        verify_ledger(db, get_ledger_verifier(ledger_app))
        if db.bind.dialect.name == "postgresql":  # type: ignore[union-attr]
            statement = statement.replace(
                EDITED_EVENT,
                "convert_to(replace(convert_from(event, 'UTF8'), 'user:3', 'user:9'), 'UTF8')",
            )
        db.execute(text(statement))
        db.commit()
        with pytest.raises(LedgerTampered) as caught:
            verify_ledger(db, get_ledger_verifier(ledger_app))
        assert caught.value.where.startswith(where), (name, str(caught.value))


def get_ledger_signer(app: APIFlask):  # type: ignore[no-untyped-def]
    with app.app_context():
        return get_ledger().signer


def test_reordering_two_entries_is_reported(ledger_app: APIFlask) -> None:
    append(ledger_app, 8)
    for db in session(ledger_app):
        first, second = (db.get(LedgerEntry, i) for i in (2, 3))
        assert first is not None
        assert second is not None
        swap = {"event": second.event, "salt": second.salt, "leaf_hash": second.leaf_hash}
        db.execute(update(LedgerEntry).where(LedgerEntry.index == 3).values(
            event=first.event, salt=first.salt, leaf_hash=first.leaf_hash))  # fmt: skip
        db.execute(update(LedgerEntry).where(LedgerEntry.index == 2).values(**swap))
        db.commit()
        with pytest.raises(LedgerTampered, match="entry 2"):
            verify_ledger(db, None)


def test_cli_verify_exits_non_zero_naming_the_entry(
    ledger_app: APIFlask, runner: CliRunner, fresh_database_url: str
) -> None:
    append(ledger_app, 5)
    env = {
        "STRONGROOM_DATABASE_URL": fresh_database_url,
        "STRONGROOM_DATA_DIR": str(ledger_app.extensions["strongroom.settings"].data_dir),
    }
    ok = runner.invoke(main, ["ledger", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "ledger OK: 5 entries" in ok.output
    for db in session(ledger_app):
        db.execute(delete(LedgerNode).where(LedgerNode.level == 1, LedgerNode.index == 0))
        db.commit()
    bad = runner.invoke(main, ["ledger", "verify"], env=env)
    assert bad.exit_code == 1
    assert "LEDGER TAMPERED at level 1 subtrees" in bad.output


def test_proofs_for_impossible_sizes_are_errors(ledger_app: APIFlask) -> None:
    append(ledger_app, 3)
    for db in session(ledger_app):
        with pytest.raises(ValueError, match="no tree of size 4"):
            proofs.root_at(db, 4)
        with pytest.raises(ValueError, match="leaf 3 is not in a tree of size 3"):
            proofs.inclusion_proof(db, 3, 3)
        with pytest.raises(ValueError, match="no tree of size 5"):
            proofs.consistency_proof(db, 2, 5)


def test_audit_events_from_before_the_ledger_are_moved_into_it(fresh_database_url: str) -> None:
    database = Database(load_settings({"database_url": fresh_database_url}))
    try:
        upgrade(database.engine, "0002")
        with database.engine.begin() as connection:
            for n, tag in enumerate(["account:register", "account:signin:success"]):
                connection.execute(
                    text(
                        "INSERT INTO audit_events (occurred_at, tag, actor, target, details)"
                        " VALUES (:at, :tag, 'user:1', 'user:1', :details)"
                    ),
                    {"at": NOW, "tag": tag, "details": f'{{"n": {n}}}'},
                )
        upgrade(database.engine)
        with database.session() as db:
            moved = db.scalars(select(LedgerEntry).order_by(LedgerEntry.index)).all()
            assert [(e.index, e.tag, e.details) for e in moved] == [
                (0, "account:register", {"n": 0}),
                (1, "account:signin:success", {"n": 1}),
            ]
            assert moved[0].occurred_at == NOW
            assert verify_ledger(db, None).entries == 2
            assert proofs.current_size(db) == 2
            record_event(db, "account:signout", actor="user:1", target="session:1", at=NOW)
            db.commit()
            assert verify_ledger(db, None).entries == 3
    finally:
        database.dispose()


def test_an_unvouched_redaction_is_tampering(ledger_app: APIFlask) -> None:
    append(ledger_app, 4)
    for db in session(ledger_app):
        db.execute(update(LedgerEntry).where(LedgerEntry.index == 1).values(event=None, salt=None))
        db.commit()
        with pytest.raises(LedgerTampered, match="no redaction event vouches"):
            verify_ledger(db, None)


def test_verification_reads_one_snapshot_and_never_blocks_appends(ledger_app: APIFlask) -> None:
    append(ledger_app, 9)
    with ledger_app.app_context():
        database = get_database()
        with database.session(write=False) as reader:
            proofs.begin_snapshot(reader, "test")
            assert proofs.current_size(reader) == 9
            with database.session() as writer:  # appends go ahead while the reader reads
                for n in range(5):
                    record_event(writer, "account:signout", actor="user:1",
                                 target=f"session:{n}", at=NOW)  # fmt: skip
                writer.commit()
            report = verify_ledger(reader, None)  # still the 9-entry snapshot: consistent
            assert report.entries == 9
        with database.session(write=False) as fresh:
            assert verify_ledger(fresh, None).entries == 14
