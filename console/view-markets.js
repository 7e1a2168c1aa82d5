// view-markets.js — every contract: prices, top of book, interest, status, expiry, terms in USD.
//
// Data: `GET /v1/markets` every 3 s (mark, index price and freshness, index TWAP, best bid/ask,
// open interest, status, expiry, terms and their `*_usd` forms) and `GET /v1/status` (height,
// block time). The TWAP is the ledger's own accumulator averaged over the market's settlement
// window's length ending at the last block time (`index_twap_usd`), i.e. what settlement would
// use if the contract expired now.

import { dollars, usdText } from './codec.js';
import { getStatus, loadMarkets } from './data.js';
import { clear, countdown, duration, errorBox, h, isoTime, light, link, table } from './dom.js';
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
      'Prices in USD per quoted unit (per 1M output tokens, or per H100-hour). Index = the lower median of a quorum of ',
      'members\' fresh observations (stale: no fresh quorum; the last good price stands). ',
      'TWAP = the ledger\'s time-weighted index average over the settlement window\'s length ending at the last block time.'),
  );
  const countdowns = [];
  const tick = setInterval(() => { for (const [el, expiry] of countdowns) el.textContent = countdown(expiry - Date.now()); }, 1000);

  const stop = every(3000, async () => {
    let markets; let status;
    try {
      [markets, status] = await Promise.all([loadMarkets(), getStatus()]);
    } catch (e) {
      clear(prices).append(errorBox(e));
      tc().errors.push(e.message);
      return;
    }
    head.textContent = `height ${status.height} · block time ${isoTime(status.time)} · ${markets.list.length} contracts`;
    countdowns.length = 0;
    const rows = markets.list.map((m) => ({ m }));
    const price = (usd) => h('span', { class: 'num' }, usdText(usd));
    const indexCell = ({ m }) => {
      if (m.index_price_usd === null) return h('span', { class: 'muted' }, 'no price yet');
      return h('span', {},
        h('span', { class: 'num' }, usdText(m.index_price_usd)), ' ',
        h('span', { class: m.index_fresh ? 'tag ok' : 'tag warn', title: m.index_name ?? '' }, m.index_fresh ? 'fresh' : 'stale'));
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
      { label: 'TWAP', class: 'r', value: ({ m }) => h('span', { title: `over ${duration(m.settlement_window_ms)} to the last block` }, m.index_twap_usd === null ? '—' : h('span', { class: 'num' }, usdText(m.index_twap_usd))) },
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
    Object.assign(tc(), { ready: true, markets: rows.map(({ m }) => ({ symbol: m.symbol, mark: m.mark, index: m.index_price_usd, twap: m.index_twap_usd })) });
  });
  return () => { stop(); clearInterval(tick); };
}
