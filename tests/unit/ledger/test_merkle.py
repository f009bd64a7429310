"""The Merkle code against the vectors and the reference implementation, and tampering."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    range_hash,
    split_range,
    verify_consistency,
    verify_inclusion,
)
from tests import ledger_reference as ref

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "ledger"


@cache
def tree() -> dict[str, object]:
    data: dict[str, object] = json.loads((VECTORS / "tree.json").read_text())
    return data


def b64list(items: object) -> list[bytes]:
    assert isinstance(items, list)
    return [base64.b64decode(item) for item in items]


@cache
def stored_nodes(size: int) -> dict[tuple[int, int], bytes]:
    """What the server stores for the vector leaves: every complete subtree."""
    compact = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for index, leaf in enumerate(b64list(tree()["leaves"])[:size]):
        hashed = leaf_hash(leaf)
        nodes[(0, index)] = hashed
        nodes.update(compact.append(hashed))
    return nodes


def proof_from_storage(ranges: list[tuple[int, int]], size: int) -> list[bytes]:
    nodes = stored_nodes(size)
    return [range_hash(a, b, nodes.__getitem__) for a, b in ranges]


SIZES = range(1, 71)


@pytest.mark.parametrize("size", SIZES)
def test_roots_match_the_vectors(size: int) -> None:
    expected = base64.b64decode(tree()["roots"][str(size)])  # type: ignore[index]
    assert range_hash(0, size, stored_nodes(size).__getitem__) == expected
    compact = CompactRange()
    compact.extend(leaf_hash(leaf) for leaf in b64list(tree()["leaves"])[:size])
    assert compact.root() == expected


@pytest.mark.parametrize("size", SIZES)
def test_every_inclusion_proof_matches_and_verifies(size: int) -> None:
    roots = tree()["roots"]
    root = base64.b64decode(roots[str(size)])  # type: ignore[index]
    leaves = b64list(tree()["leaves"])
    for index in range(size):
        expected = b64list(tree()["inclusion"][f"{index},{size}"])  # type: ignore[index]
        proof = proof_from_storage(inclusion_ranges(index, size), size)
        assert proof == expected, (index, size)
        verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)


@pytest.mark.parametrize("size", SIZES)
def test_every_consistency_proof_matches_and_verifies(size: int) -> None:
    roots = tree()["roots"]
    new_root = base64.b64decode(roots[str(size)])  # type: ignore[index]
    for old in range(1, size + 1):
        expected = b64list(tree()["consistency"][f"{old},{size}"])  # type: ignore[index]
        proof = proof_from_storage(consistency_ranges(old, size), size)
        assert proof == expected, (old, size)
        old_root = base64.b64decode(roots[str(old)])  # type: ignore[index]
        verify_consistency(old, size, old_root, new_root, proof)


def test_the_empty_tree() -> None:
    assert base64.b64decode(tree()["empty_root"]) == EMPTY_ROOT  # type: ignore[arg-type]
    assert CompactRange().root() == EMPTY_ROOT
    verify_consistency(0, 5, EMPTY_ROOT, leaf_hash(b"x"), [])


def test_split_range_covers_exactly_with_complete_subtrees() -> None:
    for start in range(40):
        for end in range(start, 80):
            covered = []
            for level, index in split_range(start, end):
                covered.extend(range(index << level, (index + 1) << level))
            assert covered == list(range(start, end))


leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=140)


@settings(max_examples=150, deadline=None)
@given(leaf_lists, st.data())
def test_any_tree_any_leaf_any_pair_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    size = len(leaves)
    nodes: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for index, leaf in enumerate(leaves):
        nodes[(0, index)] = leaf_hash(leaf)
        nodes.update(compact.append(leaf_hash(leaf)))
    root = compact.root()
    assert root == ref.mth(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = [range_hash(a, b, nodes.__getitem__) for a, b in inclusion_ranges(index, size)]
    assert proof == ref.path(index, leaves)
    verify_inclusion(leaf_hash(leaves[index]), index, size, proof, root)
    old = data.draw(st.integers(1, size))
    old_root = ref.mth(leaves[:old])
    consistency = [range_hash(a, b, nodes.__getitem__) for a, b in consistency_ranges(old, size)]
    assert consistency == ref.proof(old, leaves)
    verify_consistency(old, size, old_root, root, consistency)


def flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position % len(changed)] ^= 1 << (position % 8)
    return bytes(changed)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=20), min_size=2, max_size=70), st.data())
def test_any_flipped_bit_fails_verification(leaves: list[bytes], data: st.DataObject) -> None:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size - 1))
    root, old_root = ref.mth(leaves), ref.mth(leaves[:old])
    leaf = leaf_hash(leaves[index])
    proof = ref.path(index, leaves)
    consistency = ref.proof(old, leaves)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_inclusion(flip(leaf, bit), index, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, flip(root, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, [*proof[:at], flip(proof[at], bit),
                                                 *proof[at + 1:]], root)  # fmt: skip
    with pytest.raises(ProofError):
        verify_consistency(old, size, flip(old_root, bit), root, consistency)
    with pytest.raises(ProofError):
        verify_consistency(old, size, old_root, flip(root, bit), consistency)
    at = data.draw(st.integers(0, len(consistency) - 1))
    tampered = [*consistency[:at], flip(consistency[at], bit), *consistency[at + 1 :]]
    with pytest.raises(ProofError):
        verify_consistency(old, size, old_root, root, tampered)


def test_a_rewritten_history_is_caught_by_consistency() -> None:
    """A fork: the operator rewrites entry 3 and recomputes everything after it."""
    honest = [f"event {i}".encode() for i in range(20)]
    forged = [*honest[:3], b"event 3, edited", *honest[4:]]
    kept = ref.mth(honest[:10])  # a checkpoint an auditor kept
    with pytest.raises(ProofError, match="rewritten"):
        verify_consistency(10, 20, kept, ref.mth(forged), ref.proof(10, forged))


@pytest.mark.parametrize(("index", "size"), [(-1, 5), (5, 5), (0, 0), (10**30, 10**30 + 1)])
def test_impossible_inclusion_requests_are_errors(index: int, size: int) -> None:
    if index >= 0 and size > 0 and index < size:
        assert len(inclusion_ranges(index, size)) <= 2 * size.bit_length()
        return
    with pytest.raises(ProofError):
        inclusion_ranges(index, size)


@pytest.mark.parametrize(("old", "new"), [(0, 5), (6, 5), (-1, 3)])
def test_impossible_consistency_requests_are_errors(old: int, new: int) -> None:
    with pytest.raises(ProofError):
        consistency_ranges(old, new)


def test_malformed_proofs_are_errors_not_crashes() -> None:
    root = ref.mth([b"a", b"b", b"c"])
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"a"), 0, 3, [b"short"], root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"a"), 0, 3, [], root)
    with pytest.raises(ProofError):
        verify_consistency(2, 3, ref.mth([b"a", b"b"]), root, [])
    with pytest.raises(ProofError):
        verify_consistency(3, 3, root, root, [root])
