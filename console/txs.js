// txs.js — a block's txs from its canonical bytes: each tx's bytes and hash, and the tx root.
//
// Promises (docs/wire-format.md, "Transaction", "Body variants", "Consensus messages"):
// - `blockTxs(blockBytes)` skips the header and reads `Vec<Tx>`, measuring each tx by walking its
//   layout (account u64, signer 32, nonce u64, TxBody by its u32 tag, signature 64) without
//   interpreting it; it refuses unknown tags and trailing bytes, and resolves to
//   [{bytes, hash}] in block order, `hash` = SHA-256 of the tx's bytes (the hash the API names
//   a tx by, so `GET /v1/tx/{hash}` gives its receipt at any height the node remembers);
// - `txRoot(hashes)` is the RFC 6962 Merkle root (leaf SHA-256(00 ‖ hash), node
//   SHA-256(01 ‖ left ‖ right), split at the largest power of two below the count, empty
//   SHA-256("")): equal to the header's `tx_root` exactly when the split above is right.

import { Reader, concat, fromHex, sha256, toHex } from './codec.js';

const limits = (r) => { r.i64(); r.u32(); r.i64(); };
const marketParams = (r) => { r.i32(); r.i32(); r.u32(); r.u32(); r.u32(); r.i64(); r.i64(); };
const orderRef = (r) => { r.variant(2, 'OrderRef'); r.u64(); };

function govAction(r) {
  switch (r.variant(11, 'GovAction')) {
    case 0: // ListMarket(MarketSpec)
      r.string(); r.u32(); r.i128(); r.u64(); r.u64(); r.u64(); r.u64(); r.i64(); marketParams(r); break;
    case 1: r.u32(); marketParams(r); break; // SetMarketParams
    case 2: r.u32(); r.variant(3, 'StatusChange'); break; // SetMarketStatus
    case 3: r.take(60); break; // SetRiskParams: RiskParams is 60 bytes
    case 4: r.take(64); r.u64(); break; // AddValidator
    case 5: r.take(32); break; // RemoveValidator
    case 6: r.take(32); r.string(); break; // AddMember
    case 7: r.u64(); break; // RemoveMember
    case 8: r.string(); break; // ListIndex
    case 9: r.i128(); break; // FundInsurance
    default: r.u64(); r.u64(); break; // TransferAccounts
  }
}

function txBody(r) {
  switch (r.variant(17, 'TxBody')) {
    case 0: { // PlaceOrder(NewOrder)
      r.u32(); r.variant(2, 'Side'); r.variant(2, 'OrderKind'); r.i64(); r.i64();
      if (r.variant(5, 'TimeInForce') === 1) r.u64();
      r.bool(); r.option(() => r.u64()); r.variant(3, 'SelfTradePrevention');
      r.option(() => { r.variant(2, 'TriggerKind'); r.i64(); });
      break;
    }
    case 1: r.u32(); orderRef(r); break; // CancelOrder
    case 2: r.option(() => r.u32()); break; // CancelAll
    case 3: r.u32(); orderRef(r); r.i64(); r.i64(); break; // ReplaceOrder
    case 4: r.u64(); break; // SetDeadman
    case 5: r.take(32); r.option(() => r.u64()); break; // AuthoriseKey
    case 6: r.take(32); break; // RevokeKey
    case 7: r.take(32); limits(r); r.u64(); break; // RegisterAccount
    case 8: case 9: r.u64(); r.i128(); r.take(32); break; // Deposit, Withdraw
    case 10: r.u64(); limits(r); break; // SetLimits
    case 11: r.u64(); r.bool(); break; // SetFrozen
    case 12: r.u32(); r.i128(); r.u64(); break; // PublishIndex
    case 13: govAction(r); r.u64(); break; // Propose
    case 14: r.u64(); break; // Approve
    default: r.i128(); break; // PostGuaranty, ReleaseGuaranty
  }
}

/** Reads one tx at the reader's position; returns its bytes. */
export function readTx(r) {
  const start = r.pos;
  r.u64(); r.take(32); r.u64();
  txBody(r);
  r.take(64);
  return r.bytes.subarray(start, r.pos);
}

/** The txs of a block's canonical bytes, with their hashes, in block order. */
export async function blockTxs(blockBytes) {
  const r = new Reader(blockBytes, 'block');
  r.string(); r.u64(); r.u64(); r.take(32 * 7);
  const txs = r.vec(() => readTx(r), 100);
  r.finish();
  return Promise.all(txs.map(async (bytes) => ({ bytes, hash: toHex(await sha256(bytes)) })));
}

async function merkle(leaves) {
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(concat(new Uint8Array([1]), await merkle(leaves.slice(0, k)), await merkle(leaves.slice(k))));
}

/** RFC 6962 root over tx hashes (hex), as hex. */
export async function txRoot(hashes) {
  if (!hashes.length) return toHex(await sha256(new Uint8Array(0)));
  const leaves = await Promise.all(hashes.map((x) => sha256(concat(new Uint8Array([0]), fromHex(x)))));
  return toHex(await merkle(leaves));
}
