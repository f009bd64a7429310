"""A stand-in Sentry server: accepts envelopes on 127.0.0.1 and keeps their raw bytes."""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Envelope:
    raw: bytes  # the decompressed body, exactly as the SDK sent it
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def events(self, kind: str = "event") -> list[dict[str, Any]]:
        return [json.loads(body) for header, body in self.items if header.get("type") == kind]


def parse_envelope(raw: bytes) -> Envelope:
    """Sentry's envelope format: a header line, then (item header, payload) pairs."""
    envelope = Envelope(raw)
    _header, _, rest = raw.partition(b"\n")
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        item = json.loads(line)
        length = item.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length + 1 :]
        envelope.items.append((item, payload))
    return envelope


class SentryStub:
    """Collects every envelope posted to ``/api/<project>/envelope/``."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding:
                    raise AssertionError(f"unexpected Content-Encoding {encoding}")
                with stub._lock:
                    stub.paths.append(self.path)
                    stub.envelopes.append(parse_envelope(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.port}/1"

    def events(self, kind: str = "event") -> list[dict[str, Any]]:
        with self._lock:
            return [event for envelope in self.envelopes for event in envelope.events(kind)]

    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(envelope.raw for envelope in self.envelopes)

    def wait_for_events(
        self, count: int, timeout: float = 15, kind: str = "event"
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events(kind)
            if len(events) >= count:
                return events
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events(kind))} {kind}s arrived, expected {count}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
