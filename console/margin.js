// margin.js — an account's unrealised P&L, equity and margins at the marks, in exact integers.
//
// Promises (node/ledger/src/margin.rs, docs/api.md "Pre-checking an order"):
// - `pnl(position, market)` = qty × mark × lot_tick_value − cost, micro-USD (BigInt);
// - `equity` = cash + Σ pnl at the marks;
// - `initialMargin` / `maintenanceMargin` follow the ledger's portfolio rule: per index, a scan
//   of the legs moving together by −1…+1 scan ranges in thirds (and ±2 at 35 %), the worst loss
//   rounded up, plus the inter-month spread charge, minus the cross-index credit; for initial
//   margin a leg's exposure is position + open buys or position − open sells (whichever loses
//   more), for maintenance the position alone. One leg alone gives the flat margin
//   ⌈|q| × mark × lot_tick_value × bps / 10,000⌉.
// - These are computed in the browser from the last committed marks and the market parameters
//   the API publishes; the node does not publish an account's margin, so the console labels them
//   as its own computation at the mark.
// Inputs: positions as the API gives them ({market, position: {qty, cost, open_buy, open_sell}}),
// markets by id from /v1/markets, risk parameters from /v1/clearing.

const B = (v) => (typeof v === 'bigint' ? v : BigInt(v ?? 0));
const abs = (v) => (v < 0n ? -v : v);
const max = (a, b) => (a > b ? a : b);
const min = (a, b) => (a < b ? a : b);
const sign = (v) => (v > 0n ? 1n : v < 0n ? -1n : 0n);
/** ⌈a / b⌉ for a ≥ 0, b > 0. */
const ceilDiv = (a, b) => a / b + (a % b !== 0n ? 1n : 0n);
const euclid = (a, b) => { const r = a % b; return r < 0n ? r + b : r; };

/** `value × bps / 10,000` rounded toward +∞ (margin.rs `bps_ceil`). */
export function bpsCeil(value, bps) {
  const part = euclid(value, 10_000n);
  const whole = (value - part) / 10_000n;
  const tail = part * bps;
  const tailPart = euclid(tail, 10_000n);
  return whole * bps + (tail - tailPart) / 10_000n + (tailPart !== 0n ? 1n : 0n);
}

const norm = (p) => ({
  qty: B(p.qty), cost: B(p.cost), open_buy: B(p.open_buy), open_sell: B(p.open_sell),
});

/** Unrealised P&L of a position at the market's mark (micro-USD). */
export function pnl(position, market) {
  const p = norm(position);
  return p.qty * B(market.mark) * B(market.lot_tick_value) - p.cost;
}

/** Equity: cash + Σ unrealised P&L at the marks (positions in markets unknown count 0). */
export function equity(cash, positions, marketsById) {
  let total = B(cash);
  for (const { market, position } of positions) {
    const m = marketsById.get(market);
    if (m) total += pnl(position, m);
  }
  return total;
}

const EXTREME_COVER_PCT = 35n;
const SCENARIOS = [[-3n, 100n], [-2n, 100n], [-1n, 100n], [0n, 100n], [1n, 100n], [2n, 100n], [3n, 100n], [-6n, EXTREME_COVER_PCT], [6n, EXTREME_COVER_PCT]];
const SCALE = 3n * 10_000n * 100n;

const range = (m, bps) => B(m.mark) * B(m.lot_tick_value) * B(bps);

function worstSigned(p) {
  const long = p.qty + p.open_buy;
  const short = p.qty - p.open_sell;
  if (abs(long) > abs(short)) return long;
  if (abs(long) < abs(short)) return short;
  return long === short ? long : 0n;
}

function legs(positions, marketsById, kind) {
  const out = [];
  for (const { market, position } of positions) {
    const m = marketsById.get(market);
    if (!m) continue;
    const p = norm(position);
    if (kind === 'initial') {
      out.push({ index: m.index, low: p.qty - p.open_sell, high: p.qty + p.open_buy, range: range(m, m.params.initial_margin_bps), side: worstSigned(p) });
    } else {
      out.push({ index: m.index, low: p.qty, high: p.qty, range: range(m, m.params.maintenance_margin_bps), side: p.qty });
    }
  }
  return out;
}

const legLoss = (leg, weighted) => { const perLot = weighted * leg.range; return max(-leg.low * perLot, -leg.high * perLot); };

function scan(group) {
  let worst = [0n, 0n, 0n];
  for (const [thirds, pct] of SCENARIOS) {
    const loss = group.reduce((s, leg) => s + legLoss(leg, thirds * pct), 0n);
    if (loss > worst[0]) worst = [loss, sign(thirds), thirds];
    else if (loss === worst[0] && loss > 0n && sign(thirds) !== worst[1]) worst[1] = 0n;
  }
  return [ceilDiv(worst[0], SCALE), worst[1], worst[2]];
}

function exposureIn(leg, thirds) {
  const s = sign(thirds);
  return s === 0n ? leg.side : s > 0n ? leg.low : leg.high;
}

function spreadCharge(group, thirds, chargeBps) {
  let long = 0n; let short = 0n;
  for (const leg of group) {
    const e = exposureIn(leg, thirds);
    const value = abs(e) * leg.range;
    if (e > 0n) long += value; else short += value;
  }
  return ceilDiv(bpsCeil(min(long, short), chargeBps), 10_000n);
}

function crossCredit(scans, bps) {
  if (bps === 0n || scans.length < 2) return 0n;
  let credit = 0n;
  for (let i = 0; i < scans.length; i++) {
    for (let j = i + 1; j < scans.length; j++) {
      if (scans[i][1] * scans[j][1] !== -1n) continue;
      const both = min(scans[i][0], scans[j][0]);
      credit += (both * bps) / 10_000n;
      scans[i][0] -= both;
      scans[j][0] -= both;
    }
  }
  return credit;
}

function portfolio(all, risk) {
  if (all.length === 0) return 0n;
  if (all.length === 1) {
    const leg = all[0];
    return ceilDiv(max(abs(leg.low), abs(leg.high)) * leg.range, 10_000n);
  }
  all.sort((a, b) => a.index - b.index);
  const chargeBps = min(B(risk?.calendar_spread_charge_bps ?? 0), 10_000n);
  const scans = [];
  let total = 0n;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].index === all[i].index) j++;
    const group = all.slice(i, j);
    const [loss, direction, thirds] = scan(group);
    total += loss + spreadCharge(group, thirds, chargeBps);
    scans.push([loss, direction]);
    i = j;
  }
  return total - crossCredit(scans, min(B(risk?.cross_index_credit_bps ?? 0), 10_000n));
}

/** Initial margin of the positions and their open orders at the marks (micro-USD). */
export function initialMargin(positions, marketsById, risk) {
  return portfolio(legs(positions, marketsById, 'initial'), risk);
}

/** Maintenance margin of the positions at the marks (micro-USD). */
export function maintenanceMargin(positions, marketsById, risk) {
  return portfolio(legs(positions, marketsById, 'maintenance'), risk);
}

/** Everything the account view shows, in micro-USD. */
export function accountRisk(account, marketsById, risk) {
  const eq = equity(account.cash, account.positions, marketsById);
  const im = initialMargin(account.positions, marketsById, risk);
  const mm = maintenanceMargin(account.positions, marketsById, risk);
  return { equity: eq, initial: im, maintenance: mm, available: eq - im, excessOverMaintenance: eq - mm };
}
