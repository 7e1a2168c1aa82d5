// view-clearing.js — risk and clearing: insurance fund, fee pool, guaranty contributions per
// member, and the default waterfall's events (liquidations, ADL, insurance, guaranty use).
//
// Data:
// - `GET /v1/clearing` every 3 s: the funds, cash totals (with the conservation identity checked
//   here: account cash + fee pool + insurance fund + guaranty = deposits − withdrawals), every
//   member's guaranty posted / required / due / short, the risk parameters;
// - events: the API has no feed of every account's events (liquidations happen at the end of a
//   block, outside any tx receipt, and `/v1/stream` without `account` sends only blocks and
//   trades), so the page opens `ws /v1/stream?account=ID&from_height=<head − 999>` for each
//   account (ids 1 … next_account − 1 from the proven globals record, at most MAX_ACCOUNTS) and
//   keeps `liquidated`, `deleveraged`, `insurance_paid`, `default_covered`, `guaranty_used` and
//   `bad_debt`, deduplicated. The window is the last 1,000 heights (what a stream replays),
//   then live while the page is open; the page says how long that is at the current rate.
// Test handle: window.tokenbookConsole.clearing = {height, conservation, members, events,
// accountsWatched, windowFrom}.

import { getJson, getText, wsUrl } from './api.js';
import { dollars, usd } from './codec.js';
import { loadGlobals } from './data.js';
import { clear, duration, errorBox, h, light, link, table } from './dom.js';
import { meanInterval, parseMetrics } from './network.js';
import { every, tc } from './view-common.js';

export const NAME = 'clearing';
const MAX_ACCOUNTS = 64;
const KINDS = new Set(['liquidated', 'deleveraged', 'insurance_paid', 'default_covered', 'guaranty_used', 'bad_debt']);

