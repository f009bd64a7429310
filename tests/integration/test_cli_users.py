"""``strongroom users``: accounts managed from the shell, checked through the HTTP API."""

from __future__ import annotations

import ast
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from strongroom.cli import main
from strongroom.db import Database
from strongroom.ledger.models import AuditEvent
from strongroom.settings import load_settings
from tests.conftest import AppFactory, migrate

PACKAGE = Path(__file__).resolve().parents[2] / "strongroom"
PASSWORD = "violet-harbour-lantern-97"
TEMPORARY = re.compile(r"^Temporary password \(shown only this once\): (\S+)$", re.MULTILINE)
PROBLEM = "urn:strongroom:problem:"

Invoke = Callable[..., Result]


def cli_env(database_url: str) -> dict[str, str]:
    return {
        "STRONGROOM_DATABASE_URL": database_url,
        "STRONGROOM_MODE": "testing",
        "STRONGROOM_TESTING_FAST_PASSWORD_HASHING": "1",
        "STRONGROOM_ARGON2_MEMORY_KIB": "64",
        "STRONGROOM_ARGON2_TIME_COST": "1",
        "STRONGROOM_ARGON2_PARALLELISM": "1",
        "STRONGROOM_SECRET_KEY": secrets.token_urlsafe(48),
    }


def invoker(runner: CliRunner, database_url: str) -> Invoke:
    env = cli_env(database_url)

    def invoke(*args: str, stdin: str | bytes | None = None) -> Result:
        return runner.invoke(main, ["users", *args], env=env, input=stdin)

    return invoke


@pytest.fixture
def cli(runner: CliRunner, database_url: str) -> Invoke:
    """``strongroom users ...`` on the run's shared database."""
    return invoker(runner, database_url)


def unique(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_admin(cli: Invoke, name: str | None = None, password: str = PASSWORD) -> str:
    name = name or unique()
    result = cli("create-admin", name, "--password-stdin", stdin=password + "\n")
    assert result.exit_code == 0, result.output
    return name


def temporary_password(result: Result) -> str:
    found = TEMPORARY.findall(result.output)
    assert len(found) == 1, result.output
    return str(found[0])


def login(client: FlaskClient, username: str, password: str) -> TestResponse:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def bearer(response: TestResponse) -> dict[str, str]:
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def audit_trail(database_url: str, target: str) -> list[tuple[str, str]]:
    database = Database(load_settings({"database_url": database_url}))
    try:
        with database.session() as db:
            events = db.scalars(
                select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id)
            )
            return [(event.tag, event.actor) for event in events]
    finally:
        database.dispose()


def exists(cli: Invoke, name: str) -> bool:
    result = cli("list", "--query", name)
    assert result.exit_code == 0, result.output
    return name in result.output


def test_help_lists_the_users_commands(runner: CliRunner) -> None:
    assert "users" in runner.invoke(main, ["--help"]).output
    output = runner.invoke(main, ["users", "--help"]).output
    for command in ("create-admin", "list", "disable", "enable", "set-role", "reset-password"):
        assert command in output
    assert "delete" in output
    assert "invite" in output


def test_a_password_from_stdin_is_used_exactly_as_typed(cli: Invoke, client: FlaskClient) -> None:
    name = unique()
    password = "  quiet meadow lantern 41 "  # spaces at both ends belong to the password
    result = cli("create-admin", name, "--password-stdin", stdin=password + "\r\n")
    assert result.exit_code == 0, result.output
    assert f"Created the administrator {name!r}" in result.output
    assert password.strip() not in result.output
    assert login(client, name, password.strip()).status_code == 401
    signed_in = login(client, name, password)
    assert signed_in.status_code == 200
    user = signed_in.get_json()["user"]
    assert (user["role"], user["must_change_password"]) == ("admin", False)


