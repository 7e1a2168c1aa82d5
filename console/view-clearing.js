// view-clearing.js — risk and clearing: insurance fund, fee pool, guaranty contributions per
// member, and the default waterfall's events (liquidations, ADL, insurance, guaranty use).
//
// Data:
// - `GET /v1/clearing` every 3 s: the funds, cash totals (with the conservation identity checked
//   here: account cash + fee pool + insurance fund + guaranty = deposits − withdrawals), every
//   member's guaranty posted / required / due / short, the risk parameters;
// - events: `GET /v1/clearing/events` (the node's clearing index: every account's
//   `liquidated`, `deleveraged`, `insurance_paid`, `insurance_funded`, `default_covered`,
//   `guaranty_used` and `bad_debt`), first the last day of block time (paged with
//   `next_from_height`), then every 3 s from the height after the last one read.
// Test handle: window.tokenbookConsole.clearing = {height, conservation, members, events,
// windowFrom, windowFromTime, readThrough}.

import { getJson } from './api.js';
import { usd } from './codec.js';
import { clear, errorBox, h, isoTime, light, link, table } from './dom.js';
import { every, tc } from './view-common.js';

export const NAME = 'clearing';
const MAX_SHOWN = 300;

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
  const events = [];
  let windowFrom = null; let windowFromTime = null; let next = null; let readThrough = null;
  let dirty = true;

  const stop = every(3000, async () => {
    let c;
    try { c = await getJson('/v1/clearing'); } catch (e) { clear(fundsEl).append(errorBox(e)); return; }
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
    dirty = true;
  });

  // ---- the clearing index: the last day, then what follows
  const readEvents = async () => {
    for (let pages = 0; alive && pages < 50; pages++) {
      const query = next === null ? '' : `?from_height=${next}`;
      const page = await getJson(`/v1/clearing/events${query}`);
      if (windowFrom === null) {
        windowFrom = page.from_height;
        windowFromTime = page.events[0]?.time ?? null;
      }
      events.push(...page.events);
      if (events.length > MAX_SHOWN * 4) events.splice(0, events.length - MAX_SHOWN * 4);
      readThrough = page.until_height;
      next = page.next_from_height ?? page.until_height + 1;
      dirty = true;
      if (page.next_from_height === null) return;
    }
  };
  const stopEvents = every(3000, async () => {
    try { await readEvents(); } catch (e) { clear(eventsEl).append(errorBox(e)); }
  });

  const describe = (e) => {
    const a = (id) => link(`#/account/${id}`, String(id));
    switch (e.event) {
      case 'liquidated': return h('span', {}, 'account ', a(e.account), ` liquidated: equity ${usd(e.equity)} < maintenance ${usd(e.maintenance)}`);
      case 'deleveraged': return h('span', {}, 'account ', a(e.account), ` deleveraged against `, a(e.counterparty), `: ${e.qty} lots at ${e.price} ticks in market ${e.market}`);
      case 'insurance_paid': return h('span', {}, `insurance fund paid ${usd(e.amount)} for `, a(e.account), `; unpaid ${usd(e.unpaid)}`);
      case 'default_covered': return h('span', {}, `${e.layer.replaceAll('_', ' ')} of `, a(e.payer), ` covered ${usd(e.amount)} for `, a(e.account));
      case 'guaranty_used': return h('span', {}, 'member ', a(e.member), `'s guaranty paid ${usd(e.amount)} for `, a(e.account), ` (due ${usd(e.due)})`);
      case 'bad_debt': return h('span', { class: 'bad' }, `bad debt ${usd(e.amount)} of `, a(e.account));
      case 'insurance_funded': return h('span', {}, `governance moved ${usd(e.amount)} from the fee pool to the insurance fund`);
      default: return JSON.stringify(e);
    }
  };

  const renderEvents = () => {
    if (!dirty) return;
    dirty = false;
    windowEl.textContent = windowFrom === null ? 'reading the clearing index…'
      : `Every account's events from height ${windowFrom} (the first block of the last day of block time${windowFromTime ? `; first event ${isoTime(windowFromTime)}` : ''}) through ${readThrough}, then live while this page is open; newest first, at most ${MAX_SHOWN} shown.`;
    const rows = events.slice().reverse().slice(0, MAX_SHOWN);
    clear(eventsEl).append(table([
      { label: 'Height', value: (m) => link(`#/block/${m.height}`, String(m.height)) },
      { label: 'Time', value: (m) => isoTime(m.time) },
      { label: 'Event', value: (m) => h('span', { class: m.event.event === 'bad_debt' || m.event.event === 'liquidated' ? 'bad' : 'warn' }, m.event.event) },
      { label: 'What happened', value: (m) => describe(m.event) },
    ], rows, { empty: 'no liquidation, ADL or default events in the last day' }));
    tc().clearing = { ...(tc().clearing ?? {}), events: events.length, windowFrom, windowFromTime, readThrough };
  };
  const timer = setInterval(renderEvents, 1000);

  return () => {
    alive = false;
    stop();
    stopEvents();
    clearInterval(timer);
  };
}
