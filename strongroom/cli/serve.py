"""``strongroom serve``: gunicorn with settings suited to long uploads (see
``strongroom.server``), or Flask's development server with ``--dev``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from flask import Flask

from strongroom.app import create_app
from strongroom.auth import accounts
from strongroom.cli.common import fail, settings_or_exit
from strongroom.context import get_database
from strongroom.devkeys import dev_secrets_dir
from strongroom.ops import metrics_server
from strongroom.ops.metrics_server import Exporter
from strongroom.ops.metrics_web import EXTENSION as METRICS_EXTENSION
from strongroom.server import (
    GUNICORN_DEFAULTS,
    MAX_DEFAULT_WORKERS,
    GunicornServer,
    default_workers,
    tune_malloc,
)
from strongroom.settings import ConfigError, Mode, Settings


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help=f"Worker processes [default: 2 x CPUs + 1, at most {MAX_DEFAULT_WORKERS}].",
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Threads per worker.",
)
@click.option(
    "--dev",
    is_flag=True,
    help="Flask's development server with the reloader (refused in production).",
)
def serve(host: str, port: int, workers: int | None, threads: int, dev: bool) -> None:
    """Serve Strongroom over HTTP."""
    # First of all: glibc fixes its arena limit when a second thread first allocates,
    # and building the app may start threads. The workers inherit it at the fork.
    tune_malloc()
    settings = settings_or_exit()
    if dev and settings.mode is Mode.PRODUCTION:
        fail(
            "cannot start:",
            ["--dev runs Flask's development server; it is refused in production mode."],
        )
    # Before the app exists: every metric it creates must be file-backed for the workers.
    metrics_dir = None if dev else _prepare_metrics_dir()
    try:
        app = create_app()
    except ConfigError as err:
        _remove_metrics_dir(metrics_dir)
        fail("cannot start:", err.problems)
    _announce(settings, host, port)
    if not _has_admin(app):
        click.echo(
            "  no admin account yet: create one with `strongroom users create-admin NAME`"
            " (in the venv: .venv/bin/strongroom)",
            err=True,
        )
    if dev:
        if settings.metrics_bind:
            click.echo(
                "  note: STRONGROOM_METRICS_BIND is served by gunicorn's master only; with "
                "--dev, scrape /metrics with STRONGROOM_METRICS_TOKEN",
                err=True,
            )
        app.run(host=host, port=port, debug=settings.debug, use_reloader=True)
        return
    assert metrics_dir is not None  # noqa: S101  # prepared above unless --dev
    exporter = _start_exporter(app, settings, metrics_dir)
    if (workers or default_workers()) > 1 and not settings.redis_url:
        click.echo(
            "  note: without STRONGROOM_REDIS_URL each worker process counts rate limits "
            "on its own",
            err=True,
        )
    options = {
        **GUNICORN_DEFAULTS,
        "bind": _bind(host, port),
        "workers": workers or default_workers(),
        "threads": threads,
        "loglevel": settings.log_level.lower(),
        **metrics_server.gunicorn_hooks(metrics_dir, exporter),
    }
    # Heartbeat files on tmpfs never block on disk I/O; only gunicorn writes there.
    if Path("/dev/shm").is_dir():  # noqa: S108
        options["worker_tmp_dir"] = "/dev/shm"  # noqa: S108
    GunicornServer(app, options).run()


def _prepare_metrics_dir() -> Path:
    try:
        return metrics_server.prepare()
    except OSError as err:
        fail(
            "cannot start:",
            [
                f"The metrics directory cannot be created in {tempfile.gettempdir()} "
                f"({err.strerror}): set TMPDIR to a writable directory."
            ],
        )


def _remove_metrics_dir(directory: Path | None) -> None:
    if directory is not None:
        metrics_server.remove(directory)


def _start_exporter(app: Flask, settings: Settings, directory: Path) -> Exporter | None:
    """The metrics of all workers on ``STRONGROOM_METRICS_BIND``, if set."""
    if not settings.metrics_bind:
        return None
    collector = app.extensions[METRICS_EXTENSION].collector  # the ledger gauges
    try:
        exporter = metrics_server.start_exporter(settings.metrics_bind, directory, [collector])
    except OSError as err:
        metrics_server.remove(directory)
        fail(
            "cannot start:",
            [f"STRONGROOM_METRICS_BIND ({settings.metrics_bind}) cannot be bound: {err.strerror}."],
        )
    click.echo(
        f"  metrics of all workers: http://{settings.metrics_bind}/metrics (no token: keep it "
        "on a private interface)",
        err=True,
    )
    return exporter


def _has_admin(app: Flask) -> bool:
    with app.app_context(), get_database().session() as db:
        return accounts.count_active_admins(db) > 0


def _announce(settings: Settings, host: str, port: int) -> None:
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"Strongroom is starting in {settings.mode} mode on http://{shown_host}:{port}/", err=True
    )
    click.echo(f"  data directory: {settings.data_dir}", err=True)
    if settings.mode is not Mode.PRODUCTION:
        click.echo(
            f"  development secrets: {dev_secrets_dir(settings.data_dir)} "
            "(generated here; never use them in production)",
            err=True,
        )
    if settings.storage_backend == "s3":
        blobs = f"s3://{settings.s3_bucket}/{settings.s3_prefix}"
    else:
        blobs = str(settings.storage_dir or settings.data_dir / "blobs")
    click.echo(f"  encrypted files: {blobs}", err=True)
    click.echo(
        f"  open http://{shown_host}:{port}/ in a browser to sign in, or "
        f"http://{shown_host}:{port}/register to create an account",
        err=True,
    )
    click.echo(
        f"  health: http://{shown_host}:{port}/healthz   "
        f"readiness: http://{shown_host}:{port}/readyz",
        err=True,
    )
    click.echo("  press Ctrl+C to stop", err=True)
