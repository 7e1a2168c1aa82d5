// records.js — the ledger and consensus records the console decodes from canonical bytes.
//
// Promises (layouts from docs/wire-format.md):
// - state keys: `accountKey(id)` = 01 ‖ id u64 BE;
// - `decodeAccount` reads a proven account value ("The account value"), refusing trailing bytes;
// - `decodeCertificate` reads a CommitCertificate (height u64, round u32, block_hash 32,
//   Vec<(validator 32, signature 64)>); `readHeader` reads the header at the front of a block's
//   canonical bytes and hashes it (the block hash); `votePreimage` builds the precommit
//   preimage a certificate signature signs;
// - `verifyCertificate` checks height, block hash, distinct known signers and > 2/3 power, and —
//   when the runtime's WebCrypto has Ed25519 — each signature (plain RFC 8032 verification, which
//   accepts what the node's verify_strict accepts from honest signers); it reports, never throws.

import { Reader, asBytes, ascii, concat, equalBytes, sha256, toHex, u32le, u64be, u64le } from './codec.js';

export const accountKey = (id) => concat(new Uint8Array([1]), u64be(id));

const ACCOUNT_KINDS = ['member', 'admin', 'trader'];

/** An account record as stored (what an account proof proves). */
export function decodeAccount(bytes) {
  const r = new Reader(bytes, 'account');
  const a = {
    id: r.u64n(),
    kind: ACCOUNT_KINDS[r.variant(3, 'AccountKind')],
    owner: toHex(r.take(32)),
    member: r.u64n(),
    limits: { max_order_qty: r.i64(), max_open_orders: r.u32(), max_position: r.i64() },
    self_trade_group: r.u64(),
    frozen: r.bool(),
    cash: r.i128(),
    positions: r.vec(() => ({ market: r.u32(), qty: r.i64(), cost: r.i128(), open_buy: r.i64(), open_sell: r.i64() }), 44),
    open_orders: r.vec(() => r.u64(), 8),
    client_ids: r.vec(() => [r.u64(), r.u64()], 16),
    nonces: r.vec(() => r.u64(), 8),
    deadman: r.option(() => r.u64()),
    scoped_keys: r.vec(() => ({ key: toHex(r.take(32)), nonces: r.vec(() => r.u64(), 8) }), 40),
    guaranty: { posted: r.i128(), required: r.i128(), due: r.i128() },
  };
  r.finish();
  return a;
}

/** A commit certificate from its canonical bytes. */
export function decodeCertificate(bytes) {
  const r = new Reader(bytes, 'certificate');
  const c = {
    height: r.u64n(),
    round: r.u32(),
    block_hash: r.take(32),
    signatures: r.vec(() => ({ validator: r.take(32), signature: r.take(64) }), 96),
  };
  r.finish();
  return c;
}

/** The header at the front of a block's canonical bytes, with its hash (SHA-256 of it). */
export async function readHeader(blockBytes) {
  const r = new Reader(blockBytes, 'block');
  const h = { chain_id: r.string(), height: r.u64n(), time: Number(r.u64()) };
  for (const f of ['proposer', 'prev_block_hash', 'prev_certificate_hash', 'tx_root', 'state_root', 'validator_set_hash', 'next_validator_set_hash']) {
    h[f] = toHex(r.take(32));
  }
  h.hash = toHex(await sha256(r.bytes.subarray(0, r.pos)));
  return h;
}

const VOTE_DOMAIN = ascii('tokenbook/vote/v1');
export const PRECOMMIT = 1;

/** `u64le(17) ‖ "tokenbook/vote/v1" ‖ u64le(len chain_id) ‖ chain_id ‖ VotePayload`. */
export function votePreimage(chainId, kind, height, round, value, validator) {
  const chain = ascii(chainId);
  const payload = concat(
    u32le(kind), u64le(height), u32le(round),
    value ? concat(new Uint8Array([1]), asBytes(value)) : new Uint8Array([0]),
    asBytes(validator),
  );
  return concat(u64le(VOTE_DOMAIN.length), VOTE_DOMAIN, u64le(chain.length), chain, payload);
}

let ed25519Support;
/** True when this runtime's WebCrypto verifies Ed25519. */
export async function hasEd25519() {
  if (ed25519Support === undefined) {
    try {
      await globalThis.crypto.subtle.importKey('raw', new Uint8Array(32).fill(0).map((_, i) => (i === 0 ? 1 : 0)), { name: 'Ed25519' }, false, ['verify']);
      ed25519Support = true;
    } catch { ed25519Support = false; }
  }
  return ed25519Support;
}

export async function verifyEd25519(key, message, signature) {
  const k = await globalThis.crypto.subtle.importKey('raw', asBytes(key), { name: 'Ed25519' }, false, ['verify']);
  return globalThis.crypto.subtle.verify({ name: 'Ed25519' }, k, asBytes(signature), message);
}

/**
 * Checks a decoded certificate for `height` and `blockHash` (hex) against `validators`
 * (`/v1/status` form). Returns {ok, problems[], signers[{key, power, index, verified}],
 * signedPower, totalPower, signaturesChecked}.
 */
export async function verifyCertificate(cert, { height, blockHash, validators, chainId }) {
  const problems = [];
  if (cert.height !== height) problems.push(`certificate is for height ${cert.height}, not ${height}`);
  if (blockHash && toHex(cert.block_hash) !== blockHash) problems.push(`certificate decides block ${toHex(cert.block_hash).slice(0, 12)}…, not ${blockHash.slice(0, 12)}…`);
  const byKey = new Map(validators.map((v, i) => [v.consensus_key, { index: i, power: BigInt(v.power) }]));
  const total = validators.reduce((s, v) => s + BigInt(v.power), 0n);
  const canVerify = await hasEd25519();
  const seen = new Set();
  let signed = 0n;
  const signers = [];
  for (const { validator, signature } of cert.signatures) {
    const key = toHex(validator);
    const known = byKey.get(key);
    let verified = null;
    if (canVerify && chainId) {
      try {
        verified = await verifyEd25519(validator, votePreimage(chainId, PRECOMMIT, cert.height, cert.round, cert.block_hash, validator), signature);
      } catch { verified = false; }
      if (!verified) problems.push(`the precommit of ${key.slice(0, 12)}… does not verify`);
    }
    if (!known) problems.push(`signer ${key.slice(0, 12)}… is not in the validator set`);
    else if (seen.has(key)) problems.push(`signer ${key.slice(0, 12)}… signs twice`);
    else signed += known.power;
    seen.add(key);
    signers.push({ key, index: known ? known.index : null, power: known ? known.power : 0n, verified });
  }
  if (3n * signed <= 2n * total) problems.push(`signers hold ${signed} of ${total} power: not more than two thirds`);
  return { ok: problems.length === 0, problems, signers, signedPower: signed, totalPower: total, signaturesChecked: canVerify && !!chainId };
}

export { equalBytes };
