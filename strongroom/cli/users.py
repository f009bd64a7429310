"""``strongroom users``: the first admin, and recovery when no admin can sign in.

Each command checks the settings and the schema as ``serve`` does, then runs one
service of ``strongroom.admin.services`` in one transaction, so the admin API's rules
hold (the last active admin cannot be disabled, demoted or deleted); the audit trail
names ``system:cli``. A password is never an argument (it would land in the shell
history and ``ps``); generated passwords and tokens are printed once, never stored.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import click
from marshmallow import ValidationError, validate
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from strongroom.admin import services
from strongroom.api import plain_text
from strongroom.app import ensure_schema_current
from strongroom.auth.deps import AuthDeps
from strongroom.auth.exceptions import AuthError, PasswordRejected
from strongroom.auth.models import Role, Status, User
from strongroom.auth.usernames import canonical_username
from strongroom.cli.common import fail, settings_or_exit
from strongroom.db import Database
from strongroom.guard import prepare_settings
from strongroom.settings import ConfigError

ACTOR = "system:cli"
LIST_PAGE_SIZE = 200
ROLES = click.Choice([role.value for role in Role])
STATUSES = click.Choice([status.value for status in Status])

EMAIL = validate.Email()
OptionCheck = Callable[[click.Context, click.Parameter, str | None], str | None]


@click.group("users")
def users_group() -> None:
    """Accounts: create an admin, list, disable, change roles, reset passwords, invite."""


@contextmanager
def _accounts() -> Iterator[tuple[Session, AuthDeps]]:
    """A session and the accounts dependencies; commits when the block succeeds.

    Expected failures exit with status 2 and a message: unfit settings, a database
    unreachable or behind, the accounts errors (their messages never echo a secret).
    A database error shows only its type: its text can carry a password hash.
    """
    try:
        settings = prepare_settings(settings_or_exit())  # as at start-up: dev secret filled in
    except ConfigError as err:
        fail("invalid settings:", err.problems)
    database = Database(settings)
    try:
        ensure_schema_current(database)
        with database.session() as db:
            yield db, AuthDeps.from_settings(settings)
            db.commit()
    except ConfigError as err:
        fail("the database is not ready:", err.problems)
    except PasswordRejected as err:
        fail("password rejected:", err.reasons)
    except AuthError as err:
        fail(str(err), [])
    except SQLAlchemyError as err:
        fail("the database refused the change:", [type(err).__name__])
    finally:
        database.dispose()


def _checked(*validators: Callable[[str], object]) -> OptionCheck:
    """An option callback applying the admin API's own rules for the field to its value."""

    def check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            for validator in validators:
                validator(value)
        except ValidationError as err:
            raise click.BadParameter(str(err)) from err
        return value

    return check


@users_group.command("create-admin")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.option("--generate", is_flag=True, help="Generate a temporary password, shown once.")
@click.option("--email", callback=_checked(EMAIL, validate.Length(max=254)), help="E-mail address.")
@click.option("--display-name", default="", callback=_checked(validate.Length(max=100), plain_text))
def create_admin(
    username: str, password_stdin: bool, generate: bool, email: str | None, display_name: str
) -> None:
    """Create an administrator account named USERNAME.

    The password is asked for twice without echo, unless --password-stdin reads it
    (exactly as given, only the line ending removed) or --generate makes a temporary
    one that must be changed at first sign-in. Every password passes the usual policy.
    """
    if password_stdin and generate:
        raise click.UsageError("Use --password-stdin or --generate, not both.")
    with _accounts() as (db, deps):  # settings, schema and username are checked first
        canonical_username(username)
        password = None if generate else _read_password(from_stdin=password_stdin)
        user, temporary = services.create_user(
            db, deps, actor=ACTOR, username=username, password=password, role=Role.ADMIN,
            email=email, display_name=display_name,
        )  # fmt: skip
    click.echo(f"Created the administrator {user.username!r} (id {user.id}).")
    if temporary is not None:
        _show_temporary_password(temporary)


def _read_password(*, from_stdin: bool) -> str:
    """The new password as typed; from stdin, bytes decoded as UTF-8 with no other change."""
    if not from_stdin:
        return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.buffer.readline()
    if line.endswith(b"\n"):
        line = line.removesuffix(b"\n").removesuffix(b"\r")
    try:
        password = line.decode("utf-8")
    except UnicodeDecodeError:
        fail("the password on standard input is not valid UTF-8.", [])
    if not password:
        fail("no password on standard input (--password-stdin reads its first line).", [])
    return password


def _show_temporary_password(password: str) -> None:
    click.echo(f"Temporary password (shown only this once): {password}")
    click.echo("It must be changed at first sign-in; until then the account can do nothing else.")


