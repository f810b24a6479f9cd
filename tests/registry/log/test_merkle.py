"""Merkle tree: RFC 6962 test vectors, and properties of generated proofs against a reference tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.log.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    ProofError,
    append_batch,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_to_store,
    root,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# Vendored from transparency-dev/merkle (tests/data/testvectors/README.md): a missing vector fails, never skips.
VECTORS = Path(__file__).resolve().parents[2] / "data" / "testvectors" / "rfc6962"
VECTOR_COUNTS = {"inclusion": 98, "consistency": 98}


def vector_params(subdir: str) -> list[Any]:
    """One test id per vector file; collection fails if the vendored set is missing or incomplete."""
    files = sorted((VECTORS / subdir).rglob("*.json"))
    if len(files) != VECTOR_COUNTS[subdir]:
        raise FileNotFoundError(f"{VECTORS / subdir}: {len(files)} RFC 6962 vectors, {VECTOR_COUNTS[subdir]} vendored")
    return [pytest.param(path, id=str(path.relative_to(VECTORS / subdir))) for path in files]


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    data["proof"] = [b64(element) for element in data["proof"] or []]
    return data


@pytest.fixture(scope="module")
def roots_vector() -> dict[str, Any]:
    return json.loads((VECTORS / "roots.json").read_text())


@pytest.fixture(scope="module")
def eight_leaf_store(roots_vector: dict[str, Any]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.extend([leaf_hash(bytes.fromhex(leaf)) for leaf in roots_vector["leaves_hex"]])
    return store


def test_empty_root_is_hash_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root(0, MemoryNodeStore()) == EMPTY_ROOT == root_from_leaf_hashes([])


def test_roots_for_every_size(roots_vector: dict[str, Any], eight_leaf_store: MemoryNodeStore) -> None:
    leaves = [leaf_hash(bytes.fromhex(leaf)) for leaf in roots_vector["leaves_hex"]]
    for size, expected in enumerate(roots_vector["roots_hex_by_size"]):
        assert root_from_leaf_hashes(leaves[:size]).hex() == expected
        assert root(size, eight_leaf_store).hex() == expected
        exact = MemoryNodeStore()
        exact.extend(leaves[:size])
        assert root(size, exact).hex() == expected


@pytest.mark.parametrize("path", vector_params("inclusion"))
def test_inclusion_vector(path: Path) -> None:
    case = load(path)
    args = (b64(case["leafHash"]), case["leafIdx"], case["treeSize"], case["proof"], b64(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", vector_params("consistency"))
def test_consistency_vector(path: Path) -> None:
    case = load(path)
    args = (case["size1"], case["size2"], case["proof"], b64(case["root1"]), b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


@pytest.mark.parametrize("path", [p for p in vector_params("inclusion") if "happy-path" in str(p.id)])
def test_generated_inclusion_proof_matches_vector(path: Path, eight_leaf_store: MemoryNodeStore) -> None:
    case = load(path)
    index, size = case["leafIdx"], case["treeSize"]
    assert eight_leaf_store.get_nodes([(0, index)]) == [b64(case["leafHash"])]
    assert root(size, eight_leaf_store) == b64(case["root"])
    assert inclusion_proof(index, size, eight_leaf_store) == case["proof"]


@pytest.mark.parametrize("path", [p for p in vector_params("consistency") if "happy-path" in str(p.id)])
def test_generated_consistency_proof_matches_vector(path: Path, eight_leaf_store: MemoryNodeStore) -> None:
    case = load(path)
    size1, size2 = case["size1"], case["size2"]
    assert root(size1, eight_leaf_store) == b64(case["root1"])
    assert root(size2, eight_leaf_store) == b64(case["root2"])
    assert consistency_proof(size1, size2, eight_leaf_store) == case["proof"]


class CountingStore(MemoryNodeStore):
    """Records each batched read, to check that proofs cost one small query."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[int] = []

    def get_nodes(self, coords: Any) -> list[bytes]:
        self.reads.append(len(coords))
        return super().get_nodes(coords)


def test_reads_are_one_batch_of_logarithmic_size() -> None:
    store = CountingStore()
    store.extend([leaf_hash(i.to_bytes(4, "big")) for i in range(1000)])
    for build_proof in (
        lambda: inclusion_proof(357, 1000, store),
        lambda: consistency_proof(357, 1000, store),
        lambda: root(999, store),
    ):
        store.reads.clear()
        build_proof()
        assert len(store.reads) == 1
        assert store.reads[0] <= 2 * (1000).bit_length()
    store.reads.clear()
    store.append(leaf_hash(b"leaf 1000"))  # a left child: completes nothing, so reads nothing
    store.append(leaf_hash(b"leaf 1001"))  # completes (1, 500) from its stored sibling (0, 1000)
    store.extend([leaf_hash(bytes([i])) for i in range(22)])  # 1002..1023: completes the 1024 tree
    assert store.reads == [1, 7]  # one batch: the stored root of each of the seven subtrees of 1002


def test_nodes_to_store_lists_completed_parents() -> None:
    store = MemoryNodeStore()
    store.extend([leaf_hash(bytes([i])) for i in range(7)])
    new = leaf_hash(b"eighth")
    nodes = nodes_to_store(7, new, store)
    assert [(level, index) for level, index, _ in nodes] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert nodes[0][2] == new
    assert nodes[1][2] == node_hash(store.nodes[(0, 6)], new)


