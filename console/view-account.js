// view-account.js — one account: cash, equity, margins, positions with P&L, orders, fills, and
// its Merkle proof checked in this browser.
//
// Data:
// - `GET /v1/keys/{public key}` when the page is opened by key (→ the account id);
// - `GET /v1/accounts/{id}` every 3 s, `GET /v1/markets` (marks, lot tick values, margin rates),
//   `GET /v1/clearing` (risk parameters): equity, P&L and margins are computed here with the
//   ledger's rule (console/margin.js) at the last marks — the node publishes no margin figures;
// - `GET /v1/accounts/{id}?prove=true`: the StateProof is decoded and verified in the browser
//   (console/proof.js) against the answer's state root; the proven record is decoded
//   (console/records.js) and compared with the JSON; then the root is checked against block
//   H + 1's header `state_root`, that header's hash (SHA-256 of its raw bytes) against block
//   H + 1's commit certificate, and the certificate's signers (> 2/3 of the validator set's
//   power; signatures when the browser has Ed25519);
// - fills and other events: `ws /v1/stream?account=ID&from_height=<head − 999>` (the stream
//   replays at most 1,000 heights, then goes live).
// Test handle: window.tokenbookConsole.account = {id, proof: {verified, height, root, certified,
// error}, equity, initial, available, fills}.

import { getBytes, getJson, wsUrl } from './api.js';
import { dollars, ticksToUsd, toHex, usd } from './codec.js';
import { clear, errorBox, h, link, short, table } from './dom.js';
import { accountRisk, pnl } from './margin.js';
import { decodeStateProof, verifyStateProof } from './proof.js';
import { accountKey, decodeAccount, decodeCertificate, readHeader, verifyCertificate } from './records.js';
import { every, tc } from './view-common.js';

export const NAME = 'account';
const FILLS = 200;

function lookupForm() {
  const input = h('input', { placeholder: 'account id or owner / trading public key (hex)', size: 70 });
  return h('form', { class: 'lookup', onsubmit: (e) => { e.preventDefault(); const v = input.value.trim(); if (v) location.hash = `#/account/${v}`; } },
    input, h('button', {}, 'Open'));
}

