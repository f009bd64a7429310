"""RFC 9162 Merkle trees: hashing, proofs as ranges of leaves, and proof verification.

Pure functions, no Flask and no database (``docs/spec/ledger.md`` sections 3 and 4).
The server stores the hash of every complete subtree; a proof is described here as a
list of leaf ranges ``[a, b)`` whose Merkle Tree Hashes it contains, and every range
splits into at most ``2 * log2(n)`` complete subtrees (``split_range``), so any proof
costs O(log n) stored hashes. The verifiers follow RFC 9162 sections 2.1.3.2 and
2.1.4.2 step by step and never trust the prover for anything but hashes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
Range = tuple[int, int]
Node = tuple[int, int]  # (level, index): leaves index * 2^level .. (index + 1) * 2^level - 1


class ProofError(ValueError):
    """A proof, size or hash that cannot be right (never a "maybe")."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two strictly smaller than ``n`` (n > 1)."""
    if n < 2:
        raise ValueError("n must be at least 2")
    return 1 << ((n - 1).bit_length() - 1)


def split_range(start: int, end: int) -> list[Node]:
    """The complete subtrees that make up leaves ``[start, end)``, left to right."""
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    nodes = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length()
        while (1 << level) > end - start:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def range_hash(start: int, end: int, lookup: Callable[[Node], bytes]) -> bytes:
    """``MTH(D[start:end])`` for a range of the RFC 9162 recursion, from stored subtrees.

    Valid for ranges whose start is aligned to a power of two at least their length
    (every range in ``inclusion_ranges`` / ``consistency_ranges`` and ``[0, n)``).
    """
    if start == end:
        return EMPTY_ROOT
    hashes = [lookup(node) for node in split_range(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes form ``PATH(index, D[0:size])``, in proof order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    offset, m, n = 0, index, size
    while n > 1:
        k = largest_power_of_two_below(n)
        if m < k:
            ranges.append((offset + k, offset + n))
            n = k
        else:
            ranges.append((offset, offset + k))
            offset, m, n = offset + k, m - k, n - k
    ranges.reverse()  # the recursion appends from the root down; proofs go leaf up
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose hashes form ``PROOF(old_size, D[0:new_size])``, in proof order."""
    if not 0 < old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    ranges: list[Range] = []
    offset, m, n, complete = 0, old_size, new_size, True
    while m != n:
        k = largest_power_of_two_below(n)
        if m <= k:
            ranges.append((offset + k, offset + n))
            n = k
        else:
            ranges.append((offset, offset + k))
            offset, m, n, complete = offset + k, m - k, n - k, False
    if not complete:
        ranges.append((offset, offset + m))
    ranges.reverse()
    return ranges


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, not {len(value)}")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` (a leaf hash) is entry ``index`` of the tree ``root`` of ``size``.

    Raises ``ProofError`` when it is not (RFC 9162 section 2.1.3.2).
    """
    _check_hash(leaf, "the leaf hash")
    _check_hash(root, "the root hash")
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, result = index, size - 1, leaf
    for element in proof:
        _check_hash(element, "a proof hash")
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    if not hmac.compare_digest(result, root):
        raise ProofError(f"leaf {index} is not in this tree: the proof leads to another root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``new_root`` of ``new_size`` extends ``old_root`` of ``old_size``.

    Raises ``ProofError`` when it does not (RFC 9162 section 2.1.4.2).
    """
    for value, what in ((old_root, "the old root"), (new_root, "the new root")):
        _check_hash(value, what)
    for element in proof:
        _check_hash(element, "a proof hash")
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {old_size} cannot precede size {new_size}")
    if old_size in {new_size, 0}:
        _check_trivial_consistency(old_size, old_root, new_root, proof)
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    old_result, new_result = _walk_consistency(old_size - 1, new_size - 1, path)
    if not hmac.compare_digest(old_result, old_root):
        raise ProofError("the proof does not lead to the old root: history was rewritten")
    if not hmac.compare_digest(new_result, new_root):
        raise ProofError("the proof does not lead to the new root")


def _check_trivial_consistency(
    old_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    if proof:
        raise ProofError("no proof is needed from the empty tree or between equal sizes")
    if old_size and not hmac.compare_digest(old_root, new_root):
        raise ProofError("same size, different roots: the log forked")


def _walk_consistency(fn: int, sn: int, path: list[bytes]) -> tuple[bytes, bytes]:
    """Steps 3-6 of RFC 9162 section 2.1.4.2: the two roots the path leads to."""
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(element, fr)
            sr = node_hash(element, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    return fr, sr


class CompactRange:
    """The running root of a log as leaves are appended, in O(log n) memory.

    Keeps the hashes of the complete subtrees of ``[0, size)`` (one per set bit of
    ``size``); used to recompute roots while streaming millions of leaves.
    """

    def __init__(self) -> None:
        self.size = 0
        self._peaks: list[bytes] = []

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add a leaf hash; returns the complete subtrees (above the leaf) it completed."""
        _check_hash(leaf, "a leaf hash")
        completed: list[tuple[Node, bytes]] = []
        current, level, index = leaf, 0, self.size
        while index & 1:
            current = node_hash(self._peaks.pop(), current)
            level, index = level + 1, index >> 1
            completed.append(((level, index), current))
        self._peaks.append(current)
        self.size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        result = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            result = node_hash(peak, result)
        return result
