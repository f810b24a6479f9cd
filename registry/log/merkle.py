"""RFC 6962 / RFC 9162 Merkle tree over stored perfect subtrees: append, tree heads, proofs, verification.

Storage model: the hash of every *perfect* subtree is stored once, when its last leaf arrives, as node
(level, index) covering leaves [index * 2**level, (index + 1) * 2**level); level 0 holds the leaf hashes.
Such a node never changes afterwards, so any tree head or proof for any size up to the current one is
assembled from O(log n) stored nodes fetched in a single batch, and nothing is ever rewritten.

The right edge of a tree whose size is not a power of two is not stored: RFC 9162 defines the hash of a
range [a, b) with b - a not a power of two as H(MTH(left power-of-two part) || MTH(rest)), which is the
right fold of the perfect subtrees that tile the range, so it is recomputed from those.

Consistency proofs are defined only for 0 < size1 <= size2. size1 == size2 has the empty proof (the roots
must simply be equal). size1 == 0 is refused by both generation and verification: RFC 9162 defines no
proof from the empty tree, and a "consistency" claim about it proves nothing, so accepting one would only
hide a caller's bug.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Coord = tuple[int, int]
"""(level, index) of a stored perfect subtree."""

StoredNode = tuple[int, int, bytes]
"""(level, index, hash) row to persist."""


class ProofError(ValueError):
    """A proof, or a request to build one, is invalid."""


class NodeReader(Protocol):
    """Read access to stored perfect-subtree hashes; batched so a database answers with one query."""

    def get_nodes(self, coords: Sequence[Coord]) -> list[bytes]:
        """Hashes for `coords`, in the same order; a missing node is a storage fault the reader raises."""
        ...


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash; the 0x00 prefix keeps leaves from being passed off as interior nodes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below n (n >= 2): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def _range_coords(begin: int, end: int) -> list[Coord]:
    """The perfect subtrees tiling [begin, end), left to right; begin must be aligned to a power of two
    at least as large as the range, which holds for every subtree the RFC recursion produces."""
    coords: list[Coord] = []
    width = end - begin
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            coords.append((level, begin >> level))
            begin += 1 << level
    return coords


def frontier(size: int) -> list[Coord]:
    """The perfect subtrees tiling [0, size): all a tree of `size` leaves needs to grow or to give its root."""
    return _range_coords(0, size)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the tiling subtrees of a range into its RFC 9162 hash (a right fold)."""
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def _fetch(reader: NodeReader, coords: Sequence[Coord]) -> list[bytes]:
    """One batched read; skips the round trip when nothing is needed and catches a short answer early."""
    if not coords:
        return []
    hashes = reader.get_nodes(coords)
    if len(hashes) != len(coords):
        raise LookupError(f"node store returned {len(hashes)} hashes for {len(coords)} requested nodes")
    return hashes


