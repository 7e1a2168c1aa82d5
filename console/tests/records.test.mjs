// records.test.mjs — console/records.js and console/txs.js against docs/wire-format.md: the
// account value of the account-5 proof vector, the vote preimage and signature of the
// vote-vector (Ed25519 in WebCrypto), a certificate built from it, the tx vectors split and
// hashed, the RFC 6962 tx root, the index record and its TWAP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vectors } from './vectors.mjs';
import { concat, fromHex, sha256, toHex, u32le, u64le } from '../codec.js';
import { decodeStateProof } from '../proof.js';
import {
  accountKey, decodeAccount, decodeCertificate, hasEd25519, PRECOMMIT,
  readHeader, verifyCertificate, votePreimage,
} from '../records.js';
import { blockTxs, readTx, txRoot } from '../txs.js';
import { Reader } from '../codec.js';

test('state keys', () => {
  assert.equal(toHex(accountKey(5)), '010000000000000005');
});

test('the account-5 vector decodes to what the document says', () => {
  const v = vectors('proof-vector').find((x) => x.name === 'account-5');
  const a = decodeAccount(decodeStateProof(v.proof_hex).value);
  assert.equal(a.id, 5);
  assert.equal(a.kind, 'trader');
  assert.equal(a.member, 1);
  assert.deepEqual([a.limits.max_order_qty, a.limits.max_open_orders, a.limits.max_position], [100n, 500, 5000n]);
  assert.equal(a.cash, 10_000_619_414_600n);
  assert.deepEqual(a.positions.map((p) => [p.market, p.qty, p.cost]), [[1, 13n, 10_970_000_000n], [2, 8n, 3_740_000_000n]]);
  assert.equal(a.nonces.length, 32);
  assert.deepEqual(a.open_orders, []);
});

const voteVector = vectors('vote-vector').find((x) => x.name === 'precommit-height-5');
const validatorKey = voteVector.payload_hex.slice(-64);

test('the precommit preimage is the vote-vector\'s', () => {
  const pre = votePreimage(voteVector.chain_id, PRECOMMIT, 5, 1, fromHex(voteVector.value), fromHex(validatorKey));
  assert.equal(toHex(pre), voteVector.preimage_hex);
});

const certBytes = (signature = voteVector.signature) => concat(
  u64le(5), u32le(1), fromHex(voteVector.value), u64le(1), fromHex(validatorKey), fromHex(signature),
);

test('a certificate decodes and checks: height, block hash, power, signature', async (t) => {
  const cert = decodeCertificate(certBytes());
  assert.equal(cert.height, 5);
  assert.equal(cert.round, 1);
  assert.equal(toHex(cert.signatures[0].validator), validatorKey);
  const validators = [{ consensus_key: validatorKey, power: 3 }];
  const ok = await verifyCertificate(cert, { height: 5, blockHash: voteVector.value, validators, chainId: 'tokenbook-devnet' });
  assert.ok(ok.ok, ok.problems.join('; '));
  assert.equal(ok.signers[0].index, 0);
  if (!(await hasEd25519())) { t.skip('no Ed25519 in this WebCrypto'); return; }
  assert.equal(ok.signers[0].verified, true);
  const bad = fromHex(voteVector.signature); bad[0] ^= 1;
  const forged = await verifyCertificate(decodeCertificate(certBytes(toHex(bad))), { height: 5, blockHash: voteVector.value, validators, chainId: 'tokenbook-devnet' });
  assert.equal(forged.ok, false);
  const wrongChain = await verifyCertificate(cert, { height: 5, blockHash: voteVector.value, validators, chainId: 'other-chain' });
  assert.equal(wrongChain.ok, false);
});

test('a certificate short of two thirds, or of another block, fails', async () => {
  const cert = decodeCertificate(certBytes());
  const other = 'aa'.repeat(32);
  const validators = [{ consensus_key: validatorKey, power: 3 }, { consensus_key: other, power: 1 }];
  assert.equal((await verifyCertificate(cert, { height: 5, blockHash: voteVector.value, validators })).ok, true);
  const thin = [{ consensus_key: validatorKey, power: 2 }, { consensus_key: other, power: 2 }];
  assert.match((await verifyCertificate(cert, { height: 5, blockHash: voteVector.value, validators: thin })).problems.join(), /two thirds/);
  assert.match((await verifyCertificate(cert, { height: 5, blockHash: other, validators })).problems.join(), /decides block/);
  assert.throws(() => decodeCertificate(concat(certBytes(), new Uint8Array([0]))), /trailing/);
});

test('every tx vector is measured whole and hashes to its tx_hash', async () => {
  const txs = vectors('vector');
  assert.ok(txs.length >= 4);
  for (const v of txs) {
    const r = new Reader(fromHex(v.tx_hex), v.name);
    const bytes = readTx(r);
    r.finish();
    assert.equal(toHex(await sha256(bytes)), v.tx_hash, v.name);
  }
});

test('a block\'s txs are split from its bytes and their root is RFC 6962\'s', async () => {
  const txs = vectors('vector').map((v) => fromHex(v.tx_hex));
  const chain = new TextEncoder().encode('tokenbook-devnet');
  const header = concat(u64le(chain.length), chain, u64le(7), u64le(1_800_000_000_000), new Uint8Array(32 * 7).fill(9));
  const block = concat(header, u64le(txs.length), ...txs);
  const split = await blockTxs(block);
  assert.deepEqual(split.map((t) => t.hash), vectors('vector').map((v) => v.tx_hash));
  const h = await readHeader(block);
  assert.equal(h.height, 7);
  assert.equal(h.hash, toHex(await sha256(header)));
  // RFC 6962 by hand for three leaves: root = H(01 ‖ H(01 ‖ L0 ‖ L1) ‖ L2).
  const leaf = (x) => sha256(concat(new Uint8Array([0]), fromHex(x)));
  const node = (a, b) => sha256(concat(new Uint8Array([1]), a, b));
  const hs = split.map((t) => t.hash).slice(0, 3);
  const expected = await node(await node(await leaf(hs[0]), await leaf(hs[1])), await leaf(hs[2]));
  assert.equal(await txRoot(hs), toHex(expected));
  assert.equal(await txRoot([]), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(await txRoot([hs[0]]), toHex(await leaf(hs[0])));
  await assert.rejects(blockTxs(concat(block, new Uint8Array([1]))), /trailing/);
});

