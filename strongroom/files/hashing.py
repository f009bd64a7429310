"""SHA-256 computed on another core while the upload goes on.

An upload hashes every byte twice (the plaintext and the ciphertext, both committed to
in the ledger); at about 1.2 GB/s per hash on this hardware, that is more work than
reading, encrypting and writing together (see docs/benchmarks.md). ``hashlib``
releases the GIL for large buffers, so each hash runs in a thread of its own, fed
through a short queue: the request thread only hands over references to immutable
``bytes`` and moves on, and the queue's bound keeps memory flat.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Sequence
from types import TracebackType

QUEUE_DEPTH = 3  # chunks of up to 1 MiB: at most ~3 MiB waiting per hash


class BackgroundHash:
    """A SHA-256 fed from a worker thread; use as a context manager so the thread
    always ends, even when the upload fails."""

    def __init__(self, name: str) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[Sequence[bytes] | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._done = False

    def _run(self) -> None:
        while (pieces := self._queue.get()) is not None:
            for piece in pieces:
                self._digest.update(piece)

    def update(self, pieces: Sequence[bytes]) -> None:
        """Hash ``pieces`` (immutable bytes, in order) after those given before."""
        self._queue.put(pieces)

    def digest(self) -> bytes:
        """The SHA-256 of everything given; waits for the thread to catch up."""
        self._finish()
        return self._digest.digest()

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> BackgroundHash:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._finish()
