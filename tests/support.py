"""A small API used only by tests to exercise the error, validation and body machinery.

The chassis has no domain routes yet that take bodies or query strings, so these
stand-ins, built exactly the way real views are (APIFlask schemas derived from
``InputSchema``, ``accepts_body``), let the tests drive every error class.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

from apiflask import APIBlueprint, abort
from apiflask.fields import Integer, String
from apiflask.validators import Length, Range
from flask import request

from strongroom.api import InputSchema
from strongroom.auth.policy import public
from strongroom.bodies import accepts_body
from strongroom.middleware import sensitive_path

log = logging.getLogger("tests.probe")

bp = APIBlueprint("probe", __name__, url_prefix="/api/v1/probe")


class EchoIn(InputSchema):
    name = String(required=True, validate=Length(1, 20))
    count = Integer(load_default=1, validate=Range(1, 10))


class SearchQuery(InputSchema):
    q = String(load_default="")
    page = Integer(load_default=1, validate=Range(min=1))


class SignInIn(InputSchema):
    username = String(required=True)
    password = String(required=True)


@bp.post("/echo")
@public("test:probe")
@bp.input(EchoIn)
def echo(json_data: dict[str, Any]) -> dict[str, Any]:
    return {"name": json_data["name"], "count": json_data["count"]}


@bp.get("/search")
@public("test:probe")
@bp.input(SearchQuery, location="query")
def search(query_data: dict[str, Any]) -> dict[str, Any]:
    return query_data


@bp.post("/raw")
@public("test:probe")
@accepts_body("application/octet-stream", limit="max_upload_size")
def raw() -> dict[str, Any]:
    return {"received": len(request.get_data())}


@bp.post("/signin")
@public("test:probe")
@bp.input(SignInIn)
def signin(json_data: dict[str, Any]) -> dict[str, Any]:
    # A careless log call: the logging filter must keep the secret out of the output.
    log.info(
        "sign-in attempt",
        extra={"username": json_data["username"], "password": json_data["password"]},
    )
    return {"ok": True}


@bp.get("/link/<token>")
@public("test:probe")
@sensitive_path
def link(token: str) -> dict[str, Any]:
    return {"length": len(token)}


@bp.get("/boom")
@public("test:probe")
def boom() -> dict[str, Any]:
    raise RuntimeError("internal detail: connection string postgresql://app:pw@db/x")


@bp.get("/throttled")
@public("test:probe")
def throttled() -> dict[str, Any]:
    abort(429, "Slow down.", headers={"Retry-After": "30"})


class TcpForwarder:
    """Forwards a local port to a server, until ``stop()`` cuts every connection.

    Lets a test take a real database "down" without stopping the shared server.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._stopped:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: Any, dst: Any) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._listener.close()
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
