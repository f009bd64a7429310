"""``ledger export`` and ``ledger verify-export``: the format, and tampering found offline."""

from __future__ import annotations

import base64
import json
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from strongroom.cli import main
from strongroom.context import get_database
from strongroom.ledger import export as export_module
from strongroom.ledger import proofs
from strongroom.ledger.checkpoints import make_checkpoint
from strongroom.ledger.export import ExportInvalid, export_ledger, verify_export
from strongroom.ledger.merkle import EMPTY_ROOT, leaf_hash
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.note import Checkpoint, Signer, Verifier
from strongroom.ledger.services import record_event, redact_entry
from strongroom.ledger.web import get_ledger
from tests.conftest import AppFactory, PostgresSchemas, migrate
from tests.integration.test_ledger_storage import session

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def migrated_app(make_app: AppFactory, url: str) -> APIFlask:
    migrate(url)
    return make_app(database_url=url, ledger_checkpoint_entries=1000)


def signer_of(app: APIFlask) -> Signer:
    with app.app_context():
        signer: Signer = get_ledger().signer
    return signer


def append(db: Session, actors: range, tag: str = "account:signout") -> None:
    for n in actors:
        record_event(db, tag, actor=f"user:{n}", target=f"session:{n}", at=NOW)


def build_history(app: APIFlask) -> None:
    """12 entries: 1 redacted (4 is its redaction), checkpoints at 6 and 10, 2 unsigned."""
    for db in session(app):
        record_event(db, "admin:user:update", actor="user:0", target="user:0",
                     details={"display_name": "Zoë \U0001f600 \u2028 \"q\"\n"}, at=NOW)  # fmt: skip
        append(db, range(1, 4))
        redact_entry(db, 1, actor="user:0", reason="GDPR request", at=NOW)
        append(db, range(5, 6))
        make_checkpoint(db, signer_of(app), at=NOW)
        append(db, range(6, 10))
        make_checkpoint(db, signer_of(app), at=NOW)
        append(db, range(10, 12))
        db.commit()


@dataclass
class Export:
    app: APIFlask
    path: Path
    key: str
    env: dict[str, str]


@pytest.fixture
def exported(
    make_app: AppFactory, fresh_database_url: str, runner: CliRunner, tmp_path: Path
) -> Export:
    app = migrated_app(make_app, fresh_database_url)
    build_history(app)
    env = {
        "STRONGROOM_DATABASE_URL": fresh_database_url,
        "STRONGROOM_DATA_DIR": str(app.extensions["strongroom.settings"].data_dir),
    }
    target = tmp_path / "export"
    result = runner.invoke(main, ["ledger", "export", str(target)], env=env)
    assert result.exit_code == 0, result.output
    assert "exported 12 entries and 2 checkpoints" in result.output
    return Export(app, target, signer_of(app).verifier.encode(), env)


@pytest.fixture
def other_database_url(_postgres: PostgresSchemas | None, tmp_path: Path) -> str:
    if _postgres is None:
        return f"sqlite:///{tmp_path / 'other.db'}"
    return _postgres.new()


def verify_cli(runner: CliRunner, path: Path, key: str, *extra: str) -> Any:
    return runner.invoke(main, ["ledger", "verify-export", str(path), "--public-key", key, *extra])


