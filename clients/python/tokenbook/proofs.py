"""State proofs: decode a node's ``StateProof`` and verify it against a state root, in pure Python.

The node's authenticated state is a Jellyfish Merkle tree (the ``jmt`` crate, 0.12) over SHA-256;
docs/wire-format.md, "State proofs", gives the layout and hashing rules this module follows.

Promises:

- :func:`decode_state_proof` reads the bincode ``StateProof`` (``height`` u64, ``key`` Vec<u8>,
  ``value`` Option<Vec<u8>>, ``proof`` Vec<u8>) and the borsh ``jmt::proof::SparseMerkleProof``
  inside it, refusing trailing bytes, unknown tags, more than 256 siblings and proofs over
  16 KiB, as the node does;
- :meth:`StateProof.verify` accepts exactly what ``jmt``'s ``SparseMerkleProof::verify`` accepts
  for the proof's key and value (or absence), against the given root: the inclusion check (leaf
  key and value hash), the absence checks (no leaf, or a leaf of another key sharing at least as
  many leading bits as there are siblings), then the fold from the leaf to the root. Any mismatch
  raises :class:`ProofError` naming what differs; nothing is trusted from the proof but hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import List, Optional, Union

from .codec import DecodeError, Reader

LEAF_DOMAIN = b"JMT::LeafNode"
"""Prefix of a leaf's hash preimage."""
INTERNAL_DOMAIN = b"JMT::IntrnalNode"
"""Prefix of an internal node's hash preimage (jmt's spelling)."""
PLACEHOLDER = b"SPARSE_MERKLE_PLACEHOLDER_HASH__"
"""The hash of an empty subtree: these 32 ASCII bytes, not a digest."""
MAX_PROOF_BYTES = 16 * 1024
"""Largest ``SparseMerkleProof`` the node decodes."""
MAX_SIBLINGS = 256


class ProofError(Exception):
    """A proof that is malformed or does not lead to the root."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def key_hash(key: bytes) -> bytes:
    """The tree key of a ledger key: SHA-256 of it."""
    return sha256(key)


def leaf_hash(key_hash_: bytes, value_hash: bytes) -> bytes:
    """SHA-256("JMT::LeafNode" ‖ key hash ‖ value hash)."""
    return sha256(LEAF_DOMAIN + key_hash_ + value_hash)


def internal_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256("JMT::IntrnalNode" ‖ left child hash ‖ right child hash)."""
    return sha256(INTERNAL_DOMAIN + left + right)


