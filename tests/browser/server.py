"""A real Strongroom server for the browser suite: ``strongroom db upgrade`` then
``strongroom serve`` (gunicorn, two workers) on a free loopback port, with a fresh
SQLite database and blob directory, cheap password hashing and a first admin."""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent / "strongroom"
ADMIN_USERNAME = "admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    env: dict[str, str]
    admin_password: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def database(self) -> Path:
        return self.data_dir / "strongroom.db"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``strongroom ARGS`` against this server's database and data."""
        done = subprocess.run(
            [str(BIN), *args], env=self.env, capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def sql(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        """Run SQL on the server's SQLite database (what an operator with the file
        could do behind the application's back)."""
        with sqlite3.connect(self.database) as connection:
            rows = connection.execute(statement, params).fetchall()
            connection.commit()
        return rows

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def server_env(data_dir: Path, admin_password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(
        {
            "STRONGROOM_MODE": "testing",
            "STRONGROOM_DATA_DIR": str(data_dir),
            "STRONGROOM_TESTING_FAST_PASSWORD_HASHING": "true",
            "STRONGROOM_ARGON2_MEMORY_KIB": "64",
            "STRONGROOM_ARGON2_TIME_COST": "1",
            "STRONGROOM_ARGON2_PARALLELISM": "1",
            "STRONGROOM_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
            "STRONGROOM_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
            # Every test signs in from 127.0.0.1; the limits themselves are tested
            # elsewhere, here they would only make the walk-throughs wait.
            "STRONGROOM_RATE_LIMIT_SIGNIN_IP": "10000/minute",
            "STRONGROOM_RATE_LIMIT_SIGNIN_ACCOUNT_IP": "10000/minute",
            "STRONGROOM_RATE_LIMIT_REGISTER_IP": "10000/minute",
            "STRONGROOM_RATE_LIMIT_LINK_IP": "10000/minute",
            "STRONGROOM_LOG_FORMAT": "text",
        }
    )
    return env


def start_server(root: Path) -> LiveServer:
    data_dir = root / "var"
    admin_password = "first-" + secrets.token_urlsafe(16)
    env = server_env(data_dir, admin_password)
    migrated = subprocess.run(
        [str(BIN), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    # Share links are made on the configured public URL: this server's own.
    env["STRONGROOM_BASE_URL"] = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = LiveServer(
        f"http://127.0.0.1:{port}", data_dir, env, admin_password, process, log_path
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{server.url}/readyz", timeout=2)  # noqa: S310
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the server did not start:\n" + server.log()) from None
            time.sleep(0.2)
        else:
            return server
    server.stop()
    raise RuntimeError("the server did not answer within 60 s:\n" + server.log())
