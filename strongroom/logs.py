"""Logging set-up: JSON lines in production, readable text in development.

Structured fields are passed with ``extra={...}``. A filter on the handler drops the
value of any field whose name suggests a secret (password, token, cookie, ...), so a
careless ``extra`` can never put one in the log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import IO, Any

request_id_var: ContextVar[str | None] = ContextVar("strongroom_request_id", default=None)

REDACTED = "[redacted]"
_SENSITIVE = re.compile(
    r"pass(word|phrase)?|secret|token|authorization|cookie|api[_-]?key|credential|otp|totp",
    re.IGNORECASE,
)
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}
_HANDLER_TAG = "_strongroom_handler"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS}


def is_sensitive(name: str) -> bool:
    return bool(_SENSITIVE.search(name))


class ContextFilter(logging.Filter):
    """Adds the request id and scrubs fields whose names mark them as secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        for key in extra_fields(record):
            if is_sensitive(key):
                setattr(record, key, REDACTED)
        if isinstance(record.args, dict):
            record.args = {
                k: (REDACTED if is_sensitive(str(k)) else v) for k, v in record.args.items()
            }
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, UTC timestamps, extras as top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        body.update(extra_fields(record))
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message key=value ...`` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in extra_fields(record).items())
        if not extras:
            return line
        head, sep, tail = line.partition("\n")  # keep any traceback after the fields
        return f"{head} {extras}{sep}{tail}"


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Install Strongroom's handler on the root logger, replacing only its own earlier one.

    Handlers that others installed (pytest's capture, gunicorn's) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_TAG, True)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # SQLAlchemy and werkzeug are chatty at INFO; their warnings still come through.
    for noisy in ("sqlalchemy.engine", "werkzeug", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