def _range_hashes(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    """RFC 9162 hashes of aligned leaf ranges, from one batched read of their tiling subtrees."""
    tilings = [_range_coords(begin, end) for begin, end in ranges]
    wanted = list(dict.fromkeys(coord for tiling in tilings for coord in tiling))
    stored = dict(zip(wanted, _fetch(reader, wanted), strict=True))
    return [_fold([stored[coord] for coord in tiling]) for tiling in tilings]


def _check_size(name: str, value: int) -> None:
    if value < 0:
        raise ProofError(f"{name} must not be negative, got {value}")


def append_batch(size_before: int, leaf_hashes: Sequence[bytes], reader: NodeReader) -> list[StoredNode]:
    """Nodes to store when appending `leaf_hashes` to a tree of `size_before` leaves.

    Returns every perfect subtree completed by the append, leaves included. Only the left-frontier nodes
    that the new leaves complete (at most one per level) are read, in one batch; the rest is computed in
    memory, so appending k leaves costs O(k + log n) hashing and one read.
    """
    if size_before < 0:
        raise ValueError(f"tree size must not be negative, got {size_before}")
    for position, leaf in enumerate(leaf_hashes):
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash {position} is {len(leaf)} bytes, expected {HASH_SIZE}")
    size_after = size_before + len(leaf_hashes)
    frontier_coords = [
        (level, (size_before >> level) - 1)
        for level in range(size_before.bit_length())
        if size_before >> level & 1 and size_after >> (level + 1) > size_before >> (level + 1)
    ]
    frontier = dict(zip(frontier_coords, _fetch(reader, frontier_coords), strict=True))

    nodes: list[StoredNode] = []
    row = list(leaf_hashes)  # the new nodes at `level`, starting at index size_before >> level
    level = 0
    while row:
        start = size_before >> level
        nodes.extend((level, start + offset, digest) for offset, digest in enumerate(row))
        if start & 1:  # the first new node is a right child: pair it with its stored left sibling
            row.insert(0, frontier[(level, start - 1)])
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        level += 1
    return nodes


def nodes_to_store(size_before: int, new_leaf_hash: bytes, reader: NodeReader) -> list[StoredNode]:
    """Nodes to store when appending leaf number `size_before`: the leaf and each parent it completes."""
    return append_batch(size_before, [new_leaf_hash], reader)


def root(size: int, reader: NodeReader) -> bytes:
    """Tree head for any `size` up to the stored size (MTH of the first `size` leaves)."""
    _check_size("tree size", size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 PATH(index, D[size]), leaf sibling first, from one batched read."""
    _check_size("leaf index", index)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()  # the recursion emits the sibling nearest the root first
    return _range_hashes(ranges, reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 section 2.1.4.1 PROOF(size1, D[size2]), from one batched read.

    Empty when size1 == size2; refused for size1 == 0 (see the module docstring).
    """
    _check_size("size1", size1)
    if size1 > size2:
        raise ProofError(f"size1 ({size1}) is larger than size2 ({size2})")
    if size1 == 0:
        raise ProofError("no consistency proof exists from the empty tree (size1 == 0)")
    ranges: list[tuple[int, int]] = []
    begin, end, old = 0, size2, size1  # `old`: how many leaves of [begin, end) the first tree has
    whole_subtree = True  # RFC's flag b: the old tree is the whole current subtree, its root is known
    while old != end - begin:
        k = _split(end - begin)
        if old <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
            old -= k
            whole_subtree = False
    if not whole_subtree:
        ranges.append((begin, end))
    ranges.reverse()
    return _range_hashes(ranges, reader)


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _check_hash(f"proof element {position}", element)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> None:
    """Check that leaf hash `leaf` sits at `index` in the tree of `size` leaves with head `root_hash`.

    RFC 9162 section 2.1.3.2, storage-free; raises ProofError on any mismatch, wrong-length hash, or a
    proof with missing or surplus elements.
    """
    _check_hash("leaf hash", leaf)
    _check_hash("root hash", root_hash)
    _check_proof_hashes(proof)
    _check_size("leaf index", index)
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    fn, sn = index, size - 1
    acc = leaf
    for element in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof has surplus elements for tree size {size}")
        if fn & 1 or fn == sn:
            acc = node_hash(element, acc)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            acc = node_hash(acc, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof is too short ({len(proof)} elements) for tree size {size}")
    if acc != root_hash:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the tree head of size {size}")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of `size2` leaves with head `root2` extends the one of `size1` with `root1`.

    RFC 9162 section 2.1.4.2, storage-free; raises ProofError. For size1 == size2 the proof must be empty
    and the heads equal: nothing is hashed, so the heads are compared as given, whatever their length (the
    published test vectors accept that case). size1 == 0 is refused (see the module docstring).
    """
    _check_size("size1", size1)
    if size1 > size2:
        raise ProofError(f"size1 ({size1}) is larger than size2 ({size2})")
    if size1 == 0:
        raise ProofError("no consistency proof exists from the empty tree (size1 == 0)")
    if size1 == size2:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError(f"two different tree heads for the same size {size1}")
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof_hashes(proof)
    if not proof:
        raise ProofError(f"empty consistency proof between sizes {size1} and {size2}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # the old tree is a perfect subtree of the new: its root starts the path
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first_acc = second_acc = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has surplus elements")
        if fn & 1 or fn == sn:
            first_acc = node_hash(element, first_acc)
            second_acc = node_hash(element, second_acc)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second_acc = node_hash(second_acc, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof is too short ({len(proof)} elements)")
    if first_acc != root1:
        raise ProofError(f"consistency proof does not lead to the tree head of size {size1}")
    if second_acc != root2:
        raise ProofError(f"consistency proof does not lead to the tree head of size {size2}")


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH computed straight from RFC 9162's recursive definition: the audit's and the tests' oracle."""

    def subtree(begin: int, end: int) -> bytes:
        if end - begin == 1:
            return leaf_hashes[begin]
        k = _split(end - begin)
        return node_hash(subtree(begin, begin + k), subtree(begin + k, end))

    return subtree(0, len(leaf_hashes)) if leaf_hashes else EMPTY_ROOT


@dataclass(eq=False)
class MemoryNodeStore:
    """Dict-backed NodeReader for tests and for an audit that rebuilds a tree from its leaves."""

    nodes: dict[Coord, bytes] = field(default_factory=dict)
    size: int = 0

    def get_nodes(self, coords: Sequence[Coord]) -> list[bytes]:
        return [self.nodes[coord] for coord in coords]

    def append(self, leaf: bytes) -> None:
        self.extend([leaf])

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        for level, index, digest in append_batch(self.size, leaf_hashes, self):
            self.nodes[(level, index)] = digest
        self.size += len(leaf_hashes)
