// view-markets.js — every contract: prices, top of book, interest, status, expiry, terms in USD.
//
// Data: `GET /v1/markets` every 3 s (mark, best bid/ask, open interest, status, expiry, terms
// and their `*_usd` forms); the index price and TWAP from each index's state record
// (`GET /v1/state/06‖id`, proof verified in the browser; /v1/markets names only the index id);
// the block time from the globals record (`GET /v1/state/00`). The TWAP is the ledger's own
// accumulator averaged over the market's settlement window ending at the last block time
// (`Twap::average`), i.e. what settlement would use if the contract expired now.

import { dollars, microUsd, usdText } from './codec.js';
import { loadGlobals, loadIndex, loadMarkets } from './data.js';
import { clear, countdown, duration, errorBox, h, isoTime, light, link, table } from './dom.js';
import { twapAverage } from './records.js';
import { every, marketStatusClass, tc } from './view-common.js';

export const NAME = 'markets';

const bps = (v) => `${v} bps`;
const pct = (v) => `${(v / 100).toFixed(2)} %`;

export function mount(root) {
  const head = h('div', { class: 'subtitle' }, 'loading…');
  const prices = h('div');
  const terms = h('div');
  root.append(
    h('h1', {}, 'Markets'), head,
    h('section', {}, prices),
    h('h2', {}, 'Contract terms (USD)'), terms,
    h('p', { class: 'note' },
      'Prices in USD per quoted unit (per 1M output tokens, or per H100-hour). Index and TWAP come from each index\'s ',
      'state record, its Merkle proof checked in this browser: the API\'s /v1/markets gives only the index id. ',
      'TWAP = the ledger\'s time-weighted index average over the settlement window ending at the last block time.'),
  );
  const countdowns = [];
  const tick = setInterval(() => { for (const [el, expiry] of countdowns) el.textContent = countdown(expiry - Date.now()); }, 1000);

  const stop = every(3000, async () => {
    let markets; let globals; const indexes = new Map();
    try {
      [markets, globals] = await Promise.all([loadMarkets(), loadGlobals()]);
      const ids = [...new Set(markets.list.map((m) => m.index))];
      await Promise.all(ids.map(async (id) => {
        try { indexes.set(id, await loadIndex(id)); } catch (e) { indexes.set(id, { error: e }); }
      }));
    } catch (e) {
      clear(prices).append(errorBox(e));
      tc().errors.push(e.message);
      return;
    }
    const now = globals.record.time;
    head.textContent = `height ${globals.height} · block time ${isoTime(now)} · ${markets.list.length} contracts`;
    countdowns.length = 0;
    const rows = markets.list.map((m) => {
      const ix = indexes.get(m.index);
      const rec = ix?.record;
      const twap = rec ? twapAverage(rec.twap, now - m.settlement_window_ms, now) : null;
      return { m, ix, rec, twap };
    });
    const price = (usd) => h('span', { class: 'num' }, usdText(usd));
    const indexCell = ({ ix, rec }) => {
      if (!ix || ix.error) return h('span', { class: 'bad' }, ix?.error?.message ?? '—');
      if (!rec || rec.price === null) return h('span', { class: 'muted' }, 'no price yet');
      return h('span', {},
        h('span', { class: 'num' }, microUsd(rec.price, 4)), ' ',
        h('span', { class: rec.fresh ? 'tag ok' : 'tag warn', title: `${rec.submissions.length} members' observations; ${rec.name}` }, rec.fresh ? 'fresh' : 'stale'),
        ix.proofError ? h('span', { class: 'tag bad', title: ix.proofError }, 'proof failed') : h('span', { class: 'tag', title: `proof verified against the state root at height ${ix.height}` }, '✓'));
    };
    const expiryCell = ({ m }) => {
      const el = h('span', { class: 'num' }, countdown(m.expiry - Date.now()));
      countdowns.push([el, m.expiry]);
      return h('span', { title: isoTime(m.expiry) }, el);
    };
    clear(prices).append(table([
      { label: 'Contract', value: ({ m }) => link(`#/market/${m.symbol}`, m.symbol) },
      { label: 'Status', value: ({ m }) => h('span', {}, light(marketStatusClass(m.status)), ' ', m.status) },
      { label: 'Index', class: 'r', value: indexCell },
      { label: 'Mark', class: 'r', value: ({ m }) => price(m.mark_usd) },
      { label: 'TWAP', class: 'r', value: ({ m, twap }) => h('span', { title: `over ${duration(m.settlement_window_ms)} to the last block` }, twap === null ? '—' : h('span', { class: 'num' }, microUsd(twap, 4))) },
      { label: 'Bid', class: 'r bid', value: ({ m }) => price(m.best_bid_usd) },
      { label: 'Ask', class: 'r ask', value: ({ m }) => price(m.best_ask_usd) },
      { label: 'Open interest (lots)', class: 'r', value: ({ m }) => h('span', { class: 'num' }, m.open_interest) },
      { label: 'Resting orders', class: 'r', value: ({ m }) => h('span', { class: 'num' }, m.resting_orders) },
      { label: 'Expires in', class: 'r', value: expiryCell },
    ], rows, { empty: 'no markets listed' }));
    clear(terms).append(table([
      { label: 'Contract', value: ({ m }) => m.symbol },
      { label: 'Tick size', class: 'r', value: ({ m }) => `${dollars(m.tick_size_usd)}` },
      { label: 'Lot', class: 'r', value: ({ m }) => `${m.lot_size} contract${m.lot_size === 1 ? '' : 's'} × ${m.multiplier} units` },
      { label: 'Lot tick value', class: 'r', value: ({ m }) => `${dollars(m.lot_tick_value_usd)}` },
      { label: 'Maker / taker fee', class: 'r', value: ({ m }) => `${bps(m.params.maker_fee_bps)} / ${bps(m.params.taker_fee_bps)}` },
      { label: 'Initial / maint. margin', class: 'r', value: ({ m }) => `${pct(m.params.initial_margin_bps)} / ${pct(m.params.maintenance_margin_bps)}` },
      { label: 'Price band', class: 'r', value: ({ m }) => pct(m.params.price_band_bps) },
      { label: 'Position limit', class: 'r', value: ({ m }) => `${m.params.position_limit} lots` },
      { label: 'Impact lots', class: 'r', value: ({ m }) => m.params.impact_lots },
      { label: 'Settlement window', class: 'r', value: ({ m }) => duration(m.settlement_window_ms) },
      { label: 'Expiry', class: 'r', value: ({ m }) => isoTime(m.expiry) },
    ], rows));
    Object.assign(tc(), { ready: true, markets: rows.map(({ m, rec, twap }) => ({ symbol: m.symbol, mark: m.mark, index: rec?.price?.toString() ?? null, twap: twap?.toString() ?? null })) });
  });
  return () => { stop(); clearInterval(tick); };
}