def test_append_rejects_bad_leaf_hash() -> None:
    with pytest.raises(ValueError, match="expected 32"):
        append_batch(0, [b"short"], MemoryNodeStore())


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (3, 3), (5, 2), (-1, 4)], ids=["empty", "at-size", "past-size", "negative"]
)
def test_inclusion_proof_rejects_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        inclusion_proof(index, size, MemoryNodeStore())


@pytest.mark.parametrize(("size1", "size2"), [(0, 0), (0, 5), (6, 5), (-1, 3)])
def test_consistency_proof_rejects_bad_arguments(size1: int, size2: int) -> None:
    with pytest.raises(ProofError):
        consistency_proof(size1, size2, MemoryNodeStore())


def test_consistency_proof_between_equal_sizes_is_empty() -> None:
    store = MemoryNodeStore()
    store.extend([leaf_hash(bytes([i])) for i in range(5)])
    assert consistency_proof(5, 5, store) == []
    verify_consistency(5, 5, [], root(5, store), root(5, store))


def test_verify_rejects_wrong_length_hashes() -> None:
    store = MemoryNodeStore()
    store.extend([leaf_hash(bytes([i])) for i in range(5)])
    proof = inclusion_proof(1, 5, store)
    head = root(5, store)
    with pytest.raises(ProofError, match="expected 32"):
        verify_inclusion(store.nodes[(0, 1)], 1, 5, [*proof[:-1], proof[-1] + b"\x00"], head)
    with pytest.raises(ProofError, match="expected 32"):
        verify_inclusion(store.nodes[(0, 1)][:31], 1, 5, proof, head)
    with pytest.raises(ProofError, match="expected 32"):
        verify_consistency(2, 5, consistency_proof(2, 5, store), root(2, store), head[:16])


leaf_lists = st.lists(st.binary(max_size=6), min_size=1, max_size=70).map(
    lambda leaves: [leaf_hash(leaf) for leaf in leaves]
)


def build(leaves: list[bytes]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.extend(leaves)
    return store


def flip_bit(proof: list[bytes], position: int, bit: int) -> list[bytes]:
    flipped = bytearray(proof[position])
    flipped[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:position], bytes(flipped), *proof[position + 1 :]]


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_inclusion_proofs_verify_against_reference(leaves: list[bytes], data: st.DataObject) -> None:
    store = build(leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    head = root_from_leaf_hashes(leaves[:size])
    assert root(size, store) == head
    proof = inclusion_proof(index, size, store)
    verify_inclusion(leaves[index], index, size, proof, head)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        bit = data.draw(st.integers(0, 255), label="bit")
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, flip_bit(proof, position, bit), head)
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, proof[:-1], head)
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, [*proof, proof[-1]], head)
    bit = data.draw(st.integers(0, 255), label="leaf bit")
    with pytest.raises(ProofError):
        verify_inclusion(flip_bit([leaves[index]], 0, bit)[0], index, size, proof, head)


@settings(max_examples=40, deadline=None)
@given(leaves=st.lists(st.binary(max_size=4), min_size=1, max_size=24).map(lambda ls: list(map(leaf_hash, ls))))
def test_consistency_proofs_verify_for_all_pairs(leaves: list[bytes]) -> None:
    store = build(leaves)
    heads = [root_from_leaf_hashes(leaves[:size]) for size in range(len(leaves) + 1)]
    for size2 in range(1, len(leaves) + 1):
        for size1 in range(1, size2 + 1):
            verify_consistency(size1, size2, consistency_proof(size1, size2, store), heads[size1], heads[size2])


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_consistency_proof_with_flipped_bit_fails(leaves: list[bytes], data: st.DataObject) -> None:
    store = build(leaves)
    size2 = data.draw(st.integers(1, len(leaves)), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    proof = consistency_proof(size1, size2, store)
    head1, head2 = root_from_leaf_hashes(leaves[:size1]), root_from_leaf_hashes(leaves[:size2])
    verify_consistency(size1, size2, proof, head1, head2)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1), label="position")
        bit = data.draw(st.integers(0, 255), label="bit")
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, flip_bit(proof, position, bit), head1, head2)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof[:-1], head1, head2)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, [*proof, proof[-1]], head1, head2)
    bit = data.draw(st.integers(0, 255), label="root bit")
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, flip_bit([head1], 0, bit)[0], head2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, head1, flip_bit([head2], 0, bit)[0])


@settings(max_examples=100, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_batch_append_stores_the_same_nodes(leaves: list[bytes], data: st.DataObject) -> None:
    one_by_one = MemoryNodeStore()
    for leaf in leaves:
        one_by_one.append(leaf)
    batched = MemoryNodeStore()
    while batched.size < len(leaves):
        take = data.draw(st.integers(1, len(leaves) - batched.size), label="batch")
        batched.extend(leaves[batched.size : batched.size + take])
    assert batched.nodes == one_by_one.nodes
    expected_count = sum(len(leaves) >> level for level in range(len(leaves).bit_length()))
    assert len(batched.nodes) == expected_count
    assert root(len(leaves), batched) == root_from_leaf_hashes(leaves)
