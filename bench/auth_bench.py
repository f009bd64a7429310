"""Benchmark the two costs every Strongroom client pays: signing in and being recognised.

Run from the repository root:

    .venv/bin/python bench/auth_bench.py [--workers N] [--database-url URL]

It migrates a fresh database in a temporary data directory, starts the real server
(``strongroom serve``: gunicorn, N workers x 4 threads) on a free local port and
measures two things over HTTP:

* Sign-in latency: sequential ``POST /api/v1/auth/login`` requests for one account,
  each timed with ``time.perf_counter``. The server verifies the password with
  Argon2id at its production-strength defaults (t=3, m=64 MiB, p=4); that hash is
  deliberately expensive and dominates the time, so this number is the price of the
  password-guessing defence, not of the web stack.
* Session lookup throughput: concurrent clients, each on its own keep-alive
  connection, calling ``GET /api/v1/me`` with ``Authorization: Bearer <session
  token>`` for a fixed time after a warm-up. Each request finds the session by the
  hash of its token, with its user, in one indexed query, so this is the baseline
  cost every authenticated API request carries.

The client runs on the same machine as the server and competes with it for the CPUs,
so the throughput is a lower bound for what the server would do alone. Rate limits
are raised for the run so the benchmark measures work, not throttling.

Only the standard library is used. The median is ``statistics.median``; the 95th
percentile is ``statistics.quantiles(samples, n=20, method="inclusive")[18]``: the
inclusive method interpolates between samples and never reaches past the slowest
one, which the default (exclusive) method does with few samples. The exit status is 1
when any request failed unexpectedly.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

HOST = "127.0.0.1"
STRONGROOM = Path(sys.executable).parent / "strongroom"
USERNAME = "bench-user"
THREADS_PER_WORKER = 4
HIGH_LIMIT = "100000/minute"
BENCH_ENV = {
    "STRONGROOM_MODE": "development",
    "STRONGROOM_RATE_LIMIT_SIGNIN_IP": HIGH_LIMIT,
    "STRONGROOM_RATE_LIMIT_SIGNIN_ACCOUNT_IP": HIGH_LIMIT,
    "STRONGROOM_RATE_LIMIT_REGISTER_IP": HIGH_LIMIT,
    "STRONGROOM_RATE_LIMIT_TOKEN_FAILURES_IP": HIGH_LIMIT,
}
ARGON2_SETTINGS = (
    "STRONGROOM_ARGON2_TIME_COST",
    "STRONGROOM_ARGON2_MEMORY_KIB",
    "STRONGROOM_ARGON2_PARALLELISM",
)
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
MAX_ERROR_EXAMPLES = 5


class BenchError(Exception):
    """The benchmark cannot go on; the message says which request failed and how."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LoadResult:
    """What the concurrent clients saw inside the measured window."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


# --- the server --------------------------------------------------------------------------


def server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    """The caller's environment without any STRONGROOM_* setting, plus the bench's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(BENCH_ENV, STRONGROOM_DATA_DIR=str(data_dir))
    if database_url:
        env["STRONGROOM_DATABASE_URL"] = database_url
    return env


