"""The server's malloc tuning: transfer buffers are reused from the heap instead of
mapped and faulted in afresh for every 1 MiB piece."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="mallopt tuning applies to glibc only"
)

CHURN = """
import resource, sys, threading
from strongroom.server import tune_malloc

assert tune_malloc(), "mallopt refused a setting"

def churn():
    for _ in range(300):
        pieces = [bytes(1024 * 1024) for _ in range(4)]  # a transfer's pieces in flight
        del pieces

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
workers = [threading.Thread(target=churn) for _ in range(3)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_tuned_malloc_reuses_transfer_buffers_without_page_faults() -> None:
    # 3 threads x 300 rounds x 4 MiB = 3.5 GiB allocated; fresh mappings would fault
    # in 256 pages per MiB (over 900,000 faults). Reused heap memory faults once.
    result = subprocess.run(
        [sys.executable, "-c", CHURN], capture_output=True, text=True, check=True, timeout=60
    )
    faults = int(result.stdout)
    assert faults < 20_000, f"{faults} minor page faults"
