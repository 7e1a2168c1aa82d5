// proof.js — decode a node's StateProof and verify it against a state root, in the browser.
//
// Follows docs/wire-format.md, "State proofs", exactly (and agrees with
// clients/python/tokenbook/proofs.py and jmt 0.12's SparseMerkleProof::verify):
// - `decodeStateProof` reads the bincode StateProof (height u64, key Vec<u8>,
//   value Option<Vec<u8>>, proof Vec<u8> ≤ 16,384 bytes) and the borsh SparseMerkleProof inside
//   it (leaf Option<(key_hash, value_hash)>, siblings: u32 LE count ≤ 256, each u8 tag
//   0 Null / 1 Internal(left, right) / 2 Leaf), refusing trailing bytes and unknown tags.
// - `verifyStateProof(proof, root)` resolves when the proof shows `proof.value` (or the key's
//   absence) under `root`, and rejects with `ProofError` naming what differs otherwise:
//   inclusion needs a leaf with key_hash = H(key) and value_hash = H(value); absence needs no
//   leaf, or a leaf of another key sharing at least n leading bits with H(key); then the walk
//   from the leaf (or the placeholder) up the n siblings, listed bottom-up, bit (n − 1 − j) of
//   H(key) choosing the side, must end at `root`.
// - Nothing in the proof is trusted but hashes; SHA-256 is WebCrypto's.

import { Reader, DecodeError, asBytes, ascii, concat, equalBytes, sha256, toHex } from './codec.js';

export const LEAF_DOMAIN = ascii('JMT::LeafNode');
export const INTERNAL_DOMAIN = ascii('JMT::IntrnalNode');
export const PLACEHOLDER = ascii('SPARSE_MERKLE_PLACEHOLDER_HASH__');
export const MAX_PROOF_BYTES = 16 * 1024;
export const MAX_SIBLINGS = 256;

export class ProofError extends Error {}

export const leafHash = (keyHash, valueHash) => sha256(concat(LEAF_DOMAIN, keyHash, valueHash));
export const internalHash = (left, right) => sha256(concat(INTERNAL_DOMAIN, left, right));

/** Bit i of a 32-byte hash, from the most significant bit of byte 0. */
export function bit(hash, i) {
  return (hash[i >> 3] >> (7 - (i & 7))) & 1;
}

export function commonPrefixBits(a, b) {
  for (let i = 0; i < 256; i++) if (bit(a, i) !== bit(b, i)) return i;
  return 256;
}

async function nodeHash(node) {
  switch (node.kind) {
    case 'null': return PLACEHOLDER;
    case 'internal': return internalHash(node.left, node.right);
    default: return leafHash(node.keyHash, node.valueHash);
  }
}

/** The borsh SparseMerkleProof. */
export function decodeSparseMerkleProof(bytes) {
  if (bytes.length > MAX_PROOF_BYTES) throw new DecodeError(`sparse merkle proof of ${bytes.length} bytes; at most ${MAX_PROOF_BYTES}`);
  const r = new Reader(bytes, 'sparse merkle proof');
  const readLeaf = () => ({ kind: 'leaf', keyHash: r.take(32), valueHash: r.take(32) });
  const leaf = r.option(readLeaf);
  const n = r.u32();
  if (n > MAX_SIBLINGS) r.fail(`${n} siblings; at most ${MAX_SIBLINGS}`);
  const siblings = [];
  for (let i = 0; i < n; i++) {
    const tag = r.u8();
    if (tag === 0) siblings.push({ kind: 'null' });
    else if (tag === 1) siblings.push({ kind: 'internal', left: r.take(32), right: r.take(32) });
    else if (tag === 2) siblings.push(readLeaf());
    else r.fail(`unknown node tag ${tag}`);
  }
  r.finish();
  return { leaf, siblings };
}

/** The bincode StateProof (bytes or hex, as the API gives it). */
export function decodeStateProof(data) {
  const r = new Reader(asBytes(data), 'state proof');
  const height = r.u64n();
  const key = r.bytesVec();
  const value = r.option(() => r.bytesVec());
  const inner = r.bytesVec();
  r.finish();
  return { height, key, value, proof: decodeSparseMerkleProof(inner) };
}

/** The root a proof's path leads to from the key hash. */
export async function rootFrom(proof, keyHash) {
  let h = proof.leaf ? await leafHash(proof.leaf.keyHash, proof.leaf.valueHash) : PLACEHOLDER;
  const n = proof.siblings.length;
  for (let j = 0; j < n; j++) {
    const s = await nodeHash(proof.siblings[j]);
    h = bit(keyHash, n - 1 - j) ? await internalHash(s, h) : await internalHash(h, s);
  }
  return h;
}

/**
 * Checks `key` has `value` (null: is absent) under `root` with the SparseMerkleProof `proof`.
 * Resolves to the root reached; rejects with ProofError.
 */
export async function verifySparseMerkleProof(proof, root, key, value) {
  root = asBytes(root);
  if (proof.siblings.length > MAX_SIBLINGS) throw new ProofError(`the proof has ${proof.siblings.length} siblings; at most 256`);
  const kh = await sha256(key);
  if (value !== null) {
    if (!proof.leaf) throw new ProofError('expected an inclusion proof; found a proof of absence');
    if (!equalBytes(proof.leaf.keyHash, kh)) throw new ProofError(`the proof's leaf is key hash ${toHex(proof.leaf.keyHash)}, not ${toHex(kh)}`);
    const vh = await sha256(value);
    if (!equalBytes(proof.leaf.valueHash, vh)) throw new ProofError(`the value hashes to ${toHex(vh)}; the proof's leaf holds ${toHex(proof.leaf.valueHash)}`);
  } else if (proof.leaf) {
    if (equalBytes(proof.leaf.keyHash, kh)) throw new ProofError('expected a proof of absence, but the key is in the proof');
    if (commonPrefixBits(kh, proof.leaf.keyHash) < proof.siblings.length) {
      throw new ProofError("the key would not be in the subtree the proof's leaf holds alone: not a proof of absence");
    }
  }
  const actual = await rootFrom(proof, kh);
  if (!equalBytes(actual, root)) throw new ProofError(`the proof leads to root ${toHex(actual)}, not ${toHex(root)}`);
  return actual;
}

/** Verifies a decoded StateProof against a root (bytes or hex). */
export function verifyStateProof(stateProof, root) {
  return verifySparseMerkleProof(stateProof.proof, root, stateProof.key, stateProof.value);
}

/**
 * A `GET /v1/state/{key}` answer: its proof is for its key, height and value and leads to
 * `root` (default the answer's own `state_root`; pass a root you trust). Resolves to the
 * decoded proof.
 */
export async function verifyStateAnswer(answer, root = answer.state_root) {
  const sp = decodeStateProof(answer.proof);
  const value = answer.value === null ? null : asBytes(answer.value);
  const sameValue = value === null ? sp.value === null : sp.value !== null && equalBytes(sp.value, value);
  if (toHex(sp.key) !== answer.key || sp.height !== answer.height || !sameValue) {
    throw new ProofError("the proof is not for the answer's key, height and value");
  }
  await verifyStateProof(sp, root);
  return sp;
}
