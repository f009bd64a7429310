"""The scheduled backup in ``deploy/``: the cron line and the systemd unit run real
``strongroom backup`` commands with valid options, and the cron chain (create, verify,
prune) works end to end against a real instance, in a real shell."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from strongroom.backup.layout import list_backups
from strongroom.cli.backup import backup_group
from strongroom.crypto.keys import generate_key, key_line
from strongroom.ledger.note import Signer
from strongroom.settings import load_settings
from tests.auth_helpers import new_account
from tests.conftest import AppFactory, migrate
from tests.files_helpers import random_bytes, upload

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICE = DEPLOY / "systemd" / "strongroom-backup.service"
TIMER = DEPLOY / "systemd" / "strongroom-backup.timer"
CRON = DEPLOY / "cron" / "strongroom-backup"
STRONGROOM = Path(sys.executable).with_name("strongroom")


def cron_command() -> str:
    lines = [ln for ln in CRON.read_text().splitlines() if ln and not ln.startswith("#")]
    jobs = [ln for ln in lines if "=" not in ln.split()[0]]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 6)
    assert fields[:5] == ["15", "3", "*", "*", "*"]
    assert fields[5] == "strongroom"  # cron.d: the user
    return fields[6]


def service_commands() -> list[str]:
    return [ln.split("=", 1)[1] for ln in SERVICE.read_text().splitlines()
            if ln.startswith("ExecStart=")]  # fmt: skip


def backup_invocations(command: str) -> list[list[str]]:
    """Every ``strongroom backup ...`` in a shell command line, as argument lists."""
    calls = []
    for part in re.split(r"&&|;", command):
        words = shlex.split(part.replace(">/dev/null", ""))
        if words and words[0].endswith("/strongroom"):
            calls.append(words[1:])
    return calls


@pytest.mark.parametrize("source", ["cron", "systemd"])
def test_scheduled_commands_parse(source: str, tmp_path: Path) -> None:
    """create, verify and prune in that order, each with options the CLI accepts."""
    commands = [cron_command()] if source == "cron" else service_commands()
    calls = [c for command in commands for c in backup_invocations(command)]
    assert [c[:2] for c in calls] == [["backup", "create"], ["backup", "verify"],
                                      ["backup", "prune"]]  # fmt: skip
    for call in calls:
        args = [str(tmp_path) if a in {"${BACKUP_ROOT}", "/var/backups/strongroom"} else a
                for a in call[2:]]  # fmt: skip
        command = backup_group.commands[call[1]]
        with command.make_context(call[1], args) as ctx:
            assert isinstance(ctx, click.Context)
    assert "--keep-daily 7 --keep-weekly 4" in " ".join(calls[2])


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in (SERVICE, TIMER):
        text = unit.read_text().replace("/opt/strongroom/.venv/bin/strongroom", str(STRONGROOM))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(  # fixed program, our own files
        [analyze, "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    problems = [ln for ln in result.stderr.splitlines() if "strongroom-backup" in ln]
    assert problems == [], result.stderr


@pytest.mark.slow
def test_the_cron_chain_backs_up_verifies_and_prunes(
    make_app: AppFactory, fresh_database_url: str, tmp_path: Path,
    storage_settings: dict[str, Any],
) -> None:  # fmt: skip
    migrate(fresh_database_url)
    keys = {
        "master_keys": key_line("1", generate_key()),
        "ledger_signing_key": Signer.generate(load_settings({}).effective_ledger_origin).encode(),
    }
    data_dir = tmp_path / "data"
    app = make_app(database_url=fresh_database_url, data_dir=data_dir, **keys)
    client = app.test_client()
    upload(client, new_account(client, "cron"), random_bytes(3000))
    settings = {"mode": "testing", "database_url": fresh_database_url, "data_dir": data_dir,
                **keys, **storage_settings}  # fmt: skip
    env_file = tmp_path / "strongroom.env"
    env_file.write_text("".join(f"STRONGROOM_{k.upper()}={shlex.quote(str(v))}\n"
                                for k, v in settings.items()))  # fmt: skip
    root = tmp_path / "backups"
    root.mkdir()
    command = (
        cron_command()
        .replace("/etc/strongroom/strongroom.env", str(env_file))
        .replace("/var/lib/strongroom", str(data_dir))
        .replace("/opt/strongroom/.venv/bin/strongroom", str(STRONGROOM))
        .replace("/var/backups/strongroom", str(root))
    )
    for _night in range(2):
        result = subprocess.run(  # our cron line, our paths
            ["/bin/sh", "-c", command], capture_output=True, text=True, check=False,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""  # cron mails output: only problems may print
    # Two backups the same night: the newest of the day is kept, the other pruned.
    (kept,) = list_backups(root)
    assert (kept.path.stat().st_mode & 0o077) == 0


def _unit_environment(path: Path) -> dict[str, str]:
    pairs = [ln.split("=", 1)[1] for ln in path.read_text().splitlines()
             if ln.startswith("Environment=")]  # fmt: skip
    return dict(pair.split("=", 1) for pair in pairs)


def test_backups_run_against_the_same_instance_as_the_server() -> None:
    """Mode and data directory as the server's unit sets them, in the backup unit and
    in the cron line (a backup in development mode would look at another data dir)."""
    server = _unit_environment(DEPLOY / "systemd" / "strongroom.service")
    wanted = {name: server[name] for name in ("STRONGROOM_MODE", "STRONGROOM_DATA_DIR")}
    assert wanted == {"STRONGROOM_MODE": "production", "STRONGROOM_DATA_DIR": "/var/lib/strongroom"}
    backup = _unit_environment(SERVICE)
    assert {name: backup.get(name) for name in wanted} == wanted
    command = cron_command()
    for name, value in wanted.items():
        assert f"{name}={value}" in command
    # ... set before the environment file is read, which may override them.
    assert command.index("STRONGROOM_MODE=") < command.index(". /etc/strongroom/strongroom.env")