@users_group.command("list")
@click.option("--query", "-q", default="", help="Part of a username, display name or e-mail.")
@click.option("--role", type=ROLES, help="Only accounts with this role.")
@click.option("--status", type=STATUSES, help="Only accounts with this status.")
def list_users(query: str, role: str | None, status: str | None) -> None:
    """List accounts (role, status, 2FA, last sign-in), by username."""
    with _accounts() as (db, _deps):
        users = _all_users(db, query, role, status)
    if not users:
        click.echo("No accounts match.")
        return
    for line in _table(users):
        click.echo(line)


def _all_users(db: Session, query: str, role: str | None, status: str | None) -> list[User]:
    """Every match, page after page (the service caps a page's size)."""
    users: list[User] = []
    page = 1
    while True:
        found = services.search_users(
            db, query=query, role=Role(role) if role else None,
            status=Status(status) if status else None, page=page, per_page=LIST_PAGE_SIZE,
        )  # fmt: skip
        users.extend(found.users)
        if len(found.users) < LIST_PAGE_SIZE:
            return users
        page += 1


def _table(users: list[User]) -> list[str]:
    """Aligned columns; usernames follow a strict ASCII rule, so nothing here can be an escape."""
    rows = [("ID", "USERNAME", "ROLE", "STATUS", "2FA", "LAST SIGN-IN")]
    rows += [
        (str(u.id), u.username, u.role.value, u.status.value,
         "on" if u.two_factor_enabled else "off", _when(u.last_sign_in_at))
        for u in users
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


@users_group.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable USERNAME: sessions end, tokens are revoked (not the last active admin)."""
    _set_status(username, Status.DISABLED)


@users_group.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable USERNAME again."""
    _set_status(username, Status.ACTIVE)


def _set_status(username: str, status: Status) -> None:
    with _accounts() as (db, deps):
        user = services.find_user(db, username)
        already = user.status is status
        services.set_status(db, deps, actor=ACTOR, user=user, status=status)
    click.echo(f"{user.username!r} {'was already' if already else 'is now'} {status.value}.")


@users_group.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLES)
def set_role(username: str, role: str) -> None:
    """Make USERNAME a user or an admin (their sessions end: issued for the old role)."""
    with _accounts() as (db, deps):
        user = services.find_user(db, username)
        services.set_role(db, deps, actor=ACTOR, user=user, role=Role(role))
    click.echo(f"{user.username!r} is now {role}.")


@users_group.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Set a temporary password for USERNAME, shown once (sessions end, tokens revoked)."""
    with _accounts() as (db, deps):
        user = services.find_user(db, username)
        password = services.reset_password(db, deps, actor=ACTOR, user=user)
    _show_temporary_password(password)
    if not user.is_active:
        click.echo(f"{user.username!r} is disabled: `strongroom users enable` lets them in.")


@users_group.command("reset-2fa")
@click.argument("username")
def reset_two_factor(username: str) -> None:
    """Turn off USERNAME's two-factor authentication (lost device); their sessions end."""
    with _accounts() as (db, deps):
        user = services.find_user(db, username)
        services.reset_two_factor(db, deps, actor=ACTOR, user=user)
    click.echo(f"2FA is off for {user.username!r}; they can enrol again after signing in.")


@users_group.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def delete(username: str, yes: bool) -> None:
    """Delete USERNAME for good (not the last active admin).

    Their sessions, tokens and recovery codes go too; the audit trail keeps the id.
    Without --yes, asks for confirmation on a terminal, and refuses when there is none.
    """
    if not yes:
        if not _interactive():
            fail("refusing to delete without --yes (no terminal to confirm on).", [])
        click.confirm(f"Delete the account {username!r} for good?", abort=True)
    with _accounts() as (db, deps):
        user = services.find_user(db, username)
        services.delete_user(db, deps, actor=ACTOR, user=user)
    click.echo(f"Deleted {user.username!r}.")


def _interactive() -> bool:
    return sys.stdin.isatty()


@users_group.command("invite")
@click.option(
    "--note", default="", callback=_checked(validate.Length(max=200), plain_text), help="For whom."
)
@click.option("--role", type=ROLES, default=Role.USER.value, show_default=True)
def invite(note: str, role: str) -> None:
    """Create a single-use invitation to register; its token is shown once."""
    with _accounts() as (db, deps):
        token, invitation = services.create_invite(
            db, deps, actor_id=None, note=note, role=Role(role)
        )
        closed = deps.settings.registration == "closed"
    click.echo(f"Invitation token for a new {role} (shown only this once): {token}")
    click.echo(f"It works once, until {_when(invitation.expires_at)}.")
    if closed:
        click.echo("STRONGROOM_REGISTRATION is closed: set it to invite for the token to work.")