def bit(h: bytes, index: int) -> int:
    """Bit ``index`` of a 32-byte hash, counting from the most significant bit of byte 0 (the
    direction taken at depth ``index`` below the root: 0 left, 1 right)."""
    return (h[index // 8] >> (7 - index % 8)) & 1


def common_prefix_bits(a: bytes, b: bytes) -> int:
    """How many leading bits two hashes share."""
    for i in range(256):
        if bit(a, i) != bit(b, i):
            return i
    return 256


@dataclass(frozen=True)
class Leaf:
    """A leaf: the hash of its key and the hash of its value."""

    key_hash: bytes
    value_hash: bytes

    def hash(self) -> bytes:
        return leaf_hash(self.key_hash, self.value_hash)


@dataclass(frozen=True)
class Internal:
    """An internal node given by its two children's hashes."""

    left: bytes
    right: bytes

    def hash(self) -> bytes:
        return internal_hash(self.left, self.right)


class Null:
    """An empty subtree."""

    def hash(self) -> bytes:
        return PLACEHOLDER

    def __eq__(self, other):
        return isinstance(other, Null)

    def __hash__(self):
        return 0

    def __repr__(self):
        return "Null()"


Sibling = Union[Null, Internal, Leaf]


@dataclass(frozen=True)
class SparseMerkleProof:
    """``jmt::proof::SparseMerkleProof``: the leaf found on the key's path (if any) and the
    siblings on the path, from the bottom (next to the leaf) up to the root's children."""

    leaf: Optional[Leaf]
    siblings: List[Sibling]

    def root_from(self, key_hash_: bytes) -> bytes:
        """The root the path leads to, starting from the leaf (or an empty subtree)."""
        current = self.leaf.hash() if self.leaf else PLACEHOLDER
        n = len(self.siblings)
        for i, sibling in enumerate(self.siblings):
            # The i-th sibling from the bottom sits at depth n - i (the root's children are at
            # depth 1); bit n - 1 - i of the key says which side the path takes there.
            if bit(key_hash_, n - 1 - i):
                current = internal_hash(sibling.hash(), current)
            else:
                current = internal_hash(current, sibling.hash())
        return current

    def verify(self, root: bytes, key: bytes, value: Optional[bytes]) -> None:
        """Checks that ``key`` has ``value`` (``None``: is absent) in the tree of ``root``."""
        if len(self.siblings) > MAX_SIBLINGS:
            raise ProofError(f"the proof has {len(self.siblings)} siblings; at most 256")
        kh = key_hash(key)
        if value is not None:
            if self.leaf is None:
                raise ProofError("expected an inclusion proof; found a proof of absence")
            if self.leaf.key_hash != kh:
                raise ProofError(f"the proof's leaf is key hash {self.leaf.key_hash.hex()}, "
                                 f"not {kh.hex()}")
            if self.leaf.value_hash != sha256(value):
                raise ProofError(f"the value hashes to {sha256(value).hex()}; the proof's leaf "
                                 f"holds {self.leaf.value_hash.hex()}")
        elif self.leaf is not None:
            if self.leaf.key_hash == kh:
                raise ProofError("expected a proof of absence, but the key is in the proof")
            if common_prefix_bits(kh, self.leaf.key_hash) < len(self.siblings):
                raise ProofError("the key would not be in the subtree the proof's leaf holds "
                                 "alone: not a proof of absence")
        actual = self.root_from(kh)
        if actual != root:
            raise ProofError(f"the proof leads to root {actual.hex()}, not {root.hex()}")


def _read_32(r: Reader) -> bytes:
    return r.take(32)


def _read_leaf(r: Reader) -> Leaf:
    return Leaf(_read_32(r), _read_32(r))


def decode_sparse_merkle_proof(data: bytes) -> SparseMerkleProof:
    """The borsh encoding of ``SparseMerkleProof``: ``leaf`` Option (u8 tag) of two 32-byte
    hashes; ``siblings`` a u32 little-endian count, then each a u8 tag (0 Null, 1 Internal
    left ‖ right, 2 Leaf key hash ‖ value hash) and its 0 or 64 bytes."""
    if len(data) > MAX_PROOF_BYTES:
        raise DecodeError(f"the proof is {len(data)} bytes; the limit is {MAX_PROOF_BYTES}")
    r = Reader(data, "sparse merkle proof")
    leaf = r.option(lambda: _read_leaf(r))
    count = r.integer(4, False)
    if count > MAX_SIBLINGS:
        raise DecodeError(f"the proof has {count} siblings; at most {MAX_SIBLINGS}")
    siblings: List[Sibling] = []
    for _ in range(count):
        tag = r.u8()
        if tag == 0:
            siblings.append(Null())
        elif tag == 1:
            siblings.append(Internal(_read_32(r), _read_32(r)))
        elif tag == 2:
            siblings.append(_read_leaf(r))
        else:
            raise DecodeError(f"sparse merkle proof has an unknown node tag {tag}")
    r.finish()
    return SparseMerkleProof(leaf, siblings)


@dataclass(frozen=True)
class StateProof:
    """``tokenbook_store::StateProof``: a ledger key's value (or absence) at a height, with the
    Merkle path to the state root after that height."""

    height: int
    key: bytes
    value: Optional[bytes]
    proof: SparseMerkleProof

    def verify(self, state_root) -> None:
        """Checks the proof against the state root after :attr:`height` (bytes or hex)."""
        if isinstance(state_root, str):
            state_root = bytes.fromhex(state_root)
        self.proof.verify(state_root, self.key, self.value)


def decode_state_proof(data) -> StateProof:
    """A ``StateProof`` from its canonical bytes (or their hex, as the API prints them)."""
    if isinstance(data, str):
        data = bytes.fromhex(data)
    r = Reader(data, "state proof")
    height = r.u64()
    key = r.bytes_vec()
    value = r.option(r.bytes_vec)
    proof = decode_sparse_merkle_proof(r.bytes_vec())
    r.finish()
    return StateProof(height, key, value, proof)


def verify_state_answer(answer: dict, state_root=None) -> StateProof:
    """Checks a ``GET /v1/state/{key}`` answer: its proof is for its key, height and value, and
    leads to ``state_root`` (default: the answer's own ``state_root``; pass a root you trust,
    e.g. the next block header's). Returns the decoded proof."""
    proof = decode_state_proof(answer["proof"])
    value = None if answer["value"] is None else bytes.fromhex(answer["value"])
    if proof.key.hex() != answer["key"] or proof.height != answer["height"] \
            or proof.value != value:
        raise ProofError("the proof is not for the answer's key, height and value")
    proof.verify(state_root or answer["state_root"])
    return proof
