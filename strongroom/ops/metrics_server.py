"""Metrics under gunicorn: the shared directory, the master's hooks, and the exporter
on ``STRONGROOM_METRICS_BIND``.

``strongroom serve`` calls ``prepare`` before it builds the app, so every metric the
app and its forked workers create is file-backed in a fresh directory of this run
(never an old run's counts). The hooks then keep it right:

* ``when_ready`` (the master, before the first fork): the master serves no request,
  so the gauge files it wrote while building the app (pool sizes) are removed.
* ``child_exit``: a dead worker's gauges go (``mark_process_dead``); its counters
  and histograms stay, so nothing it counted is lost when gunicorn replaces it.
* ``on_exit``: the exporter stops and the directory is removed.

The exporter is prometheus-client's small threaded HTTP server in the master,
answering any path with the sum of every worker's files plus the ledger gauges.
It carries no token: bind it to a private interface only.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import Collector

from strongroom.ops import metrics

log = logging.getLogger(__name__)


def prepare() -> Path:
    """A fresh metrics directory for this run, in use from now on (and in children)."""
    directory = metrics.make_multiprocess_dir()
    metrics.use_multiprocess_dir(directory)
    return directory


def remove(directory: Path) -> None:
    """Remove this run's directory; the process counts in memory from now on."""
    metrics.use_in_process()
    shutil.rmtree(directory, ignore_errors=True)


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` as (host, port)."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass
class Exporter:
    """The running metrics HTTP server."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_exporter(bind: str, directory: Path, extra: Iterable[Collector]) -> Exporter:
    """Serve every worker's metrics (and ``extra``) at ``bind``; raises ``OSError``
    when the address cannot be bound."""
    registry = CollectorRegistry(auto_describe=False)
    multiprocess.MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    for collector in extra:
        registry.register(collector)
    host, port = split_bind(bind)
    server, thread = start_http_server(port, addr=host, registry=registry)
    return Exporter(server, thread)


def gunicorn_hooks(directory: Path, exporter: Exporter | None) -> dict[str, Any]:
    """The gunicorn settings (server hooks) that keep ``directory`` right."""
    path = str(directory)

    def when_ready(_server: Any) -> None:
        multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]

    def child_exit(_server: Any, worker: Any) -> None:
        multiprocess.mark_process_dead(worker.pid, path)  # type: ignore[no-untyped-call]

    def on_exit(_server: Any) -> None:
        if exporter is not None:
            exporter.stop()
        remove(directory)

    return {"when_ready": when_ready, "child_exit": child_exit, "on_exit": on_exit}
