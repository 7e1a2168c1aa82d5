// view-market.js — one market: live L2 ladder, trades tape, depth chart, price chart, settlement.
//
// Data:
// - the ladder: the sequenced book feed `ws /v1/stream/markets/{symbol}?level=2`, kept by
//   console/book.js (snapshot, seq + 1 updates, `since=` resume on a gap or a disconnect,
//   resync, closed). Messages are applied as they arrive; the page renders at most once per
//   animation frame (requestAnimationFrame), touching only the cells whose text changed, and
//   redraws the depth chart at most 10 times a second;
// - the tape: `GET /v1/markets/{symbol}/trades` once, then the `trades` each book update carries;
// - the summary: `GET /v1/markets` (mark, index price and freshness, open interest, terms) and
//   `GET /v1/status` (height, block time) every 2 s; best bid and ask from the live ladder;
// - the price chart (x = block height): mark and index from those polls (accumulated while the
//   page is open: the API keeps no history of them), trades as dots;
// - the settlement window: the market's expiry and settlement_window_ms against the last block
//   time; while open, `settlement_twap_usd` (the ledger's TWAP since the window opened).
// Test handle: window.tokenbookConsole.book = the feed's counters (updatesApplied, lastSeq,
// framesRendered, maxApplyLagMs, maxRenderLagMs, gaps, reconnects, …), `.tape` = trades shown,
// `.firstLadderMs` = ms from mounting to the first ladder drawn with data.

import { getJson, wsUrl } from './api.js';
import { BookFeed } from './book.js';
import { drawDepth, drawSeries } from './charts.js';
import { dollars, microUsd, ticksToUsd, usdText } from './codec.js';
import { getStatus, loadMarkets } from './data.js';
import { clear, countdown, duration, errorBox, h, isoTime, light, link } from './dom.js';
import { every, marketStatusClass, tc } from './view-common.js';

export const NAME = 'market';
const LEVELS = 15;
const TAPE = 60;
const HISTORY = 2000;