def test_export_holds_exactly_the_log(exported: Export) -> None:
    manifest = json.loads((exported.path / "manifest.json").read_text())
    assert set(manifest) == {"format", "version", "origin", "size", "root", "exported_at"}
    assert manifest["format"] == "strongroom-ledger-export"
    assert (manifest["version"], manifest["size"]) == (1, 12)
    assert (exported.path / "public-key.txt").read_text() == exported.key + "\n"
    lines = (exported.path / "entries.jsonl").read_bytes().split(b"\n")[:-1]
    for db in session(exported.app):
        assert base64.b64decode(manifest["root"]) == proofs.root_at(db, 12)
        rows = db.scalars(select(LedgerEntry).order_by(LedgerEntry.index)).all()
        for row, line in zip(rows, lines, strict=True):
            entry = json.loads(line)
            if row.event is None:
                assert entry == {"index": row.index, "redacted": True,
                                 "leaf_hash": base64.b64encode(row.leaf_hash).decode()}  # fmt: skip
            else:
                assert entry["event"].encode("utf-8") == row.event
                assert base64.b64decode(entry["salt"]) == row.salt
                assert leaf_hash(row.salt + row.event) == row.leaf_hash
    names = sorted(p.name for p in (exported.path / "checkpoints").iterdir())
    assert names == ["10.txt", "6.txt"]
    assert json.loads(lines[1])["redacted"] is True
    assert "Zoë \U0001f600" in lines[0].decode("utf-8")


def test_verify_export_passes_and_reports(exported: Export, runner: CliRunner) -> None:
    key_file = exported.path.parent / "pinned.pub"
    key_file.write_text(exported.key + "\n")
    result = verify_cli(runner, exported.path, f"@{key_file}")
    assert result.exit_code == 0, result.output
    assert "export OK: 12 entries (1 redacted)" in result.output
    assert "2 signed checkpoints verified" in result.output
    assert "entries 10..11 are covered by no signed checkpoint" in result.output
    report = verify_export(exported.path, Verifier.parse(exported.key))
    assert (report.size, report.checkpoints, report.signed_size, report.redacted) == (12, 2, 10, 1)


