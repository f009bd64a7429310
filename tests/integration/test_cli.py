"""The `strongroom` command, in-process."""

from __future__ import annotations

import secrets
from pathlib import Path

from click.testing import CliRunner

from strongroom.cli import main
from strongroom.cli.config import configuration_markdown
from strongroom.crypto.keys import generate_key, key_line
from strongroom.ledger.note import Signer
from tests.conftest import MIGRATION_HEAD

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "db", "config"):
        assert command in result.output
    for group, subs in (("db", ("upgrade", "current")), ("config", ("check", "docs"))):
        output = runner.invoke(main, [group, "--help"]).output
        assert all(sub in output for sub in subs)
    serve_help = runner.invoke(main, ["serve", "--help"]).output
    for option in ("--host", "--port", "--workers", "--dev"):
        assert option in serve_help


def test_db_upgrade_and_current(runner: CliRunner, fresh_database_url: str) -> None:
    env = {"STRONGROOM_DATABASE_URL": fresh_database_url}
    pending = runner.invoke(main, ["db", "current", "--check"], env=env)
    assert pending.exit_code == 1
    assert "migrations pending" in pending.output
    upgraded = runner.invoke(main, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from none to {MIGRATION_HEAD}" in upgraded.output
    again = runner.invoke(main, ["db", "upgrade"], env=env)
    assert f"already at {MIGRATION_HEAD}" in again.output
    current = runner.invoke(main, ["db", "current", "--check"], env=env)
    assert current.exit_code == 0
    assert "up to date" in current.output


def test_db_upgrade_reports_an_unreachable_database(runner: CliRunner) -> None:
    env = {"STRONGROOM_DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x"}
    result = runner.invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 2
    assert "migration failed" in result.output
    assert "hunter2" not in result.output


def test_config_check_masks_secrets(runner: CliRunner) -> None:
    secret = secrets.token_urlsafe(48)
    ledger_key = Signer.generate("127.0.0.1:8000/ledger").encode()
    master_keys = key_line("1", generate_key())
    env = {
        "STRONGROOM_SECRET_KEY": secret,
        "STRONGROOM_DATABASE_URL": "postgresql://app:dbpassword@db:5432/strongroom",
        "STRONGROOM_REDIS_URL": "redis://:redispassword@cache:6379/0",
        "STRONGROOM_MODE": "production",
        "STRONGROOM_LEDGER_SIGNING_KEY": ledger_key,
        "STRONGROOM_MASTER_KEYS": master_keys,
        "STRONGROOM_S3_SECRET_ACCESS_KEY": "s3password",
    }
    result = runner.invoke(main, ["config", "check"], env=env)
    assert result.exit_code == 0, result.output
    hidden_values = (secret, "dbpassword", "redispassword", ledger_key.split("+", 4)[4],
                     master_keys.split(":", 1)[1], "s3password")  # fmt: skip
    for hidden in hidden_values:
        assert hidden not in result.output
    assert "app:***@db:5432" in result.output
    assert "would be accepted in production" in result.output


def test_config_check_refuses_bad_production(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["config", "check"], env={"STRONGROOM_MODE": "production", "STRONGROOM_DEBUG": "1"}
    )
    assert result.exit_code == 1
    assert "STRONGROOM_SECRET_KEY is not set" in result.output
    assert "STRONGROOM_DEBUG is on" in result.output


def test_config_check_in_development_explains_the_generated_secret(runner: CliRunner) -> None:
    result = runner.invoke(main, ["config", "check"])
    assert result.exit_code == 0
    assert "development secret is kept in" in result.output
    assert "would stop a production start" in result.output
    assert not Path("var/dev-secrets").exists()  # checking changes nothing


def test_invalid_settings_exit_2_with_the_name(runner: CliRunner) -> None:
    result = runner.invoke(main, ["config", "check"], env={"STRONGROOM_LOG_LEVEL": "loud"})
    assert result.exit_code == 2
    assert "STRONGROOM_LOG_LEVEL" in result.output


def test_configuration_doc_is_current() -> None:
    documented = (REPO / "docs" / "configuration.md").read_text()
    assert documented == configuration_markdown(), (
        "docs/configuration.md is stale: run `strongroom config docs > docs/configuration.md`"
    )


def test_dev_server_is_refused_in_production(runner: CliRunner) -> None:
    env = {"STRONGROOM_MODE": "production", "STRONGROOM_SECRET_KEY": secrets.token_urlsafe(48)}
    result = runner.invoke(main, ["serve", "--dev"], env=env)
    assert result.exit_code == 2
    assert "--dev runs Flask's development server" in result.output


def test_a_world_readable_dev_secret_stops_the_start(runner: CliRunner) -> None:
    secret_file = Path("var/dev-secrets/secret_key")
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text("strongroom-dev-" + secrets.token_urlsafe(32))
    secret_file.chmod(0o644)
    result = runner.invoke(main, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "Development secret unusable" in result.output
    assert "chmod 600" in result.output
    assert "Traceback" not in result.output
