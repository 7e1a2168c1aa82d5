// proof.test.mjs — console/proof.js against every ```proof-vector of docs/wire-format.md:
// each verifies against its state root; a tampered value, root or key does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vectors } from './vectors.mjs';
import { decodeStateProof, verifyStateProof, verifyStateAnswer, ProofError } from '../proof.js';
import { fromHex, toHex } from '../codec.js';

const proofs = vectors('proof-vector');

test('the document holds the three proof vectors', () => {
  assert.deepEqual(proofs.map((v) => v.name), ['account-5', 'absent-account-with-leaf', 'absent-key-empty-subtree']);
});

const flip = (bytes, at = 0) => { const c = Uint8Array.from(bytes); c[at] ^= 1; return c; };

for (const v of proofs) {
  const value = v.value === 'none' ? null : v.value;
  test(`${v.name}: decodes to its key and value and verifies`, async () => {
    const sp = decodeStateProof(v.proof_hex);
    assert.equal(toHex(sp.key), v.key);
    assert.equal(sp.value === null ? null : toHex(sp.value), value);
    assert.equal(sp.height, 6223);
    await verifyStateProof(sp, v.state_root);
    // The API's answer shape, checked as the console checks it.
    await verifyStateAnswer({ height: 6223, key: v.key, value, state_root: v.state_root, proof: v.proof_hex });
  });

  test(`${v.name}: a tampered root fails`, async () => {
    const sp = decodeStateProof(v.proof_hex);
    await assert.rejects(verifyStateProof(sp, flip(fromHex(v.state_root), 31)), ProofError);
  });

  test(`${v.name}: a tampered value fails`, async () => {
    const sp = decodeStateProof(v.proof_hex);
    // Inclusion: one bit of the value changed. Absence: claim the key holds a value.
    sp.value = sp.value === null ? fromHex('00') : flip(sp.value, sp.value.length - 1);
    await assert.rejects(verifyStateProof(sp, v.state_root), ProofError);
  });

  test(`${v.name}: a tampered key fails`, async () => {
    const sp = decodeStateProof(v.proof_hex);
    sp.key = flip(sp.key, sp.key.length - 1);
    await assert.rejects(verifyStateProof(sp, v.state_root), ProofError);
  });

  test(`${v.name}: a tampered sibling fails`, async () => {
    const sp = decodeStateProof(v.proof_hex);
    const s = sp.proof.siblings.find((n) => n.kind !== 'null');
    if (s.kind === 'internal') s.left = flip(s.left); else s.keyHash = flip(s.keyHash);
    await assert.rejects(verifyStateProof(sp, v.state_root), ProofError);
  });

  test(`${v.name}: trailing or missing bytes are refused`, () => {
    assert.throws(() => decodeStateProof(v.proof_hex + '00'), /trailing/);
    assert.throws(() => decodeStateProof(v.proof_hex.slice(0, -2)), /ends early|trailing/);
  });
}

test('an answer whose value differs from its proof is refused', async () => {
  const v = proofs[0];
  await assert.rejects(
    verifyStateAnswer({ height: 6223, key: v.key, value: null, state_root: v.state_root, proof: v.proof_hex }),
    ProofError,
  );
});