def run_cli(args: Sequence[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``strongroom ARGS`` to completion; its standard output, or BenchError."""
    done = subprocess.run(  # noqa: S603  # our own console script, fixed arguments
        [str(STRONGROOM), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(
            f"`strongroom {' '.join(args)}` exited with {done.returncode}:\n"
            f"{done.stdout}{done.stderr}"
        )
    return done.stdout


def argon2_parameters(env: dict[str, str], cwd: Path) -> str:
    """The Argon2id parameters the server will use, as `strongroom config check` shows them."""
    output = run_cli(["config", "check"], env, cwd)
    found = dict(re.findall(r"^(STRONGROOM_ARGON2_\w+)\s+(\S+)", output, re.MULTILINE))
    time_cost, memory_kib, lanes = (found.get(name, "?") for name in ARGON2_SETTINGS)
    memory = f"{int(memory_kib) // 1024} MiB" if memory_kib.isdigit() else memory_kib
    return f"Argon2id t={time_cost}, m={memory}, p={lanes}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(
    env: dict[str, str], cwd: Path, port: int, workers: int | None, log: TextIO
) -> subprocess.Popen[bytes]:
    args = [str(STRONGROOM), "serve", "--host", HOST, "--port", str(port)]
    if workers is not None:
        args += ["--workers", str(workers)]
    args += ["--threads", str(THREADS_PER_WORKER)]
    return subprocess.Popen(  # noqa: S603  # our own console script, fixed arguments
        args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
    )


def wait_until_healthy(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"the server exited with {process.returncode} while starting:\n"
                f"{log_path.read_text(errors='replace')}"
            )
        connection = http.client.HTTPConnection(HOST, port, timeout=1)
        try:
            if request(connection, "GET", "/healthz").status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise BenchError(f"/healthz did not answer 200 within {STARTUP_TIMEOUT:.0f} s")


def worker_count(master_pid: int) -> int:
    """How many worker processes gunicorn runs: the master's children, once stable."""
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        count = len(children_of(master_pid))
        if count != last:
            last, stable_since = count, time.monotonic()
        elif count > 0 and time.monotonic() - stable_since >= 1:
            break
        time.sleep(0.1)
    return last


def children_of(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (gunicorn's graceful stop), then wait; SIGKILL only if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        sys.stderr.write(f"server did not stop within {STOP_TIMEOUT:.0f} s; killing it\n")
        process.kill()
        process.wait()


# --- HTTP --------------------------------------------------------------------------------


def request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: dict[str, str] | None = None,
    token: str | None = None,
) -> Reply:
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    return Reply(response.status, response.read())


def expect(reply: Reply, status: int, what: str) -> Any:
    """The JSON body when ``reply`` has ``status``, otherwise BenchError quoting both."""
    if reply.status != status:
        raise BenchError(
            f"{what}: expected {status}, got {reply.status}\n"
            f"  response body: {reply.body.decode(errors='replace')}"
        )
    return reply.json()


def register(port: int, password: str) -> None:
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        body = {"username": USERNAME, "password": password}
        reply = request(connection, "POST", "/api/v1/auth/register", body)
    finally:
        connection.close()
    if reply.status == 409:
        raise BenchError(
            f"{USERNAME} already exists: --database-url must name an empty database "
            "(or schema) that the benchmark may fill and you drop afterwards"
        )
    expect(reply, 201, f'POST /api/v1/auth/register {{"username": "{USERNAME}", ...}}')


def sign_in(connection: http.client.HTTPConnection, password: str) -> str:
    reply = request(
        connection, "POST", "/api/v1/auth/login", {"username": USERNAME, "password": password}
    )
    body = expect(reply, 200, f'POST /api/v1/auth/login {{"username": "{USERNAME}", ...}}')
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise BenchError(f"POST /api/v1/auth/login: 200 without a token: {body!r}")
    return token


def measure_sign_ins(port: int, password: str, count: int) -> tuple[str, list[float]]:
    """One unmeasured sign-in (its session token is returned), then ``count`` timed ones."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        token = sign_in(connection, password)
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            sign_in(connection, password)
            latencies.append(time.perf_counter() - started)
    finally:
        connection.close()
    return token, latencies


def load_client(
    port: int, token: str, window: tuple[float, float], result: LoadResult, lock: threading.Lock
) -> None:
    """GET /api/v1/me in a loop on one keep-alive connection until the window closes.

    Only requests that both start and finish inside ``window`` count (latency and
    errors); errors during the warm-up are counted too, as failures are never expected.
    """
    measure_from, measure_until = window
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    examples: list[str] = []
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        while (started := time.perf_counter()) < measure_until:
            try:
                reply = request(connection, "GET", "/api/v1/me", token=token)
                problem = None if reply.status == 200 else f"HTTP {reply.status}"
                detail = reply.body[:300].decode(errors="replace")
            except (OSError, http.client.HTTPException) as err:
                connection.close()  # the next request opens a new connection
                problem = detail = f"{type(err).__name__}: {err}"
            finished = time.perf_counter()
            if problem is not None:
                errors[problem] += 1
                if len(examples) < MAX_ERROR_EXAMPLES:
                    examples.append(f"GET /api/v1/me -> {problem}: {detail}")
            elif started >= measure_from and finished <= measure_until:
                latencies.append(finished - started)
    finally:
        connection.close()
    with lock:
        result.latencies += latencies
        result.errors += errors
        result.examples += examples[: MAX_ERROR_EXAMPLES - len(result.examples)]


def measure_throughput(
    port: int, token: str, clients: int, warmup: float, seconds: float
) -> LoadResult:
    start = time.perf_counter() + 0.2  # give every thread time to start
    window = (start + warmup, start + warmup + seconds)
    result = LoadResult(seconds=seconds)
    lock = threading.Lock()
    threads = [
        threading.Thread(target=load_client, args=(port, token, window, result, lock))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


# --- the report --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def database_kind(database_url: str | None) -> str:
    if not database_url:
        return "SQLite (file in the temporary data directory)"
    scheme = database_url.split(":", 1)[0].split("+", 1)[0]
    return {"postgresql": "PostgreSQL", "postgres": "PostgreSQL"}.get(scheme, scheme)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def median_p95(samples: Sequence[float]) -> tuple[float, float]:
    return statistics.median(samples), statistics.quantiles(samples, n=20, method="inclusive")[18]


def report(setup: dict[str, str], sign_ins: list[float], load: LoadResult, clients: int) -> str:
    sign_median, sign_p95 = median_p95(sign_ins)
    lines = ["## Strongroom authentication benchmark", ""]
    lines += ["| Setting | Value |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in setup.items()]
    lines += [
        "",
        "| Measurement | Requests | Median | p95 | Other |",
        "| --- | --- | --- | --- | --- |",
        f"| Sign-in, sequential (`POST /api/v1/auth/login`) | {len(sign_ins)} "
        f"| {ms(sign_median)} | {ms(sign_p95)} "
        f"| min {ms(min(sign_ins))}, max {ms(max(sign_ins))} |",
    ]
    if len(load.latencies) >= 2:
        me_median, me_p95 = median_p95(load.latencies)
        rate = len(load.latencies) / load.seconds
        lines.append(
            f"| Session lookup, {clients} clients (`GET /api/v1/me`) | {len(load.latencies)} "
            f"in {load.seconds:g} s | {ms(me_median)} | {ms(me_p95)} "
            f"| **{rate:.0f} req/s**, {load.error_count} errors |"
        )
    else:
        lines.append("| Session lookup (`GET /api/v1/me`) | no successful requests | | | |")
    lines += [
        "",
        'p95 = `statistics.quantiles(samples, n=20, method="inclusive")[18]`. The client '
        f"({clients} threads for the load test) runs on the same machine as the server and "
        f"shares its {os.cpu_count()} CPUs with it.",
    ]
    if load.error_count:
        lines += ["", "Errors:", *(f"- {kind}: {n}" for kind, n in load.errors.items())]
        lines += ["", "First errors:", *(f"- {example}" for example in load.examples)]
    return "\n".join(lines) + "\n"


# --- the run -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn worker processes (default: the `strongroom serve` default)",
    )
    parser.add_argument("--signins", type=int, default=50, help="timed sign-ins (default: 50)")
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent /me clients (default: 16)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured /me load time (default: 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured /me load first (default: 1)"
    )
    parser.add_argument(
        "--database-url", default=None, help="STRONGROOM_DATABASE_URL (default: SQLite)"
    )
    args = parser.parse_args(argv)
    if args.signins < 2 or args.clients < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("need --signins >= 2, --clients >= 1, --seconds > 0, --warmup >= 0")
    return args


def progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def run(args: argparse.Namespace, tmp: Path) -> int:
    env = server_env(tmp / "var", args.database_url)
    progress(run_cli(["db", "upgrade"], env, tmp).strip())
    argon2 = argon2_parameters(env, tmp)
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("w") as log:
        server = start_server(env, tmp, port, args.workers, log)
        try:
            wait_until_healthy(server, port, log_path)
            workers = worker_count(server.pid)
            progress(f"server up on port {port} with {workers} workers; registering")
            password = secrets.token_urlsafe(24)  # 192 random bits
            register(port, password)
            progress(f"{args.signins} sign-ins ({argon2})")
            token, sign_ins = measure_sign_ins(port, password, args.signins)
            progress(
                f"{args.clients} clients on /api/v1/me: "
                f"{args.warmup:g} s warm-up, {args.seconds:g} s measured"
            )
            load = measure_throughput(port, token, args.clients, args.warmup, args.seconds)
        except BenchError:
            progress(f"server log:\n{log_path.read_text(errors='replace')[-4000:]}")
            raise
        finally:
            stop_server(server)
    if "Traceback" in log_path.read_text(errors="replace"):
        progress(f"the server logged a traceback:\n{log_path.read_text(errors='replace')}")
        load.errors["server traceback"] += 1
    workers_label = f"{workers} workers" + ("" if args.workers else " (the CLI default)")
    setup = {
        "Machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {cpu_model()}",
        "Python": platform.python_version(),
        "Database": database_kind(args.database_url),
        "Server": f"gunicorn, {workers_label} x {THREADS_PER_WORKER} threads",
        "Password hashing": argon2,
    }
    sys.stdout.write(report(setup, sign_ins, load, args.clients))
    return 1 if load.error_count else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="strongroom-bench-") as tmp:
        try:
            return run(args, Path(tmp))
        except BenchError as err:
            sys.stderr.write(f"bench: FAILED: {err}\n")
            return 1


if __name__ == "__main__":
    sys.exit(main())