export function mount(root, { who }) {
  root.append(h('h1', {}, 'Account', who ? ` ${who.length === 64 ? short(who, 16) : who}` : ''), lookupForm());
  if (!who) return () => {};
  const state = { alive: true, socket: null, stop: null };
  const summaryEl = h('div', { class: 'summary' }, 'loading…');
  const proofEl = h('div', { class: 'proof' });
  const positionsEl = h('div');
  const ordersEl = h('div');
  const fillsEl = h('div');
  const eventsEl = h('div');
  const windowEl = h('p', { class: 'note' });
  root.append(summaryEl,
    h('p', { class: 'note' }, 'Equity, unrealised P&L and margins are estimates computed in this browser at the last committed marks with the ledger\'s margin rule (initial margin counts open orders); the node does not publish them.'),
    h('h2', {}, 'Merkle proof'), proofEl,
    h('h2', {}, 'Positions'), positionsEl, h('h2', {}, 'Open orders'), ordersEl,
    h('h2', {}, 'Fills'), windowEl, fillsEl, h('h2', {}, 'Other events'), eventsEl);

  const start = async () => {
    let id = who;
    if (who.length === 64) {
      try {
        const grant = await getJson(`/v1/keys/${who.toLowerCase()}`);
        id = String(grant.account);
        root.querySelector('h1').append(` → account ${id} (${grant.kind} key${grant.expires_at ? `, expires ${new Date(grant.expires_at).toISOString()}` : ''})`);
      } catch (e) { clear(summaryEl).append(errorBox(e)); return; }
    }
    if (!state.alive) return;
    tc().account = { id: Number(id), proof: { verified: false, pending: true }, fills: 0 };
    verifyProof(id, proofEl);
    state.stop = every(3000, () => refresh(id));
    openFills(id);
  };

  const refresh = async (id) => {
    let account; let markets; let clearing;
    try {
      [account, markets, clearing] = await Promise.all([getJson(`/v1/accounts/${id}`), getJson('/v1/markets'), getJson('/v1/clearing')]);
    } catch (e) { clear(summaryEl).append(errorBox(e)); return; }
    const byId = new Map(markets.map((m) => [m.id, m]));
    const risk = accountRisk(account, byId, clearing.risk);
    const item = (label, value, cls = '') => h('div', { class: 'item' }, h('div', { class: 'label' }, label), h('div', { class: `value ${cls}` }, value));
    clear(summaryEl).append(
      item('cash', `${usd(account.cash)}`),
      item('equity (est.)', usd(risk.equity)),
      item('margin used (initial, est.)', usd(risk.initial)),
      item('margin available (est.)', usd(risk.available), risk.available < 0n ? 'bad' : ''),
      item('maintenance (est.)', usd(risk.maintenance), risk.equity < risk.maintenance ? 'bad' : ''),
      item('member', link(`#/account/${account.member}`, String(account.member))),
      item('status', account.frozen ? h('span', { class: 'bad' }, 'frozen') : 'active'),
      item('height', String(account.height)),
      account.guaranty ? item('guaranty posted / required', `${usd(account.guaranty.posted)} / ${usd(account.guaranty.required)}${account.guaranty.short ? ' (SHORT)' : ''}`, account.guaranty.short ? 'bad' : '') : '',
    );
    const sym = (m) => byId.get(m)?.symbol ?? `market ${m}`;
    clear(positionsEl).append(table([
      { label: 'Market', value: (p) => link(`#/market/${sym(p.market)}`, sym(p.market)) },
      { label: 'Lots', class: 'r', value: (p) => h('span', { class: BigInt(p.position.qty) > 0n ? 'bid' : 'ask' }, p.position.qty) },
      { label: 'Cost', class: 'r', value: (p) => `${usd(p.position.cost)}` },
      { label: 'Mark', class: 'r', value: (p) => (byId.get(p.market) ? `${dollars(byId.get(p.market).mark_usd)}` : '—') },
      { label: 'Unrealised P&L (est.)', class: 'r', value: (p) => {
        const m = byId.get(p.market); if (!m) return '—';
        const v = pnl(p.position, m);
        return h('span', { class: v >= 0n ? 'bid' : 'ask' }, `${usd(v)}`);
      } },
      { label: 'Open buy / sell lots', class: 'r', value: (p) => `${p.position.open_buy} / ${p.position.open_sell}` },
    ], account.positions, { empty: 'no positions' }));
    clear(ordersEl).append(table([
      { label: 'Order', value: (o) => String(o.id) },
      { label: 'Market', value: (o) => sym(o.market) },
      { label: 'Side', value: (o) => h('span', { class: o.side === 'buy' ? 'bid' : 'ask' }, o.side) },
      { label: 'Price', class: 'r', value: (o) => (o.price_usd ? `${dollars(o.price_usd)}` : `${o.price} ticks`) },
      { label: 'Lots left', class: 'r', value: (o) => o.qty },
      { label: 'Client id', value: (o) => (o.client_order_id ?? '—').toString() },
      { label: 'Kind', value: (o) => (o.triggered ? 'resting' : 'stop (untriggered)') },
    ], account.open_orders, { empty: 'no open orders' }));
    state.markets = byId;
    Object.assign(tc().account, { equity: risk.equity.toString(), initial: risk.initial.toString(), available: risk.available.toString(), positions: account.positions.length, orders: account.open_orders.length });
    tc().ready = true;
  };

  // ---- the proof, checked here
  const verifyProof = async (id, el) => {
    clear(el).append(h('span', { class: 'muted' }, 'fetching the proof…'));
    const result = { verified: false };
    const lines = [];
    try {
      const answer = await getJson(`/v1/accounts/${id}?prove=true`);
      const { height, state_root: root, bytes } = answer.proof;
      const sp = decodeStateProof(bytes);
      if (toHex(sp.key) !== toHex(accountKey(id)) || sp.height !== height) throw new Error("the proof is not for this account's key at the answer's height");
      if (sp.value === null) throw new Error('the proof says the account does not exist');
      await verifyStateProof(sp, root);
      Object.assign(result, { verified: true, height, root });
      lines.push(h('div', { class: 'ok big' }, `✓ verified against root ${root} at height ${height}`));
      const record = decodeAccount(sp.value);
      const jsonPositions = answer.positions.map((p) => `${p.market}:${p.position.qty}:${p.position.cost}:${p.position.open_buy}:${p.position.open_sell}`).join();
      const proven = record.positions.map((p) => `${p.market}:${p.qty}:${p.cost}:${p.open_buy}:${p.open_sell}`).join();
      const agrees = record.id === answer.id && record.owner === answer.owner && record.member === answer.member
        && record.frozen === answer.frozen && record.cash === BigInt(answer.cash) && proven === jsonPositions;
      result.recordMatches = answer.height === height ? agrees : null;
      lines.push(h('div', {}, `Proven record: ${record.kind} ${record.id}, member ${record.member}, cash ${usd(record.cash, 6)}, ${record.positions.length} position(s), ${record.nonces.length} nonces in the owner's window, ${record.scoped_keys.length} scoped key(s)`,
        answer.height === height ? (agrees ? ' — the JSON answer agrees ✓' : h('span', { class: 'bad' }, ' — the JSON answer DIFFERS from the proven record ✗')) : ''));
      lines.push(await certifiedRoot(height, root, result));
    } catch (e) {
      result.error = e.message;
      lines.push(h('div', { class: 'bad big' }, `✗ proof not verified: ${e.message}`));
    }
    if (!state.alive) return;
    Object.assign(tc().account.proof, result, { pending: false });
    clear(el).append(...lines, h('button', { onclick: () => verifyProof(id, el) }, 'verify again at the latest height'));
  };

  /** Block H + 1's header carries the root after H; its certificate signs that header. */
  const certifiedRoot = async (height, root, result) => {
    let next = null;
    for (let i = 0; i < 20 && state.alive; i++) {
      try { next = await getJson(`/v1/blocks/${height + 1}`); break; } catch { await new Promise((r) => setTimeout(r, 500)); }
    }
    if (!next) return h('div', { class: 'muted' }, `block ${height + 1} not committed yet: the root is not yet certified by a header`);
    if (next.block.header.state_root !== root) {
      result.certified = false;
      return h('div', { class: 'bad' }, `✗ block ${height + 1}'s header carries state root ${next.block.header.state_root}, not ${root}`);
    }
    const [raw, certBytes, status] = await Promise.all([getBytes(`/v1/blocks/${height + 1}?format=raw`), getBytes(`/v1/blocks/${height + 1}/certificate`), getJson('/v1/status')]);
    const header = await readHeader(raw);
    const check = await verifyCertificate(decodeCertificate(certBytes), { height: height + 1, blockHash: header.hash, validators: status.validators, chainId: status.chain_id });
    result.certified = header.state_root === root && check.ok;
    return h('div', { class: result.certified ? 'ok' : 'bad' },
      result.certified ? '✓ ' : '✗ ',
      `block ${height + 1}'s header (hash ${short(header.hash, 16)}) carries this root; its commit certificate `,
      check.ok ? `is signed by ${check.signers.map((s) => (s.index === null ? '?' : `v${s.index}`)).join(', ')} (${check.signedPower}/${check.totalPower} power${check.signaturesChecked ? ', signatures verified here' : ', signatures not checked: no Ed25519 in this browser'})` : `fails: ${check.problems.join('; ')}`,
      ' ', link(`#/block/${height + 1}`, 'block'));
  };

  // ---- fills and events, replayed then live
  const fills = []; const events = [];
  let from = null;
  const renderFills = () => {
    const sym = (m) => state.markets?.get(m)?.symbol ?? `market ${m}`;
    clear(fillsEl).append(table([
      { label: 'Height', value: (t) => link(`#/block/${t.height}`, String(t.height)) },
      { label: 'Market', value: (t) => sym(t.market) },
      { label: 'Side', value: (t) => { const side = t.taker === Number(tc().account?.id) ? t.taker_side : t.taker_side === 'buy' ? 'sell' : 'buy'; return h('span', { class: side === 'buy' ? 'bid' : 'ask' }, side); } },
      { label: 'Role', value: (t) => (t.taker === Number(tc().account?.id) ? 'taker' : 'maker') },
      { label: 'Price', class: 'r', value: (t) => (t.price_usd ? `${dollars(t.price_usd)}` : (state.markets?.get(t.market) ? `$${ticksToUsd(t.price, state.markets.get(t.market).tick_size)}` : t.price)) },
      { label: 'Lots', class: 'r', value: (t) => t.qty },
      { label: 'Counterparty', value: (t) => { const c = t.taker === Number(tc().account?.id) ? t.maker : t.taker; return link(`#/account/${c}`, String(c)); } },
    ], fills.slice().reverse(), { empty: 'no fills in the window' }));
    clear(eventsEl).append(table([
      { label: 'Height', value: (e) => link(`#/block/${e.height}`, String(e.height)) },
      { label: 'Event', value: (e) => e.event.event },
      { label: 'Details', value: (e) => h('code', { class: 'small' }, JSON.stringify(e.event)) },
    ], events.slice().reverse().slice(0, 50), { empty: 'no other events in the window' }));
    windowEl.textContent = `Heights ${from ?? '—'} to now: the stream replays at most 1,000 heights, then goes live while this page is open. Showing the last ${FILLS}.`;
    if (tc().account) tc().account.fills = fills.length;
  };
  let dirty = false;
  const fillTimer = setInterval(() => { if (dirty) { dirty = false; renderFills(); } }, 500);
  const openFills = async (id) => {
    let complete = null; // the last height whose messages all arrived
    let current = null;
    const connect = async () => {
      if (!state.alive) return;
      let oldest = null;
      try { oldest = Math.max(1, (await getJson('/v1/status')).height - 999); } catch { /* live only */ }
      if (from === null) from = oldest;
      // Resume after the last complete height (dropping a height half received), never before
      // what the node replays.
      if (current !== null) {
        for (const list of [fills, events]) while (list.length && list.at(-1).height > complete) list.pop();
      }
      const start = complete === null ? oldest : Math.max(complete + 1, oldest ?? 0);
      const ws = new WebSocket(wsUrl(`/v1/stream?account=${id}${start ? `&from_height=${start}` : ''}`));
      state.socket = ws;
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.type === 'block') { if (current !== null) complete = current; current = m.height; }
        else if (m.type === 'trade') { fills.push(m); if (fills.length > FILLS) fills.shift(); dirty = true; }
        else if (m.type === 'event') { events.push(m); if (events.length > FILLS) events.shift(); dirty = true; }
      };
      ws.onclose = () => { if (state.alive) setTimeout(connect, 1000); };
    };
    renderFills();
    connect();
  };

  start();
  return () => {
    state.alive = false;
    if (state.stop) state.stop();
    clearInterval(fillTimer);
    if (state.socket) { state.socket.onclose = null; state.socket.close(); }
  };
}
