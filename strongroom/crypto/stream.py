"""Segmented streaming AEAD: encrypt and decrypt Strongroom files in constant memory.

Each segment is sealed with AES-256-GCM under a per-file key (HKDF of the data key and
the header) and a nonce holding the segment's counter and a last-segment flag, so
reordering, truncation and appended bytes are all detected (``docs/spec/file-format.md``
sections 2-4 and 6). Decryption releases a segment's plaintext only after its tag has
verified; nothing unauthenticated ever leaves this module.

Buffers: at most one segment is held back (it may turn out to be the last); whole
segments inside a large input chunk go to AES-GCM as ``memoryview`` slices of that
chunk, so nothing is copied more than once and nothing grows with the input.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from strongroom.crypto.exceptions import (
    CryptoError,
    SegmentAuthError,
    TrailingDataError,
    TruncatedError,
    TruncatedHeader,
)
from strongroom.crypto.format import (
    HEADER_SIZE,
    MAX_SEGMENTS,
    TAG_SIZE,
    Header,
    RangePlan,
    new_header,
    parse_header,
)

Buffer = bytes | bytearray | memoryview
DATA_KEY_SIZE = 32
_FILE_KEY_INFO = b"strongroom/file/v1\x00"
_COUNTER_AND_FLAG = struct.Struct(">IB")
_MAX_FILE_ID_BYTES = 0xFFFF  # its length is a u16 in the associated data


def new_data_key() -> bytes:
    """A fresh random 32-byte data key for one file."""
    return os.urandom(DATA_KEY_SIZE)


def _check_data_key(data_key: bytes) -> None:
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"a data key is {DATA_KEY_SIZE} bytes")


def _encode_file_id(file_id: str) -> bytes:
    encoded = file_id.encode("utf-8")
    if len(encoded) > _MAX_FILE_ID_BYTES:
        raise ValueError("file id longer than 65535 UTF-8 bytes")
    return encoded


class _SegmentCipher:
    """AES-256-GCM under one file's key, with that file's nonces and associated data."""

    __slots__ = ("_aad", "_aead", "_prefix")

    def __init__(self, data_key: bytes, header: Header, file_id: str) -> None:
        _check_data_key(data_key)
        file_id_bytes = _encode_file_id(file_id)
        header_bytes = header.to_bytes()
        # The header is in the HKDF info, so a changed header field yields another key;
        # the fresh salt makes the key unique per file (no nonce repeats across files).
        hkdf = HKDF(hashes.SHA256(), 32, salt=header.salt, info=_FILE_KEY_INFO + header_bytes)
        self._aead = AESGCM(hkdf.derive(data_key))
        self._prefix = header.nonce_prefix
        # The file id in the AAD stops blobs or segments moving between files.
        self._aad = header_bytes + len(file_id_bytes).to_bytes(2, "big") + file_id_bytes

    def _nonce(self, index: int, last: bool) -> bytes:
        return self._prefix + _COUNTER_AND_FLAG.pack(index, last)

    def seal(self, index: int, plaintext: Buffer, *, last: bool) -> bytes:
        """Ciphertext || tag of segment ``index``."""
        return self._aead.encrypt(self._nonce(index, last), plaintext, self._aad)

    def open(self, index: int, stored: Buffer, *, last: bool) -> bytes | None:
        """The plaintext of segment ``index``, or ``None`` if it does not authenticate."""
        try:
            return self._aead.decrypt(self._nonce(index, last), stored, self._aad)
        except InvalidTag:
            return None


class _Segments:
    """Cuts a byte stream into pieces of ``size`` bytes, holding back the last one.

    A piece is released only once at least one more byte has arrived, since only then
    is it known not to be the last. At most ``size`` bytes are ever held.
    """

    __slots__ = ("_held", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._held = bytearray()

    def __len__(self) -> int:
        return len(self._held)

    def feed(self, data: Buffer) -> Iterator[Buffer]:
        """Complete pieces known not to be the last. Each must be used before the next
        is requested: the held-back buffer is reused."""
        view = memoryview(data).cast("B")
        size, offset, end = self._size, 0, len(view)
        if self._held:
            need = size - len(self._held)
            if end <= need:
                self._held += view
                return
            self._held += view[:need]
            offset = need
            yield self._held
            self._held.clear()
        while end - offset > size:
            # A slice of the caller's chunk: AES-GCM reads it in place, no copy.
            yield view[offset : offset + size]
            offset += size
        self._held += view[offset:]

    def take_tail(self) -> bytearray:
        """The held-back bytes (the last piece), leaving nothing held."""
        tail, self._held = self._held, bytearray()
        return tail


class Encryptor:
    """Encrypts one file as its plaintext streams by, in constant memory."""

    def __init__(self, data_key: bytes, *, file_id: str, header: Header | None = None) -> None:
        """``header`` is normally left out (a fresh one is made); raises ``ValueError``
        for a data key that is not 32 bytes or a file id over 65535 UTF-8 bytes."""
        self._header = header if header is not None else new_header()
        self._cipher = _SegmentCipher(data_key, self._header, file_id)
        self._pending = _Segments(self._header.segment_size)
        self._index = 0
        self._started = False
        self._finished = False

    @property
    def header(self) -> Header:
        return self._header

    @property
    def buffered(self) -> int:
        """Plaintext bytes held back for the next segment (at most ``segment_size``)."""
        return len(self._pending)

    def update(self, data: Buffer) -> list[bytes]:
        """The ciphertext pieces complete after ``data`` (the first call's start with the
        header). Raises ``CryptoError`` past the format's 2^32 segments."""
        out = self._begin()
        for piece in self._pending.feed(data):
            out.append(self._seal(piece, last=False))
        return out

    def finalize(self) -> list[bytes]:
        """The rest of the file: the last segment (and the header if nothing came
        before). The encryptor cannot be used afterwards."""
        out = self._begin()
        out.append(self._seal(self._pending.take_tail(), last=True))
        self._finished = True
        return out

    def _begin(self) -> list[bytes]:
        if self._finished:
            raise RuntimeError("the encryptor has been finalized")
        if self._started:
            return []
        self._started = True
        return [self._header.to_bytes()]

    def _seal(self, piece: Buffer, *, last: bool) -> bytes:
        if self._index >= MAX_SEGMENTS:
            raise CryptoError("the file is larger than the format allows (2^32 segments)")
        sealed = self._cipher.seal(self._index, piece, last=last)
        self._index += 1
        return sealed


