"""Metrics under ``strongroom serve --workers 2``: the scraped totals are exact across
both workers, on the app port (with the token) and on ``STRONGROOM_METRICS_BIND``,
and stay exact when a worker is killed and gunicorn replaces it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_serve import BIN, base_env, free_port, run_cli

pytestmark = pytest.mark.slow

TOKEN = secrets.token_urlsafe(32)
HEALTHZ = {"route": "/healthz", "method": "GET", "status": "200"}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    tmp: Path
    log: Path

    @property
    def metrics_dir(self) -> Path:
        [directory] = (self.tmp / "tmp").glob("strongroom-metrics-*")
        return directory

    def workers(self) -> set[int]:
        """The pids of the master's children (its workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()}


def get(url: str, token: str | None = None) -> str:
    request = urllib.request.Request(url)  # noqa: S310  # a local test server
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body: bytes = response.read()
    return body.decode()


def wait_until(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                total += sample.value
    return total


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "tmp").mkdir()
    metrics_port = free_port()
    env = base_env(
        tmp_path,
        STRONGROOM_METRICS_TOKEN=TOKEN,
        STRONGROOM_METRICS_BIND=f"127.0.0.1:{metrics_port}",
        TMPDIR=str(tmp_path / "tmp"),  # where serve makes its metrics directory
    )
    migrated = run_cli("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Server(process, port, metrics_port, tmp_path, log)
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/healthz"), "the server")
        wait_until(lambda: len(running.workers()) == 2, "two workers")
        yield running
    finally:
        process.terminate()
        process.wait(timeout=60)
    output = log.read_text()
    assert "Traceback" not in output, output
    assert f"metrics of all workers: http://127.0.0.1:{metrics_port}/metrics" in output


def scrapes(server: Server) -> tuple[str, str]:
    """The exposition from the app port (token) and from the metrics bind (no token)."""
    app_port = get(f"http://127.0.0.1:{server.port}/metrics", TOKEN)
    bind = get(f"http://127.0.0.1:{server.metrics_port}/metrics")
    return app_port, bind


def hit_healthz(server: Server, count: int) -> None:
    url = f"http://127.0.0.1:{server.port}/healthz"
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda _: get(url), range(count)))
    assert len(bodies) == count


def healthz_count_of(server: Server, pid: int) -> float:
    """What one worker's own counter file holds for /healthz."""
    files = [str(server.metrics_dir / f"counter_{pid}.db")]
    for metric in MultiProcessCollector.merge(files, accumulate=True):
        for sample in metric.samples:
            if sample.name == "strongroom_http_requests_total" and sample.labels == HEALTHZ:
                return float(sample.value)
    return 0.0


def test_totals_are_exact_across_workers_and_survive_a_killed_worker(server: Server) -> None:
    # The fixture's own start-up checks count too.
    base = value(scrapes(server)[1], "strongroom_http_requests_total", **HEALTHZ)
    assert base >= 1
    hit_healthz(server, 40)
    for text in scrapes(server):
        assert value(text, "strongroom_http_requests_total", **HEALTHZ) == base + 40
        duration_count = value(text, "strongroom_http_request_duration_seconds_count", **HEALTHZ)
        assert duration_count == base + 40
        # Both live workers' pools, and not the master's (it serves no request).
        assert value(text, "strongroom_db_pool_size") == 2 * 5
        assert value(text, "strongroom_ledger_collector_up") == 1

    # Kill the worker that counted most, so its counts must outlive it.
    before = server.workers()
    victim = max(before, key=lambda pid: healthz_count_of(server, pid))
    counted_by_victim = healthz_count_of(server, victim)
    assert counted_by_victim > 0
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: len(server.workers()) == 2 and victim not in server.workers(),
        "gunicorn to replace the killed worker",
    )
    wait_until(lambda: not (server.metrics_dir / f"gauge_livesum_{victim}.db").exists(),
               "child_exit to drop the dead worker's gauges")  # fmt: skip
    assert (server.metrics_dir / f"counter_{victim}.db").exists()

    hit_healthz(server, 25)
    for text in scrapes(server):
        assert value(text, "strongroom_http_requests_total", **HEALTHZ) == base + 65
        duration_count = value(text, "strongroom_http_request_duration_seconds_count", **HEALTHZ)
        assert duration_count == base + 65
        assert value(text, "strongroom_db_pool_size") == 2 * 5
    app_port, _ = scrapes(server)
    scrapes_counted = value(
        app_port, "strongroom_http_requests_total", route="/metrics", method="GET", status="200"
    )
    assert scrapes_counted >= 2  # the app-port scrapes, counted like any request


def test_the_app_port_needs_the_token_and_the_master_stops_cleanly(server: Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"http://127.0.0.1:{server.port}/metrics")
    assert refused.value.code == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    refused.value.close()
    directory = server.metrics_dir
    server.process.terminate()
    assert server.process.wait(timeout=60) == 0
    assert not directory.exists()  # on_exit removed this run's metric files
    with pytest.raises(OSError):  # noqa: PT011  # refused connection, any flavour
        get(f"http://127.0.0.1:{server.metrics_port}/metrics")


def test_a_metrics_address_in_use_stops_serve_with_a_sentence(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]
        env = base_env(tmp_path, STRONGROOM_METRICS_BIND=f"127.0.0.1:{taken_port}",
                       TMPDIR=str(tmp_path))  # fmt: skip
        migrated = run_cli("db", "upgrade", env=env)
        assert migrated.returncode == 0, migrated.stderr
        result = run_cli("serve", "--port", str(free_port()), "--workers", "1", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"STRONGROOM_METRICS_BIND (127.0.0.1:{taken_port}) cannot be bound" in result.stderr
    assert not list(tmp_path.glob("strongroom-metrics-*"))  # removed on the way out
