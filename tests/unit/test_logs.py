"""Log formatting and the secret filter, on the real handler's output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from strongroom.logs import REDACTED, configure_logging, request_id_var


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    yield buffer
    configure_logging("INFO", "text")  # leave a normal handler behind


def test_json_lines_carry_fields_and_request_id(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream)
    token = request_id_var.set("req-1")
    try:
        logging.getLogger("strongroom.test").info("hello %s", "world", extra={"user_id": 7})
    finally:
        request_id_var.reset(token)
    record = json.loads(stream.getvalue())
    assert record["message"] == "hello world"
    assert record["request_id"] == "req-1"
    assert record["user_id"] == 7
    assert record["level"] == "INFO"
    assert record["ts"].endswith("+00:00")


def test_text_lines_are_readable(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream)
    logging.getLogger("strongroom.test").warning("disk low", extra={"free_mb": 12})
    line = stream.getvalue()
    assert "WARNING" in line
    assert "[-] disk low free_mb=12" in line


@pytest.mark.parametrize(
    "field",
    [
        "password",
        "new_password",
        "token",
        "Authorization",
        "session_cookie",
        "api_key",
        "totp_code",
        "client_secret",
    ],
)
def test_secret_fields_are_redacted(stream: io.StringIO, field: str) -> None:
    configure_logging("INFO", "json", stream)
    logging.getLogger("strongroom.test").info("x", extra={field: "hunter2-value"})
    output = stream.getvalue()
    assert "hunter2-value" not in output
    assert json.loads(output)[field] == REDACTED


def test_secret_named_format_arguments_are_redacted(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream)
    logging.getLogger("strongroom.test").info(
        "user %(user)s pw %(password)s", {"user": "ann", "password": "hunter2-value"}
    )
    assert "hunter2-value" not in stream.getvalue()
    assert "user ann" in stream.getvalue()


def test_reconfiguring_replaces_only_our_handler(stream: io.StringIO) -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    try:
        configure_logging("INFO", "text", stream)
        configure_logging("INFO", "json", stream)
        ours = [h for h in root.handlers if getattr(h, "_strongroom_handler", False)]
        assert len(ours) == 1
        assert foreign in root.handlers
    finally:
        root.removeHandler(foreign)