def lines_of(path: Path) -> list[dict[str, Any]]:
    text = (path / "entries.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1]]  # not splitlines: U+2028


def write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    (path / "entries.jsonl").write_text(text)


def edit_lines(change: Callable[[list[dict[str, Any]]], object]) -> Callable[[Path], None]:
    def mutate(path: Path) -> None:
        lines = lines_of(path)
        change(lines)
        write_lines(path, lines)

    return mutate


def edit_event(index: int, old: str, new: str) -> Callable[[Path], None]:
    def change(lines: list[dict[str, Any]]) -> None:
        assert old in lines[index]["event"]
        lines[index]["event"] = lines[index]["event"].replace(old, new)

    return edit_lines(change)


def swap(lines: list[dict[str, Any]], renumber: bool = False) -> None:
    lines[2], lines[3] = lines[3], lines[2]
    if renumber:
        lines[2]["index"], lines[3]["index"] = 2, 3


def redact_without_vouching(lines: list[dict[str, Any]]) -> None:
    salt, event = base64.b64decode(lines[5]["salt"]), lines[5]["event"].encode()
    digest = base64.b64encode(leaf_hash(salt + event)).decode()
    lines[5] = {"index": 5, "redacted": True, "leaf_hash": digest}


def non_canonical(lines: list[dict[str, Any]]) -> None:
    lines[2]["event"] = json.dumps(json.loads(lines[2]["event"]))  # spaces after ':' and ','


def rewrite_file(name: str, old: str, new: str) -> Callable[[Path], None]:
    def mutate(path: Path) -> None:
        text = (path / name).read_text()
        assert old in text
        (path / name).write_text(text.replace(old, new, 1))

    return mutate


def change_checkpoint_root(path: Path) -> None:
    note = (path / "checkpoints" / "6.txt").read_text()
    root = note.split("\n")[2]
    forged = base64.b64encode(bytes(32)).decode()
    (path / "checkpoints" / "6.txt").write_text(note.replace(root, forged))


Tamper = tuple[str, Callable[[Path], object], str, str]  # name, mutation, where, what


def tamper_cases() -> list[Tamper]:
    return [
        ("edit an event", edit_event(3, '"user:3"', '"user:9"'),
         "checkpoints/6.txt", "one from index 0 on was altered"),
        ("edit a later event", edit_event(7, '"user:7"', '"user:9"'),
         "checkpoints/10.txt", "from index 6 on was altered"),
        ("edit an unsigned event", edit_event(11, '"user:11"', '"user:9"'),
         "manifest.json", "from index 10 on was altered"),
        ("delete a line", edit_lines(lambda lines: lines.pop(4)),
         "entries.jsonl line 5", "holds entry 5 where entry 4 belongs"),
        ("delete the last line", edit_lines(lambda lines: lines.pop()),
         "entries.jsonl", "ends after 11 entries; the manifest says 12"),
        ("swap two lines", edit_lines(swap), "entries.jsonl line 3", "where entry 2 belongs"),
        ("swap and renumber", edit_lines(lambda lines: swap(lines, renumber=True)),
         "entries.jsonl line 3", "the event names index 3, not 2"),
        ("non-canonical event", edit_lines(non_canonical),
         "entries.jsonl line 3", "not canonical"),
        ("redact with no redaction event", edit_lines(redact_without_vouching),
         "entries.jsonl line 6", "no later ledger:entry:redact event vouches for it"),
        ("change a checkpoint", change_checkpoint_root,
         "checkpoints/6.txt", "does not verify"),
        ("rename a checkpoint", lambda p: (p / "checkpoints/6.txt").rename(p / "checkpoints/7.txt"),
         "checkpoints/7.txt", "the signed note is for size 6"),
        ("claim more entries", rewrite_file("manifest.json", '"size": 12', '"size": 13'),
         "entries.jsonl", "the manifest says 13"),
        ("replace the public key", lambda p: (p / "public-key.txt").write_text(
            Signer.generate("localhost/ledger").verifier.encode()),
         "public-key.txt", "another key"),
    ]  # fmt: skip


@pytest.mark.parametrize("case", tamper_cases(), ids=[c[0] for c in tamper_cases()])
def test_tampered_exports_fail_naming_the_place(
    exported: Export, runner: CliRunner, tmp_path: Path, case: Tamper
) -> None:
    name, mutate, where, what = case
    copy = tmp_path / "tampered"
    shutil.copytree(exported.path, copy)
    mutate(copy)
    result = verify_cli(runner, copy, exported.key)
    assert result.exit_code == 1, (name, result.output)
    assert f"EXPORT INVALID at {where}:" in result.output, (name, result.output)
    assert what in result.output, (name, result.output)


def test_a_wrong_public_key_fails(exported: Export, runner: CliRunner) -> None:
    origin = Verifier.parse(exported.key).name
    impostor = Signer.generate(origin).verifier.encode()
    result = verify_cli(runner, exported.path, impostor)
    assert result.exit_code == 1
    assert "EXPORT INVALID at checkpoints/6.txt" in result.output
    assert "no signature by the pinned key" in result.output
    elsewhere = verify_cli(
        runner, exported.path, Signer.generate("x.test/ledger").verifier.encode()
    )
    assert elsewhere.exit_code == 1
    assert "EXPORT INVALID at manifest.json" in elsewhere.output
    malformed = verify_cli(runner, exported.path, "not-a-key")
    assert malformed.exit_code == 2
    assert "public key is unusable" in malformed.output


def signed_note(app: APIFlask, size: int) -> str:
    signer = signer_of(app)
    for db in session(app):
        return signer.sign(Checkpoint(signer.name, size, proofs.root_at(db, size)).text())
    raise AssertionError


def test_a_trusted_checkpoint_must_be_extended(
    exported: Export,
    runner: CliRunner,
    make_app: AppFactory,
    other_database_url: str,
    tmp_path: Path,
) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_text(signed_note(exported.app, 3))  # an auditor fetched it at size 3
    result = verify_cli(runner, exported.path, exported.key, "--checkpoint", str(kept))
    assert result.exit_code == 0, result.output
    assert "consistent with your checkpoint at size 3" in result.output
    # Another history under the same key: same origin and signer, different events.
    other = migrated_app(make_app, other_database_url)
    assert signer_of(other).verifier == Verifier.parse(exported.key)
    for db in session(other):
        append(db, range(100, 104))
        db.commit()
    kept.write_text(signed_note(other, 4))
    forked = verify_cli(runner, exported.path, exported.key, "--checkpoint", str(kept))
    assert forked.exit_code == 1
    assert "EXPORT INVALID at trusted checkpoint: the log forked" in forked.output
    for db in session(other):
        append(db, range(104, 120))
        db.commit()
    kept.write_text(signed_note(other, 20))
    rolled = verify_cli(runner, exported.path, exported.key, "--checkpoint", str(kept))
    assert rolled.exit_code == 1
    assert "EXPORT INVALID at trusted checkpoint: is at size 20" in rolled.output
    assert "beyond the export's 12: rolled back" in rolled.output
    kept.write_text("not a note")
    garbage = verify_cli(runner, exported.path, exported.key, "--checkpoint", str(kept))
    assert garbage.exit_code == 1
    assert "EXPORT INVALID at trusted checkpoint" in garbage.output


def test_export_refuses_a_non_empty_directory(exported: Export, runner: CliRunner) -> None:
    result = runner.invoke(main, ["ledger", "export", str(exported.path)], env=exported.env)
    assert result.exit_code == 2
    assert "not empty" in result.output
    for db in session(exported.app):
        with pytest.raises(FileExistsError):
            export_ledger(db, exported.path, exported.key)


def test_the_export_is_one_snapshot(
    exported: Export, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redaction committed mid-export (its redaction event past the exported size) must
    not leak into the export: the entry would be redacted with nothing vouching for it."""
    original = export_module._write_entries

    def racing(db: Session, path: Path, size: int) -> None:
        for other in session(exported.app):
            redact_entry(other, 2, actor="user:0", reason="racing", at=NOW)
            append(other, range(50, 52))
            other.commit()
        original(db, path, size)

    monkeypatch.setattr(export_module, "_write_entries", racing)
    with exported.app.app_context(), get_database().session(write=False) as db:
        manifest = export_ledger(db, tmp_path / "snapshot", exported.key)
    assert manifest["size"] == 12
    report = verify_export(tmp_path / "snapshot", Verifier.parse(exported.key))
    assert (report.size, report.redacted) == (12, 1)
    for db in session(exported.app):
        assert proofs.current_size(db) == 15
        proofs.current_size(db)  # the session's transaction has begun: refused
        with pytest.raises(ValueError, match="has not begun a transaction"):
            export_ledger(db, tmp_path / "again", exported.key)


def test_an_empty_log_exports_and_verifies(
    make_app: AppFactory, fresh_database_url: str, tmp_path: Path
) -> None:
    app = migrated_app(make_app, fresh_database_url)
    for db in session(app):
        make_checkpoint(db, signer_of(app), at=NOW)
        db.commit()
    for db in session(app):
        manifest = export_ledger(db, tmp_path / "empty", signer_of(app).verifier.encode(), at=NOW)
    assert manifest["size"] == 0
    assert manifest["root"] == base64.b64encode(EMPTY_ROOT).decode()
    report = verify_export(tmp_path / "empty", signer_of(app).verifier)
    assert (report.size, report.checkpoints, report.signed_size) == (0, 1, 0)


def garbage_cases() -> list[tuple[str, bytes]]:
    deep = b"[" * 50_000 + b"]" * 50_000
    salt = b'{"index": 0, "salt": "AAAAAAAAAAAAAAAAAAAAAA==", '
    return [
        ("entries.jsonl", b"not json\n"),
        ("entries.jsonl", b"[]\n"),
        ("entries.jsonl", b"{}\n"),
        ("entries.jsonl", b"\n"),
        ("entries.jsonl", b"\xff\xfe{}\n"),
        ("entries.jsonl", b'{"index": NaN, "salt": "", "event": ""}\n'),
        ("entries.jsonl", b'{"index": 0, "index": 0, "salt": "", "event": ""}\n'),
        ("entries.jsonl", b'{"index": true, "redacted": true, "leaf_hash": ""}\n'),
        ("entries.jsonl", b'{"index": 0, "redacted": 1, "leaf_hash": "AAAA"}\n'),
        ("entries.jsonl", b'{"index": 0, "salt": "***", "event": "{}"}\n'),
        ("entries.jsonl", b'{"index": 0, "salt": "\xc3\xa9", "event": "{}"}\n'),
        ("entries.jsonl", salt + b'"event": {}}\n'),
        ("entries.jsonl", salt + b'"event": "\\ud800"}\n'),
        ("entries.jsonl", salt + b'"event": "' + deep + b'"}\n'),
        ("entries.jsonl", salt + b'"event": "[1' + b"1" * 5000 + b']"}\n'),
        ("entries.jsonl", salt + b'"event": "[]"}\n'),
        ("entries.jsonl", b'{"index": 0}'),
        ("entries.jsonl", b"[" * 2_000_000 + b"\n"),
        ("entries.jsonl", b"[" * 500_000 + b"]" * 500_000 + b"\n"),
        ("entries.jsonl", b'{"index": 0, "x": "' + deep + b'"}\n'),
        ("manifest.json", b"{"),
        ("manifest.json", b"[]"),
        ("manifest.json", b" " * 100_000),
        ("manifest.json", b'{"format": 1}'),
        ("public-key.txt", b"\xff"),
        ("public-key.txt", b"a+b+c"),
        ("checkpoints/6.txt", b"\xff\n\n"),
        ("checkpoints/6.txt", b"x" * 20_000),
        ("checkpoints/x.txt", b""),
        ("checkpoints/06.txt", b""),
    ]  # fmt: skip


def test_malformed_exports_are_only_ever_export_invalid(exported: Export, tmp_path: Path) -> None:
    verifier = Verifier.parse(exported.key)
    for number, (name, content) in enumerate(garbage_cases()):
        copy = tmp_path / f"garbage{number}"
        shutil.copytree(exported.path, copy)
        (copy / name).write_bytes(content)
        with pytest.raises(ExportInvalid) as caught:
            verify_export(copy, verifier)
        assert caught.value.where.startswith(name.split("/")[0]), (name, content[:40])
    for name in ("manifest.json", "entries.jsonl", "public-key.txt", "checkpoints"):
        copy = tmp_path / f"missing-{name}"
        shutil.copytree(exported.path, copy)
        if name == "checkpoints":
            shutil.rmtree(copy / name)
        else:
            (copy / name).unlink()
        with pytest.raises(ExportInvalid, match=name):
            verify_export(copy, verifier)
    with pytest.raises(ExportInvalid, match="trusted checkpoint"):
        verify_export(exported.path, verifier, b"\xff" * 100)


def test_random_corruption_never_escapes_as_another_error(exported: Export, tmp_path: Path) -> None:
    verifier = Verifier.parse(exported.key)
    files = [p.relative_to(exported.path) for p in exported.path.rglob("*") if p.is_file()]
    rng = random.Random(20261128)  # noqa: S311  # reproducible corruption, not secrets
    failures = 0
    for number in range(150):
        copy = tmp_path / f"fuzz{number}"
        shutil.copytree(exported.path, copy)
        target = copy / rng.choice(files)
        data = bytearray(target.read_bytes())
        position = rng.randrange(len(data))
        data[position] = rng.choice([data[position] ^ (1 << rng.randrange(8)), 0x22, 0x5C, 0x0A])
        target.write_bytes(bytes(data))
        try:
            verify_export(copy, verifier)
        except ExportInvalid:
            failures += 1
        shutil.rmtree(copy)
    assert failures > 100
