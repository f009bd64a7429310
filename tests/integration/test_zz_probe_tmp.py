import time, socket, secrets
from pathlib import Path
from tests.integration.test_files_serve import *
from tests.integration.test_serve_auth import gunicorn

def test_probe(tmp_path: Path) -> None:
    t0 = time.monotonic()
    with gunicorn(tmp_path) as base:
        print("start", time.monotonic() - t0)
        token = sign_in(base)
        print("signin", time.monotonic() - t0)
        with socket.create_connection(("127.0.0.1", port_of(base)), timeout=15) as sock:
            sock.sendall(upload_head(token, "exact.bin", 100) + secrets.token_bytes(100) + b"Z" * 196 + b"\r\n\r\n")
            data = read_until_closed(sock)
        print("read", time.monotonic() - t0, data)
        t1 = time.monotonic()
    print("stop", time.monotonic() - t1)
