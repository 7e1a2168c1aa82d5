// view-block.js — one block: header, certificate (who signed, checked), txs and their receipts.
//
// Data: `GET /v1/blocks/{h}` (JSON header, txs, certificate); `GET /v1/blocks/{h}?format=raw`
// (canonical bytes: the block hash is SHA-256 of the header's encoding, computed here);
// `GET /v1/blocks/{h}/certificate` (canonical bytes, decoded and checked: height, block hash,
// signers in the validator set of `/v1/status`, > 2/3 power, Ed25519 signatures when the
// browser has them); `GET /v1/state-root/{h}` against block h + 1's header `state_root`; the
// txs' hashes computed from the raw block (console/txs.js; the block JSON carries none),
// checked against the header's tx_root, and each receipt from `GET /v1/tx/{hash}`.

import { getBytes, getJson } from './api.js';
import { toHex } from './codec.js';
import { clear, errorBox, h, isoTime, link, short, table } from './dom.js';
import { decodeCertificate, readHeader, verifyCertificate } from './records.js';
import { blockTxs, txRoot } from './txs.js';
import { tc } from './view-common.js';

export const NAME = 'block';
const MAX_RECEIPTS = 300;

function describeBody(body) {
  const b = body.body ?? {};
  switch (body.type) {
    case 'place_order': return `place ${b.side} ${b.qty} @ ${b.price} ticks (market ${b.market}, ${b.kind}, ${typeof b.time_in_force === 'string' ? b.time_in_force : Object.keys(b.time_in_force ?? {})[0] ?? ''})`;
    case 'cancel_order': return `cancel in market ${b.market}`;
    case 'replace_order': return `replace in market ${b.market}: ${b.new_qty} @ ${b.new_price}`;
    case 'publish_index': return `publish index ${b.index}: ${b.price} µUSD`;
    default: return body.type ?? JSON.stringify(body).slice(0, 80);
  }
}