export function mount(root) {
  const fundsEl = h('div', { class: 'summary' }, 'loading…');
  const membersEl = h('div');
  const riskEl = h('div');
  const eventsEl = h('div');
  const windowEl = h('p', { class: 'note' });
  root.append(h('h1', {}, 'Risk and clearing'), fundsEl,
    h('h2', {}, 'Guaranty fund contributions'), membersEl,
    h('h2', {}, 'Liquidations, auto-deleveraging and the default waterfall'), windowEl, eventsEl,
    h('h2', {}, 'Risk parameters'), riskEl);
  let alive = true;
  const sockets = [];
  const seen = new Set();
  const events = [];
  let windowFrom = null; let head = null; let watched = 0; let accounts = 0; let interval = null;
  let dirty = true;

  const stop = every(3000, async () => {
    let c;
    try { c = await getJson('/v1/clearing'); } catch (e) { clear(fundsEl).append(errorBox(e)); return; }
    head = c.height;
    const conserved = BigInt(c.total_account_cash) + BigInt(c.fee_pool) + BigInt(c.insurance_fund) + BigInt(c.total_guaranty) === BigInt(c.total_deposits) - BigInt(c.total_withdrawals);
    const item = (label, value, cls = '') => h('div', { class: 'item' }, h('div', { class: 'label' }, label), h('div', { class: `value ${cls}` }, value));
    clear(fundsEl).append(
      item('insurance fund', `${usd(c.insurance_fund)}`),
      item('fee pool', `${usd(c.fee_pool)}`),
      item('guaranty fund (total posted)', `${usd(c.total_guaranty)}`),
      item('account cash', `${usd(c.total_account_cash)}`),
      item('deposits − withdrawals', `${usd(BigInt(c.total_deposits) - BigInt(c.total_withdrawals))}`),
      item('conservation', conserved ? 'holds ✓' : 'BROKEN ✗', conserved ? 'ok' : 'bad'),
      item('liquidation backlog', c.liquidation_backlog ? 'yes: liquidations wait for the next block' : 'none', c.liquidation_backlog ? 'warn' : ''),
      item('height', String(c.height)),
    );
    clear(membersEl).append(table([
      { label: '', value: (m) => light(m.short ? 'bad' : 'ok', m.short ? 'short: its accounts may not add risk' : 'covered') },
      { label: 'Member account', value: (m) => link(`#/account/${m.account}`, String(m.account)) },
      { label: 'Posted', class: 'r', value: (m) => `${usd(m.guaranty_posted)}` },
      { label: 'Required', class: 'r', value: (m) => `${usd(m.guaranty_required)}` },
      { label: 'Due (used, not topped up)', class: 'r', value: (m) => `${usd(m.guaranty_due)}` },
      { label: 'Member cash', class: 'r', value: (m) => `${usd(m.cash)}` },
      { label: 'Short', value: (m) => (m.short ? h('span', { class: 'bad' }, 'SHORT') : 'no') },
    ], c.members.map((m) => ({ ...m, __class: m.short ? 'row-bad' : '' })), { empty: 'no members' }));
    const r = c.risk;
    clear(riskEl).append(h('table', { class: 'kv' }, Object.entries(r).map(([k, v]) => h('tr', {}, h('th', {}, k.replaceAll('_', ' ')), h('td', {}, k === 'guaranty_floor' ? `${usd(v)}` : String(v))))));
    Object.assign(tc(), { ready: true });
    tc().clearing = { ...(tc().clearing ?? {}), height: c.height, conservation: conserved, members: c.members.length };
    if (interval === null) {
      // Mean block interval (ms) from the node's histogram, to say how long the window is.
      try { interval = (meanInterval(parseMetrics(await getText('/metrics'))) ?? 0) * 1000; } catch { interval = 0; }
    }
    dirty = true;
  });

  // ---- per-account event streams
  (async () => {
    let globals;
    try { globals = await loadGlobals(); } catch (e) { eventsEl.append(errorBox(e)); return; }
    accounts = globals.record.next_account - 1;
    windowFrom = Math.max(1, globals.height - 999);
    const ids = Array.from({ length: Math.min(accounts, MAX_ACCOUNTS) }, (_, i) => i + 1);
    watched = ids.length;
    for (const id of ids) {
      if (!alive) return;
      const ws = new WebSocket(wsUrl(`/v1/stream?account=${id}&from_height=${windowFrom}`));
      ws.onmessage = (ev) => {
        const m = JSON.parse(ev.data);
        if (m.type !== 'event' || !KINDS.has(m.event.event)) return;
        const key = `${m.height}:${JSON.stringify(m.event)}`;
        if (seen.has(key)) return;
        seen.add(key);
        events.push(m);
        dirty = true;
      };
      sockets.push(ws);
    }
    dirty = true;
  })();

  const describe = (e) => {
    const a = (id) => link(`#/account/${id}`, String(id));
    switch (e.event) {
      case 'liquidated': return h('span', {}, 'account ', a(e.account), ` liquidated: equity ${usd(e.equity)} < maintenance ${usd(e.maintenance)}`);
      case 'deleveraged': return h('span', {}, 'account ', a(e.account), ` deleveraged against `, a(e.counterparty), `: ${e.qty} lots at ${e.price} ticks in market ${e.market}`);
      case 'insurance_paid': return h('span', {}, `insurance fund paid ${usd(e.amount)} for `, a(e.account), `; unpaid ${usd(e.unpaid)}`);
      case 'default_covered': return h('span', {}, `${e.layer.replaceAll('_', ' ')} of `, a(e.payer), ` covered ${usd(e.amount)} for `, a(e.account));
      case 'guaranty_used': return h('span', {}, 'member ', a(e.member), `'s guaranty paid ${usd(e.amount)} for `, a(e.account), ` (due ${usd(e.due)})`);
      case 'bad_debt': return h('span', { class: 'bad' }, `bad debt ${usd(e.amount)} of `, a(e.account));
      default: return JSON.stringify(e);
    }
  };

  const renderEvents = () => {
    if (!dirty) return;
    dirty = false;
    const span = head !== null && windowFrom !== null ? head - windowFrom + 1 : null;
    windowEl.textContent = windowFrom === null ? 'opening the account streams…'
      : `Window: heights ${windowFrom} – ${head ?? '…'} (${span ?? '—'} heights${interval ? `, about ${duration(span * interval)} at the current block rate` : ''}), then live while this page is open. `
        + `A stream replays at most 1,000 heights, so "the last day" is out of reach through the API. `
        + `Watching ${watched} of ${accounts} accounts${watched < accounts ? ` (the first ${MAX_ACCOUNTS})` : ''}: the API has no all-accounts event feed.`;
    const rows = events.slice().sort((x, y) => y.height - x.height).slice(0, 300);
    clear(eventsEl).append(table([
      { label: 'Height', value: (m) => link(`#/block/${m.height}`, String(m.height)) },
      { label: 'Event', value: (m) => h('span', { class: m.event.event === 'bad_debt' || m.event.event === 'liquidated' ? 'bad' : 'warn' }, m.event.event) },
      { label: 'What happened', value: (m) => describe(m.event) },
    ], rows, { empty: 'no liquidation, ADL or default events in the window' }));
    tc().clearing = { ...(tc().clearing ?? {}), events: events.length, accountsWatched: watched, accounts, windowFrom };
  };
  const timer = setInterval(renderEvents, 1000);

  return () => {
    alive = false;
    stop();
    clearInterval(timer);
    for (const ws of sockets) { ws.onmessage = null; ws.close(); }
  };
}
