"""Overlap producing a download with sending it.

Sending a piece (``socket.sendall``) copies it into the kernel with the GIL released;
reading and decrypting the next piece can run meanwhile, on the other core. A small
bounded queue between a producer thread and the WSGI server's thread does that,
with at most ``depth`` pieces (1 MiB each) waiting, so memory stays flat. Errors
in the producer reach the consumer in order, after the pieces produced before them;
a consumer that stops early (the client went away) stops the producer too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

DEPTH = 2
_POLL_SECONDS = 0.5


class _End:
    """Marks the end of the stream, carrying the producer's exception if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetch(pieces: Iterator[bytes], *, depth: int = DEPTH) -> Iterator[bytes]:
    """``pieces``, produced ahead in a thread of its own."""
    channel: queue.Queue[bytes | _End] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for piece in pieces:
                if not _offer(channel, piece, stop):
                    return
            _offer(channel, _End(), stop)
        except BaseException as err:  # noqa: BLE001  # handed to the consumer, re-raised there
            _offer(channel, _End(err), stop)
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="download-prefetch", daemon=True)
    thread.start()
    return _consume(channel, stop, thread)


def _offer(channel: queue.Queue[bytes | _End], item: bytes | _End, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            channel.put(item, timeout=_POLL_SECONDS)
        except queue.Full:
            continue
        return True
    return False


def _consume(
    channel: queue.Queue[bytes | _End], stop: threading.Event, thread: threading.Thread
) -> Iterator[bytes]:
    try:
        while not isinstance(item := channel.get(), _End):
            yield item
        if item.error is not None:
            raise item.error
    finally:
        stop.set()
        thread.join()
