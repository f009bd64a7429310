"""Two real server processes appending to one PostgreSQL ledger at once: no fork, no loss."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select

from strongroom.db import Database
from strongroom.ledger.models import LedgerEntry
from strongroom.ledger.note import Signer
from strongroom.ledger.verify import verify_ledger
from strongroom.settings import load_settings
from tests.integration.test_serve_auth import call, gunicorn

pytestmark = pytest.mark.slow
REQUESTS_PER_SERVER = 60


def test_two_servers_append_without_forking(tmp_path: Path, postgres_url: str) -> None:
    signer = Signer.generate("127.0.0.1:8000/ledger")
    settings = {
        "STRONGROOM_DATABASE_URL": postgres_url,
        "STRONGROOM_LEDGER_SIGNING_KEY": signer.encode(),
        "STRONGROOM_LEDGER_CHECKPOINT_ENTRIES": "10",
        "STRONGROOM_RATE_LIMIT_SIGNIN_IP": "100000/minute",
        "STRONGROOM_RATE_LIMIT_SIGNIN_ACCOUNT_IP": "100000/minute",
    }
    with ExitStack() as stack:
        for n in (1, 2):
            (tmp_path / f"s{n}").mkdir()
        bases = [stack.enter_context(gunicorn(tmp_path / f"s{n}", **settings)) for n in (1, 2)]

        def attempt(n: int) -> int:
            opener = urllib.request.build_opener()
            status, _ = call(
                opener, "POST", f"{bases[n % 2]}/api/v1/auth/login",
                {"username": f"nobody-{n}", "password": "not the password at all"},
            )  # fmt: skip
            return status

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(attempt, range(2 * REQUESTS_PER_SERVER)))
    assert statuses == [401] * (2 * REQUESTS_PER_SERVER)
    database = Database(load_settings({"database_url": postgres_url}))
    try:
        with database.session() as db:
            indices = db.scalars(select(LedgerEntry.index).order_by(LedgerEntry.index)).all()
            assert indices == list(range(2 * REQUESTS_PER_SERVER))
            report = verify_ledger(db, signer.verifier)
            assert report.checkpoints >= 1  # signed by both servers, one key, one history
    finally:
        database.dispose()