class _Body:
    """A decryptor's state once the header has been read."""

    __slots__ = ("cipher", "index", "pending", "size", "stored_size")

    def __init__(self, header: Header, data_key: bytes, file_id: str) -> None:
        self.cipher = _SegmentCipher(data_key, header, file_id)
        self.stored_size = header.segment_size + TAG_SIZE
        self.pending = _Segments(self.stored_size)
        self.index = 0
        self.size = 0

    def open_middle(self, piece: Buffer) -> bytes:
        """A segment followed by more bytes, so sealed with flag 0."""
        if self.index >= MAX_SEGMENTS - 1:
            raise TrailingDataError("bytes follow the last segment the format allows")
        plaintext = self.cipher.open(self.index, piece, last=False)
        if plaintext is None:
            if self.cipher.open(self.index, piece, last=True) is not None:
                raise TrailingDataError(f"bytes follow the last segment ({self.index})")
            raise SegmentAuthError(f"segment {self.index} failed authentication")
        return self._count(plaintext)

    def open_last(self) -> bytes:
        """The held-back bytes, which the end of the stream makes the last segment."""
        tail = self.pending.take_tail()
        if not tail:
            raise TruncatedError("the stream ends after the header")
        plaintext = self.cipher.open(self.index, tail, last=True)
        if plaintext is None:
            full = len(tail) == self.stored_size
            if full and self.cipher.open(self.index, tail, last=False) is not None:
                raise TruncatedError(f"the stream ends after segment {self.index}, not the last")
            raise SegmentAuthError(f"segment {self.index} (the last) failed authentication")
        if not plaintext and self.index > 0:
            # Never written by the encryptor (1.2 of the spec): one encoding per file.
            raise SegmentAuthError("an empty last segment after other segments")
        return self._count(plaintext)

    def _count(self, plaintext: bytes) -> bytes:
        self.index += 1
        self.size += len(plaintext)
        return plaintext


