"""Helpers shared by the CLI commands: loading settings or exiting with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click

from strongroom.app import ensure_schema_current
from strongroom.db import Database
from strongroom.guard import prepare_settings
from strongroom.settings import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


def fail(heading: str, problems: list[str]) -> NoReturn:
    """Print ``heading`` and one line per problem on stderr, then exit with status 2."""
    click.echo(f"strongroom: {heading}", err=True)
    for problem in problems:
        click.echo(f"  - {problem}", err=True)
    raise SystemExit(EXIT_CONFIG)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as err:
        fail("invalid settings:", err.problems)


@contextmanager
def open_database(heading: str) -> Iterator[tuple[Database, Settings]]:
    """The checked settings and a migrated database, disposed of on exit; exits with a
    message under ``heading`` when either is unusable."""
    settings = settings_or_exit()
    try:
        settings = prepare_settings(settings)
        database = Database(settings)
    except ConfigError as err:
        fail(heading, err.problems)
    try:
        ensure_schema_current(database)
        yield database, settings
    except ConfigError as err:
        fail(heading, err.problems)
    finally:
        database.dispose()
