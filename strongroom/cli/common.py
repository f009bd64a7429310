"""Helpers shared by the CLI commands: loading settings or exiting with a clear message."""

from __future__ import annotations

from typing import NoReturn

import click

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