class Decryptor:
    """Decrypts one file as its stored bytes stream by, releasing only authenticated
    plaintext. After it raises, every later call raises the same class again."""

    def __init__(self, data_key: bytes, *, file_id: str) -> None:
        """Raises ``ValueError`` for a data key that is not 32 bytes or a file id over
        65535 UTF-8 bytes."""
        _check_data_key(data_key)
        _encode_file_id(file_id)
        self._data_key = data_key
        self._file_id = file_id
        self._head = bytearray()
        self._body: _Body | None = None
        # Class and message only: keeping the exception would keep its traceback, and
        # with it the caller's chunk, alive as long as the decryptor.
        self._failed: tuple[type[CryptoError], str] | None = None
        self._finished = False

    @property
    def plaintext_size(self) -> int:
        """Plaintext bytes in the file; only known once ``finalize`` has returned."""
        if not self._finished or self._body is None:
            raise RuntimeError("the plaintext size is known only after finalize()")
        return self._body.size

    def update(self, data: Buffer) -> list[bytes]:
        """Plaintext of the segments that ``data`` completed and that authenticated.

        Raises ``HeaderError`` subclasses, ``SegmentAuthError`` or ``TrailingDataError``.
        """
        self._check_usable()
        try:
            body, rest = self._read_header(data)
            return [] if body is None else [body.open_middle(p) for p in body.pending.feed(rest)]
        except CryptoError as err:
            self._failed = (type(err), str(err))
            raise

    def finalize(self) -> list[bytes]:
        """The last segment's plaintext ([] when it is empty). Raises
        ``TruncatedHeader``, ``TruncatedError`` or ``SegmentAuthError``."""
        self._check_usable()
        try:
            if self._body is None:  # update parses the header as soon as it is complete
                raise TruncatedHeader(
                    f"the stream ends after {len(self._head)} of {HEADER_SIZE} header bytes"
                )
            plaintext = self._body.open_last()
        except CryptoError as err:
            self._failed = (type(err), str(err))
            raise
        self._finished = True
        return [plaintext] if plaintext else []

    def _check_usable(self) -> None:
        if self._failed is not None:
            failure, message = self._failed
            raise failure(f"the stream already failed: {message}")
        if self._finished:
            raise RuntimeError("the decryptor has been finalized")

    def _read_header(self, data: Buffer) -> tuple[_Body | None, memoryview]:
        view = memoryview(data).cast("B")
        if self._body is not None:
            return self._body, view
        need = HEADER_SIZE - len(self._head)
        self._head += view[:need]
        if len(self._head) == HEADER_SIZE:
            header = parse_header(self._head)
            self._body = _Body(header, self._data_key, self._file_id)
        return self._body, view[need:]


def encrypt_chunks(
    chunks: Iterable[Buffer], *, data_key: bytes, file_id: str, header: Header | None = None
) -> Iterator[bytes]:
    """The stored bytes of the file whose plaintext is ``chunks``, in pieces."""
    encryptor = Encryptor(data_key, file_id=file_id, header=header)
    for chunk in chunks:
        yield from encryptor.update(chunk)
    yield from encryptor.finalize()


def decrypt_chunks(chunks: Iterable[Buffer], *, data_key: bytes, file_id: str) -> Iterator[bytes]:
    """The plaintext of the stored file ``chunks``, authenticated piece by piece.

    Raises the ``FormatError`` subclasses of ``Decryptor`` when the file is damaged;
    pieces yielded before that are authentic but the file is not complete.
    """
    decryptor = Decryptor(data_key, file_id=file_id)
    for chunk in chunks:
        yield from decryptor.update(chunk)
    yield from decryptor.finalize()


def decrypt_range(
    header: Header,
    segments: Iterable[Buffer],
    *,
    data_key: bytes,
    file_id: str,
    plan: RangePlan,
) -> Iterator[bytes]:
    """The ``plan.length`` plaintext bytes of a range, from the stored bytes
    ``[plan.ciphertext_start, plan.ciphertext_end)`` in ``segments`` (any chunking).

    Raises ``TruncatedError`` when fewer bytes arrive, ``TrailingDataError`` when more
    do, ``SegmentAuthError`` when a segment does not authenticate (also when the
    plaintext size behind ``plan`` is wrong).
    """
    cipher = _SegmentCipher(data_key, header, file_id)
    pending = _Segments(header.segment_size + TAG_SIZE)
    window = _Window(plan.skip, plan.length)
    expected, received, index = plan.ciphertext_end - plan.ciphertext_start, 0, plan.first_segment
    for chunk in segments:
        received += memoryview(chunk).nbytes
        if received > expected:
            raise TrailingDataError("more bytes than the range's segments")
        for piece in pending.feed(chunk):
            yield window.cut(_open(cipher, index, piece, last=False))
            index += 1
    if received < expected:
        raise TruncatedError(f"the range ends after {received} of {expected} bytes")
    last = index == plan.segment_total - 1
    yield window.cut(_open(cipher, index, pending.take_tail(), last=last))
    window.check_done()


def _open(cipher: _SegmentCipher, index: int, stored: Buffer, *, last: bool) -> bytes:
    plaintext = cipher.open(index, stored, last=last)
    if plaintext is None:
        raise SegmentAuthError(f"segment {index} failed authentication")
    return plaintext


class _Window:
    """Drops ``skip`` bytes, then passes ``length`` bytes, of a run of segments."""

    __slots__ = ("_remaining", "_skip")

    def __init__(self, skip: int, length: int) -> None:
        self._skip, self._remaining = skip, length

    def cut(self, plaintext: bytes) -> bytes:
        piece = plaintext[self._skip : self._skip + self._remaining]
        self._skip = 0
        self._remaining -= len(piece)
        return piece

    def check_done(self) -> None:
        if self._remaining:
            raise TruncatedError(f"the range is {self._remaining} bytes short")