export function mount(root, { symbol }) {
  const mountedAt = performance.now();
  let market = null; // last /v1/markets entry
  let blockTime = null;
  const tickUsd = (ticks) => (market ? ticksToUsd(ticks, market.tick_size) : String(ticks));
  const tickFloat = (ticks) => (market ? (ticks * Number(market.tick_size)) / 1e6 : ticks);
  /** The mid of two prices given as their sum in ticks, in USD (exact: half a tick at most). */
  const midUsd = (sum) => {
    if (!market) return `${sum / 2} ticks`;
    if (sum % 2 === 0) return tickUsd(sum / 2);
    const twice = BigInt(sum) * BigInt(market.tick_size); // twice the mid, micro-USD
    return `${microUsd(twice / 2n, 6)}${twice % 2n === 0n ? '' : '5'}`.replace(/(\.\d\d\d*?)0+$/, '$1');
  };

  // ---- layout
  const status = h('span', { class: 'feed-status' }, 'connecting');
  const bestBidEl = h('span', { class: 'num' }, '—');
  const bestAskEl = h('span', { class: 'num' }, '—');
  const counters = h('span', { class: 'muted small' });
  const summary = h('div', { class: 'summary' });
  const settlement = h('div', { class: 'settlement' });
  const ladderBody = h('tbody');
  const ladder = h('table', { class: 'ladder' },
    h('thead', {}, h('tr', {}, h('th', {}, 'orders'), h('th', { class: 'r' }, 'lots'), h('th', { class: 'r' }, 'price (USD)'), h('th', { class: 'r' }, 'cum. lots'))),
    ladderBody);
  const depth = h('canvas', { class: 'chart', width: 520, height: 200 });
  const chart = h('canvas', { class: 'chart', width: 520, height: 220 });
  const tapeBody = h('tbody');
  const tape = h('table', { class: 'grid tape' },
    h('thead', {}, h('tr', {}, h('th', {}, 'height'), h('th', {}, 'taker'), h('th', { class: 'r' }, 'price'), h('th', { class: 'r' }, 'lots'), h('th', {}, 'maker → taker'))),
    tapeBody);
  root.append(
    h('h1', {}, link('#/markets', 'Markets'), ' / ', symbol, ' ', status),
    summary, settlement,
    h('div', { class: 'market-grid' },
      h('section', { class: 'panel' }, h('h2', {}, 'Order book (L2) ', counters), ladder),
      h('section', { class: 'panel' }, h('h2', {}, 'Depth'), depth, h('h2', {}, 'Price: index, mark, trades (x = block height)'), chart,
        h('p', { class: 'note' }, 'Trades from the last 1,000 heights; mark and index are sampled every 2 s while this page is open (the API keeps no history of them).')),
      h('section', { class: 'panel' }, h('h2', {}, 'Trades'), tape)),
  );

  // ---- the ladder: rows made once, cells rewritten only when their text changes
  const makeRow = (cls) => {
    const cells = [h('td', { class: 'muted' }), h('td', { class: 'r num' }), h('td', { class: `r num ${cls}` }), h('td', { class: 'r num bar-cell' })];
    const bar = h('div', { class: `bar ${cls}` });
    cells[3].prepend(bar);
    const label = document.createTextNode('');
    cells[3].append(label);
    const tr = h('tr', {}, cells);
    return { tr, cells, bar, label, text: ['', '', '', ''], width: '' };
  };
  const askRows = Array.from({ length: LEVELS }, () => makeRow('ask'));
  const bidRows = Array.from({ length: LEVELS }, () => makeRow('bid'));
  const spread = h('td', { colspan: 4, class: 'spread' }, '');
  for (const r of askRows) ladderBody.append(r.tr);
  ladderBody.append(h('tr', {}, spread));
  for (const r of bidRows) ladderBody.append(r.tr);

  const setRow = (row, level, cum, maxCum) => {
    const text = level ? [String(level.orders), String(level.qty), level.price_usd ? usdText(level.price_usd) : tickUsd(level.price), String(cum)] : ['', '', '', ''];
    for (let i = 0; i < 3; i++) if (row.text[i] !== text[i]) { row.cells[i].textContent = text[i]; row.text[i] = text[i]; }
    if (row.text[3] !== text[3]) { row.label.nodeValue = text[3]; row.text[3] = text[3]; }
    const width = level ? `${Math.round((cum / maxCum) * 100)}%` : '0%';
    if (row.width !== width) { row.bar.style.width = width; row.width = width; }
  };

  // ---- state
  const trades = []; // newest last
  const seen = new Set();
  const marks = []; const indexPoints = [];
  let tapeDirty = true; let chartDirty = true;
  let frame = 0; let dirtySince = null; let lastDepth = 0; let lastTape = 0;
  let feed = null;

  const addTrades = (list) => {
    for (const t of list) {
      const key = `${t.height}:${t.maker_order}:${t.taker_order}:${t.qty}:${t.price}`;
      if (seen.has(key)) continue;
      seen.add(key);
      trades.push(t);
    }
    if (trades.length > HISTORY) trades.splice(0, trades.length - HISTORY);
    tapeDirty = chartDirty = true;
  };

  const render = () => {
    frame = 0;
    const now = performance.now();
    const book = feed.book;
    const asks = book.asks.top(LEVELS);
    const bids = book.bids.top(LEVELS);
    let cum = 0; const askCum = asks.map((l) => (cum += l.qty));
    cum = 0; const bidCum = bids.map((l) => (cum += l.qty));
    const maxCum = Math.max(askCum.at(-1) ?? 0, bidCum.at(-1) ?? 0, 1);
    // Asks: worst at the top, best just above the spread.
    for (let i = 0; i < LEVELS; i++) {
      const k = LEVELS - 1 - i;
      setRow(askRows[i], asks[k], askCum[k], maxCum);
      setRow(bidRows[i], bids[i], bidCum[i], maxCum);
    }
    const bb = bids[0]; const ba = asks[0];
    const bestBid = bb ? tickUsd(bb.price) : '—'; const bestAsk = ba ? tickUsd(ba.price) : '—';
    if (bestBidEl.textContent !== bestBid) bestBidEl.textContent = bestBid;
    if (bestAskEl.textContent !== bestAsk) bestAskEl.textContent = bestAsk;
    const spreadText = bb && ba ? `spread ${ba.price - bb.price} tick${ba.price - bb.price === 1 ? '' : 's'} · mid ${midUsd(ba.price + bb.price)}` : 'one-sided book';
    if (spread.textContent !== spreadText) spread.textContent = spreadText;
    const s = feed.stats;
    counters.textContent = `seq ${s.lastSeq ?? '—'} · height ${s.lastHeight ?? '—'} · ${s.updatesApplied} updates · ${book.bids.size}/${book.asks.size} levels`;
    if (now - lastDepth > 100) {
      lastDepth = now;
      drawDepth(depth, book.bids.top(200), book.asks.top(200), { priceText: tickUsd });
    }
    if (tapeDirty && now - lastTape > 200) { lastTape = now; renderTape(); } else if (tapeDirty && !chartTimer) chartTimer = setTimeout(() => { chartTimer = null; schedule(); }, 200);
    if (chartDirty && market) {
      if (now - lastChart >= 500) renderChart();
      else if (!chartTimer) chartTimer = setTimeout(() => { chartTimer = null; schedule(); }, 500);
    }
    s.framesRendered++;
    if (dirtySince !== null) s.maxRenderLagMs = Math.max(s.maxRenderLagMs, now - dirtySince);
    dirtySince = null;
    if (tc().firstLadderMs === undefined && s.lastSeq !== null) {
      tc().firstLadderMs = Math.round(now - mountedAt);
      tc().ready = true;
    }
  };
  const schedule = () => {
    if (dirtySince === null) dirtySince = performance.now();
    if (!frame) frame = requestAnimationFrame(render);
  };

  const renderTape = () => {
    tapeDirty = false;
    clear(tapeBody);
    const shown = trades.slice(-TAPE).reverse();
    if (!shown.length) tapeBody.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'no trades in the last 1,000 heights')));
    for (const t of shown) {
      tapeBody.append(h('tr', {},
        h('td', {}, link(`#/block/${t.height}`, String(t.height))),
        h('td', { class: t.taker_side === 'buy' ? 'bid' : 'ask' }, t.taker_side),
        h('td', { class: 'r num' }, t.price_usd ? usdText(t.price_usd) : tickUsd(Number(t.price))),
        h('td', { class: 'r num' }, t.qty),
        h('td', { class: 'small' }, link(`#/account/${t.maker}`, String(t.maker)), ' → ', link(`#/account/${t.taker}`, String(t.taker)))));
    }
    tc().tape = { count: trades.length, last: trades.at(-1) ?? null };
  };

  let lastChart = 0; let chartTimer = null;
  const renderChart = () => {
    lastChart = performance.now();
    chartDirty = false;
    drawSeries(chart, [
      { name: 'index', color: '#d6a93b', kind: 'line', points: indexPoints },
      { name: 'mark', color: '#5b8def', kind: 'line', points: marks },
      { name: 'trades', color: '#c9d1e0', kind: 'dots', points: trades.map((t) => ({ x: t.height, y: tickFloat(Number(t.price)) })) },
    ], { xText: (x) => String(Math.round(x)), yText: (y) => y.toFixed(y < 10 ? 3 : 2) });
  };

  // ---- the feed
  feed = new BookFeed({
    url: (since) => wsUrl(`/v1/stream/markets/${symbol}?level=2${since === null ? '' : `&since=${since}`}`),
    onChange: (result, msg) => {
      if (result.kind === 'applied' && result.trades.length) addTrades(result.trades);
      if (result.kind === 'snapshot' && feed.stats.snapshots > 1) refetchTrades();
      if (msg.height && market) chartDirty = true;
      schedule();
    },
    onStatus: (text) => { status.textContent = text; status.className = `feed-status ${text === 'live' ? 'ok' : /closed|error|gap|disconnected/.test(text) ? 'warn' : ''}`; },
  }).start();
  tc().book = feed.stats;

  const refetchTrades = async () => {
    try { addTrades((await getJson(`/v1/markets/${symbol}/trades`)).trades); schedule(); } catch (e) { tc().errors.push(e.message); }
  };
  refetchTrades();

  // ---- summary, settlement window and the price series, every 2 s
  const summaryCountdown = h('span', { class: 'num' });
  const stopPoll = every(2000, async () => {
    let markets; let status;
    try {
      [markets, status] = await Promise.all([loadMarkets(), getStatus()]);
    } catch (e) {
      clear(summary).append(errorBox(e));
      return;
    }
    market = markets.bySymbol.get(symbol);
    if (!market) { clear(summary).append(errorBox({ message: `no market ${symbol}` })); return; }
    blockTime = status.time;
    const height = status.height;
    marks.push({ x: height, y: Number(market.mark_usd) });
    if (market.index_price_usd !== null) indexPoints.push({ x: height, y: Number(market.index_price_usd) });
    for (const list of [marks, indexPoints]) if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
    chartDirty = true;
    schedule();

    const item = (label, value, cls = '') => h('div', { class: 'item' }, h('div', { class: 'label' }, label), h('div', { class: `value ${cls}` }, value));
    summaryCountdown.textContent = countdown(market.expiry - Date.now());
    clear(summary).append(
      item('status', h('span', {}, light(marketStatusClass(market.status)), ' ', market.status)),
      item('mark', `${dollars(market.mark_usd)}`),
      item('index', market.index_price_usd !== null ? `${dollars(market.index_price_usd)}${market.index_fresh ? '' : ' (stale)'}` : '—'),
      item('best bid', bestBidEl, 'bid'),
      item('best ask', bestAskEl, 'ask'),
      item('open interest', `${market.open_interest} lots`),
      item('expires in', summaryCountdown),
      item('tick / lot tick value', `${dollars(market.tick_size_usd)} / ${dollars(market.lot_tick_value_usd)}`),
    );
    renderSettlement();
  });
  const tick = setInterval(() => { if (market) summaryCountdown.textContent = countdown(market.expiry - Date.now()); }, 1000);

  const renderSettlement = () => {
    const start = market.expiry - market.settlement_window_ms;
    clear(settlement);
    if (market.status === 'settled') {
      settlement.append(h('div', { class: 'notice' }, `Settled at expiry ${isoTime(market.expiry)}; final mark ${dollars(market.mark_usd)}.`));
    } else if (blockTime >= start || market.status === 'settling') {
      const twap = market.settlement_twap_usd;
      const done = Math.min(1, Math.max(0, (blockTime - start) / market.settlement_window_ms));
      settlement.append(h('div', { class: 'notice open' },
        h('strong', {}, 'Settlement window open'), ` — ${isoTime(start)} → ${isoTime(market.expiry)} (${duration(market.settlement_window_ms)}), `,
        `${Math.round(done * 100)} % elapsed; index TWAP so far: ${twap === null ? '— (no checkpoint in the window yet)' : dollars(twap)}`,
        h('div', { class: 'progress' }, h('div', { style: { width: `${done * 100}%` } }))));
    } else {
      settlement.append(h('div', { class: 'muted small' }, `Settlement window (${duration(market.settlement_window_ms)} of index TWAP) opens ${isoTime(start)}, in ${countdown(start - blockTime)}.`));
    }
  };

  return () => {
    feed.stop();
    stopPoll();
    clearInterval(tick);
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(chartTimer);
  };
}