export function mount(root, { height }) {
  const headEl = h('div', {}, 'loading…');
  const certEl = h('div');
  const txsEl = h('div');
  root.append(
    h('h1', {}, link('#/network', 'Network'), ` / block ${height} `, link(`#/block/${Math.max(1, height - 1)}`, '←'), ' ', link(`#/block/${height + 1}`, '→')),
    headEl, h('h2', {}, 'Certificate'), certEl, h('h2', {}, 'Transactions'), txsEl,
  );
  let alive = true;
  (async () => {
    let answer; let raw; let certBytes; let status;
    try {
      [answer, raw, certBytes, status] = await Promise.all([
        getJson(`/v1/blocks/${height}`), getBytes(`/v1/blocks/${height}?format=raw`),
        getBytes(`/v1/blocks/${height}/certificate`), getJson('/v1/status'),
      ]);
    } catch (e) { clear(headEl).append(errorBox(e)); return; }
    if (!alive) return;
    const header = await readHeader(raw);
    const json = answer.block.header;
    const rootAfter = await getJson(`/v1/state-root/${height}`).catch(() => null);
    const next = await getJson(`/v1/blocks/${height + 1}`).catch(() => null);
    const rootCheck = !rootAfter ? 'state root no longer retained'
      : !next ? `root after ${height}: ${short(rootAfter.state_root, 16)} (block ${height + 1} not committed yet)`
        : next.block.header.state_root === rootAfter.state_root ? `= block ${height + 1}'s header state_root ✓` : `≠ block ${height + 1}'s header state_root ✗`;
    const kv = (k, v) => h('tr', {}, h('th', {}, k), h('td', {}, v));
    clear(headEl).append(h('table', { class: 'kv' },
      kv('hash', h('code', {}, header.hash)),
      kv('time', isoTime(json.time)),
      kv('proposer', h('code', {}, json.proposer)),
      kv('txs', String(answer.block.txs.length)),
      kv('tx root', h('code', {}, json.tx_root)),
      kv('state root before (after height − 1)', h('code', {}, json.state_root)),
      kv('state root after', h('span', {}, h('code', {}, rootAfter?.state_root ?? '—'), ' ', rootCheck)),
      kv('previous block', json.prev_block_hash === '0'.repeat(64) ? 'genesis' : link(`#/block/${height - 1}`, short(json.prev_block_hash, 16))),
      kv('raw header decodes as the JSON', header.height === json.height && header.tx_root === json.tx_root && header.state_root === json.state_root ? 'yes ✓' : 'NO ✗'),
    ));

    const cert = decodeCertificate(certBytes);
    const check = await verifyCertificate(cert, { height, blockHash: header.hash, validators: status.validators, chainId: status.chain_id });
    const jsonSigners = answer.certificate.signatures.map((s) => s.validator).join();
    const agrees = jsonSigners === cert.signatures.map((s) => toHex(s.validator)).join();
    clear(certEl).append(
      h('p', { class: check.ok ? 'ok' : 'bad' },
        check.ok ? `Decides block ${short(header.hash, 16)} at round ${cert.round}: ${check.signedPower} of ${check.totalPower} power signed (> 2/3)` : `Certificate problems: ${check.problems.join('; ')}`,
        check.signaturesChecked ? ' · every precommit signature verified in this browser' : ' · signatures not checked (no Ed25519 in this browser\'s WebCrypto)',
        agrees ? '' : ' · the JSON certificate lists other signers than its bytes ✗'),
      table([
        { label: 'Validator', value: (s) => (s.index === null ? 'not in the current set' : `v${s.index}`) },
        { label: 'Consensus key', value: (s) => h('code', {}, s.key) },
        { label: 'Power', class: 'r', value: (s) => String(s.power) },
        { label: 'Signature', value: (s) => (s.verified === null ? 'not checked' : s.verified ? h('span', { class: 'ok' }, 'valid') : h('span', { class: 'bad' }, 'INVALID')) },
      ], check.signers),
    );
    tc().block = { height, hash: header.hash, certificateOk: check.ok, signers: check.signers.map((s) => s.index) };
    tc().ready = true;

    const txs = answer.block.txs;
    let hashes = null; let rootNote;
    try {
      hashes = (await blockTxs(raw)).map((t) => t.hash);
      const computed = await txRoot(hashes);
      rootNote = computed === header.tx_root ? `${hashes.length} tx hashes computed from the block's bytes; their Merkle root equals the header's tx_root ✓` : `the computed tx root ${short(computed, 16)} differs from the header's ✗`;
    } catch (e) { rootNote = `could not split the block's txs: ${e.message}`; }
    const receipts = new Map();
    if (hashes) {
      // Eight at a time: the node rate-limits each client (200/s by default).
      const queue = hashes.slice(0, MAX_RECEIPTS);
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let hash = queue.shift(); hash; hash = queue.shift()) {
          try { receipts.set(hash, await getJson(`/v1/tx/${hash}`)); } catch (e) { receipts.set(hash, { status: e.code }); }
        }
      }));
    }
    if (!alive) return;
    tc().block.txRootOk = rootNote.endsWith('✓');
    const SHOWN = 500;
    const rows = txs.slice(0, SHOWN).map((tx, i) => ({ i, tx, hash: hashes?.[i] ?? null, receipt: hashes ? receipts.get(hashes[i]) : null }));
    const receiptCell = ({ receipt }) => {
      if (!receipt) return h('span', { class: 'muted' }, hashes ? 'not fetched' : '—');
      if (receipt.status === 'tx_unknown') return h('span', { class: 'muted' }, 'forgotten by the node');
      if (receipt.status !== 'committed') return receipt.status;
      if (!receipt.accepted) return h('span', { class: 'bad' }, `refused: ${receipt.code}`);
      return h('details', {}, h('summary', {}, `${receipt.events.length} event${receipt.events.length === 1 ? '' : 's'}: ${[...new Set(receipt.events.map((e) => e.event))].join(', ')}`),
        h('pre', {}, receipt.events.map((e) => JSON.stringify(e)).join('\n')));
    };
    clear(txsEl).append(
      h('p', { class: rootNote.endsWith('✓') ? 'note' : 'note bad' }, rootNote, txs.length > MAX_RECEIPTS ? ` · receipts of the first ${MAX_RECEIPTS} fetched` : '', txs.length > SHOWN ? ` · first ${SHOWN} of ${txs.length} txs shown` : ''),
      table([
        { label: '#', value: (r) => String(r.i) },
        { label: 'Account', value: (r) => link(`#/account/${r.tx.account}`, String(r.tx.account)) },
        { label: 'What', value: (r) => describeBody(r.tx.body) },
        { label: 'Hash', value: (r) => (r.hash ? h('code', { title: r.hash }, short(r.hash, 12)) : '—') },
        { label: 'Receipt', value: receiptCell },
      ], rows, { empty: 'no transactions' }),
    );
  })();
  return () => { alive = false; };
}
