// live.test.mjs — the console's decoders and verifiers against a running node (skipped unless
// TOKENBOOK_API names one, e.g. TOKENBOOK_API=http://127.0.0.1:8080 node --test console/tests/).
//
// Checks what unit vectors cannot: every market's index fields and the status's block time; an
// account's proof verifies and its proven record equals the JSON; recent blocks'
// raw headers hash to their certificates' block hash, their txs split so the tx root matches the
// header, and their certificates carry > 2/3 of the power with valid signatures; and (with a
// WebSocket client: Node ≥ 22 or --experimental-websocket) the book feed's updates follow on
// from the snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const API = process.env.TOKENBOOK_API;
const skip = API ? false : 'set TOKENBOOK_API to a node URL';
if (API) globalThis.location = new URL(API);

const load = async () => {
  const api = await import('../api.js');
  return {
    api,
    data: await import('../data.js'),
    records: await import('../records.js'),
    proof: await import('../proof.js'),
    txs: await import('../txs.js'),
    codec: await import('../codec.js'),
    book: await import('../book.js'),
  };
};

test('every market carries its index price, freshness and TWAP; the status its block time', { skip }, async () => {
  const { data } = await load();
  const [markets, status] = await Promise.all([data.loadMarkets(), data.getStatus()]);
  assert.ok(Math.abs(status.time - Date.now()) < 120_000, 'block time near now');
  for (const m of markets.list) {
    assert.match(m.index_price_usd ?? '', /^\d+\.\d{6}$/, m.symbol);
    assert.equal(typeof m.index_fresh, 'boolean');
    if (!m.settlement_window_open) assert.equal(m.settlement_twap_usd, null, 'a TWAP only inside the window');
  }
});

test('an account proof verifies and the proven record is the JSON', { skip }, async () => {
  const { api, proof, records, codec } = await load();
  const members = (await api.getJson('/v1/clearing')).members;
  const id = members[0].account;
  const answer = await api.getJson(`/v1/accounts/${id}?prove=true`);
  const sp = proof.decodeStateProof(answer.proof.bytes);
  assert.equal(codec.toHex(sp.key), codec.toHex(records.accountKey(id)));
  await proof.verifyStateProof(sp, answer.proof.state_root);
  const rec = records.decodeAccount(sp.value);
  assert.equal(rec.id, id);
  assert.equal(rec.owner, answer.owner);
  if (answer.proof.height === answer.height) assert.equal(rec.cash, BigInt(answer.cash));
  const root = await api.getJson(`/v1/state-root/${answer.proof.height}`);
  assert.equal(root.state_root, answer.proof.state_root);
});

test('recent blocks: header hash, tx root and certificate check out', { skip }, async () => {
  const { api, records, txs, codec } = await load();
  const status = await api.getJson('/v1/status');
  for (let h = status.height - 5; h <= status.height - 1; h++) {
    if (h < 1) continue;
    const raw = await api.getBytes(`/v1/blocks/${h}?format=raw`);
    const header = await records.readHeader(raw);
    const list = await txs.blockTxs(raw);
    assert.equal(await txs.txRoot(list.map((t) => t.hash)), header.tx_root, `tx root at ${h}`);
    const json = await api.getJson(`/v1/blocks/${h}`);
    assert.equal(list.length, json.block.txs.length);
    const cert = records.decodeCertificate(await api.getBytes(`/v1/blocks/${h}/certificate`));
    assert.equal(codec.toHex(cert.block_hash), header.hash, `certificate of ${h} decides its block`);
    const check = await records.verifyCertificate(cert, { height: h, blockHash: header.hash, validators: status.validators, chainId: status.chain_id });
    assert.ok(check.ok, check.problems.join('; '));
    if (list.length) {
      const receipt = await api.getJson(`/v1/tx/${list[0].hash}`);
      assert.equal(receipt.status, 'committed');
      assert.equal(receipt.height, h);
    }
  }
});

test('the book feed: a snapshot, then updates numbered on from it', { skip: skip || (globalThis.WebSocket ? false : 'no WebSocket client in this Node') }, async () => {
  const { api, data, book } = await load();
  const markets = await data.loadMarkets();
  const symbol = markets.list[0].symbol;
  const kinds = [];
  const feed = new book.BookFeed({ url: (since) => api.wsUrl(`/v1/stream/markets/${symbol}?level=2${since === null ? '' : `&since=${since}`}`), onChange: (r) => kinds.push(r.kind) }).start();
  const end = Date.now() + 8000;
  while (Date.now() < end && feed.stats.updatesApplied < 3) await new Promise((r) => setTimeout(r, 100));
  feed.stop();
  assert.equal(kinds[0], 'snapshot');
  assert.ok(feed.stats.updatesApplied >= 1, 'updates follow the snapshot');
  assert.equal(feed.stats.gaps, 0);
});