def test_the_password_prompt_asks_twice_without_echo(cli: Invoke, client: FlaskClient) -> None:
    name = unique()
    result = cli("create-admin", name, "--email", "ops@example.org", stdin=f"{PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert "Repeat for confirmation" in result.output
    assert login(client, name, PASSWORD).get_json()["user"]["email"] == "ops@example.org"


def test_a_generated_password_must_be_changed_first(cli: Invoke, client: FlaskClient) -> None:
    name = unique()
    result = cli("create-admin", name, "--generate")
    assert result.exit_code == 0, result.output
    password = temporary_password(result)
    assert result.output.count(password) == 1
    assert "must be changed at first sign-in" in result.output
    headers = bearer(login(client, name, password))
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert (me["username"], me["role"], me["must_change_password"]) == (name, "admin", True)
    refused = client.get("/api/v1/admin/users", headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["type"] == PROBLEM + "password-change-required"


def test_a_weak_password_is_refused_with_the_reason(cli: Invoke) -> None:
    name = unique()
    result = cli("create-admin", name, "--password-stdin", stdin="password1234\n")
    assert result.exit_code == 2
    assert "password rejected:" in result.output
    assert "  - This password appears in lists of breached passwords" in result.output
    assert "Traceback" not in result.output
    assert not exists(cli, name)


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["Bad Name!", "--generate"], None, "A username needs"),
        (["system", "--generate"], None, "is reserved"),
        (["trailing-newline\n", "--generate"], None, "A username needs"),
        ([unique(), "--email", "not-an-email", "--generate"], None, "Not a valid email"),
        ([unique(), "--generate", "--password-stdin"], None, "not both"),
        ([unique(), "--password-stdin"], "", "no password on standard input"),
        ([unique(), "--password-stdin"], b"\xff\xfe-not-utf8\n", "not valid UTF-8"),
        (["Bad Name!"], None, "A username needs"),  # before the password is asked for
    ],
)
def test_bad_input_exits_2_without_a_traceback(
    cli: Invoke, args: list[str], stdin: str | bytes | None, message: str
) -> None:
    result = cli("create-admin", *args, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_taken_username_exits_2(cli: Invoke) -> None:
    name = new_admin(cli)
    for taken in (name, name.upper()):
        result = cli("create-admin", taken, "--generate")
        assert result.exit_code == 2
        assert "That username is taken" in result.output
        assert TEMPORARY.search(result.output) is None


def test_a_disabled_account_cannot_sign_in(cli: Invoke, client: FlaskClient) -> None:
    new_admin(cli)  # keeps an active admin whatever ran before
    name = new_admin(cli)
    headers = bearer(login(client, name, PASSWORD))
    result = cli("disable", name)
    assert result.exit_code == 0, result.output
    assert f"{name!r} is now disabled." in result.output
    assert "was already disabled" in cli("disable", name).output
    assert login(client, name, PASSWORD).status_code == 401
    assert client.get("/api/v1/me", headers=headers).status_code == 401  # sessions ended
    assert cli("enable", name).exit_code == 0
    assert login(client, name, PASSWORD).status_code == 200


def test_the_last_active_admin_is_kept(runner: CliRunner, fresh_database_url: str) -> None:
    migrate(fresh_database_url)
    cli = invoker(runner, fresh_database_url)
    solo = new_admin(cli)
    for args in (["disable", solo], ["set-role", solo, "user"], ["delete", solo, "--yes"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert "This is the last active administrator" in result.output
    new_admin(cli)
    assert cli("set-role", solo, "user").exit_code == 0
    assert "'user'" not in cli("list", "--role", "admin").output


def test_reset_password_gives_a_temporary_one(cli: Invoke, client: FlaskClient) -> None:
    name = new_admin(cli)
    headers = bearer(login(client, name, PASSWORD))
    result = cli("reset-password", name)
    assert result.exit_code == 0, result.output
    temporary = temporary_password(result)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert login(client, name, PASSWORD).status_code == 401
    signed_in = login(client, name, temporary)
    assert signed_in.status_code == 200
    assert signed_in.get_json()["user"]["must_change_password"] is True


def test_delete_needs_a_confirmation(
    cli: Invoke, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_admin(cli)
    name = new_admin(cli)
    headers = bearer(login(client, name, PASSWORD))
    refused = cli("delete", name)
    assert refused.exit_code == 2
    assert "without --yes" in refused.output
    monkeypatch.setattr("strongroom.cli.users._interactive", lambda: True)
    assert cli("delete", name, stdin="n\n").exit_code == 1
    assert exists(cli, name)
    assert cli("delete", name, "--yes").exit_code == 0
    assert not exists(cli, name)
    assert login(client, name, PASSWORD).status_code == 401
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    missing = cli("delete", name, "--yes")
    assert missing.exit_code == 2
    assert f"No account named {name!r}." in missing.output


def test_unknown_accounts_exit_2(cli: Invoke) -> None:
    for command in ("disable", "enable", "reset-password"):
        result = cli(command, unique("nobody"))
        assert result.exit_code == 2
        assert "No account named" in result.output


def test_list_filters_and_shows_the_columns(cli: Invoke, client: FlaskClient) -> None:
    prefix = unique("list")
    new_admin(cli)
    active, disabled = new_admin(cli, f"{prefix}-a"), new_admin(cli, f"{prefix}-b")
    assert login(client, active, PASSWORD).status_code == 200
    assert cli("disable", disabled).exit_code == 0
    lines = cli("list", "-q", prefix).output.splitlines()
    assert lines[0].split() == ["ID", "USERNAME", "ROLE", "STATUS", "2FA", "LAST", "SIGN-IN"]
    assert lines[1].split()[1:5] == [active, "admin", "active", "off"]
    assert lines[1].endswith("UTC")
    assert lines[2].split()[1:] == [disabled, "admin", "disabled", "off", "never"]
    only = cli("list", "-q", prefix, "--status", "disabled", "--role", "admin").output
    assert disabled in only
    assert active not in only
    assert cli("list", "-q", unique("none")).output == "No accounts match.\n"


def test_an_invitation_token_is_printed_once(
    cli: Invoke, make_app: AppFactory, database_url: str
) -> None:
    result = cli("invite", "--role", "admin", "--note", "for the new operator")
    assert result.exit_code == 0, result.output
    (token,) = re.findall(r"\bsri_\S+", result.output)
    assert "It works once, until" in result.output
    client = make_app(database_url=database_url, registration="invite").test_client()
    name = unique("invited")
    body = {"username": name, "password": PASSWORD, "invite": token}
    registered = client.post("/api/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.get_json()
    assert registered.get_json()["role"] == "admin"
    again = client.post("/api/v1/auth/register", json={**body, "username": unique("again")})
    assert again.status_code == 403


def test_a_database_with_pending_migrations_is_refused(
    runner: CliRunner, fresh_database_url: str
) -> None:
    cli = invoker(runner, fresh_database_url)
    for args in (["list"], ["create-admin", unique()]):  # refused before any prompt
        result = cli(*args)
        assert result.exit_code == 2
        assert "strongroom db upgrade" in result.output


def test_no_account_is_ever_created_with_a_fixed_password() -> None:
    sources = {path: path.read_text("utf-8") for path in PACKAGE.rglob("*.py")}
    assert not [path for path, text in sources.items() if "admin123" in text.lower()]
    fixed = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path, text in sources.items()
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.keyword)
        and node.arg == "password"
        and isinstance(node.value, ast.Constant)
        and node.value.value not in (None, "")
    ]
    assert not fixed, f"a literal password is passed in {fixed}"


def test_the_audit_trail_names_the_cli(cli: Invoke, database_url: str) -> None:
    new_admin(cli)
    created = cli("create-admin", unique(), "--generate")
    user_id = re.search(r"\(id (\d+)\)", created.output)
    assert user_id, created.output
    name = re.search(r"'(\S+)'", created.output)
    assert name
    for args in (["disable"], ["enable"], ["reset-password"], ["delete", "--yes"]):
        assert cli(args[0], name[1], *args[1:]).exit_code == 0
    assert audit_trail(database_url, f"user:{user_id[1]}") == [
        (f"admin:user:{tag}", "system:cli")
        for tag in ("create", "disable", "enable", "password-reset", "delete")
    ]
