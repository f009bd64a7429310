"""A keyring that follows its key file, so rotation needs no restart.

``strongroom keys rotate`` adds a version to the key file and then re-wraps data keys
under it. A server that loaded the file before would neither know the new version
(to unwrap re-wrapped keys) nor use it (to wrap new files). ``KeyFileKeyring``
re-reads the file when its modification time or size changes, checked at most once
per ``interval`` seconds, and at once when asked for a version it does not hold.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from strongroom.crypto.exceptions import KeyringError, MasterKeyUnavailable
from strongroom.crypto.keys import KeyProvider, LocalKeyring, WrappedKey

log = logging.getLogger(__name__)


class KeyFileKeyring(KeyProvider):
    """A ``LocalKeyring`` loaded from ``path``, reloaded when the file changes."""

    name = LocalKeyring.name

    def __init__(self, path: Path, *, interval: float = 2.0) -> None:
        """Raises what ``LocalKeyring.load_file`` raises (``KeyringInvalid``,
        ``FileNotFoundError``)."""
        self.path = path
        self._interval = interval
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        self._keyring = LocalKeyring.load_file(path)
        self._checked = time.monotonic()

    def __repr__(self) -> str:
        return f"KeyFileKeyring({str(self.path)!r}, {self._keyring!r})"

    def _file_stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def _refresh(self, *, force: bool = False) -> LocalKeyring:
        now = time.monotonic()
        if not force and now - self._checked < self._interval:
            return self._keyring
        with self._lock:
            self._checked = now
            try:
                stamp = self._file_stamp()
                if force or stamp != self._stamp:
                    # A half-edited or broken file keeps the keys already loaded: the
                    # versions they hold still open every file wrapped by them.
                    self._keyring, self._stamp = LocalKeyring.load_file(self.path), stamp
            except (OSError, KeyringError) as err:
                log.warning(
                    "key file unreadable; keeping the keys loaded before",
                    extra={"error_class": type(err).__name__},
                )
        return self._keyring

    def current_version(self) -> str:
        return self._refresh().current_version()

    def versions(self) -> tuple[str, ...]:
        return self._refresh().versions()

    def fingerprint(self, version: str) -> str:
        return self._refresh().fingerprint(version)

    def wrap(self, data_key: bytes, *, file_id: str) -> WrappedKey:
        return self._refresh().wrap(data_key, file_id=file_id)

    def unwrap(self, wrapped: WrappedKey, *, file_id: str) -> bytes:
        try:
            return self._refresh().unwrap(wrapped, file_id=file_id)
        except MasterKeyUnavailable:
            return self._refresh(force=True).unwrap(wrapped, file_id=file_id)
