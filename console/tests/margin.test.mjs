// margin.test.mjs — console/margin.js: P&L, equity and the ledger's portfolio margin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accountRisk, bpsCeil, equity, initialMargin, maintenanceMargin, pnl } from '../margin.js';

const market = (id, index, mark, ltv, im = 1000, mm = 500) => ({ id, index, mark: String(mark), lot_tick_value: String(ltv), params: { initial_margin_bps: im, maintenance_margin_bps: mm } });
const pos = (market, qty, cost, open_buy = 0, open_sell = 0) => ({ market, position: { qty: String(qty), cost: String(cost), open_buy: String(open_buy), open_sell: String(open_sell) } });
const risk = { calendar_spread_charge_bps: 0, cross_index_credit_bps: 0 };

test('P&L is qty × mark × lot tick value − cost, in micro-USD', () => {
  const m = market(1, 1, 1250, 10_000);
  assert.equal(pnl(pos(1, 13, 10_970_000_000).position, m), 13n * 1250n * 10_000n - 10_970_000_000n);
  assert.equal(pnl(pos(1, -2, -30_000_000).position, m), -2n * 1250n * 10_000n + 30_000_000n);
  const byId = new Map([[1, m]]);
  assert.equal(equity('1000', [pos(1, 1, 12_000_000)], byId), 1000n + 12_500_000n - 12_000_000n);
});

test('bpsCeil rounds up without overflowing the product', () => {
  assert.equal(bpsCeil(10_001n, 1n), 2n);
  assert.equal(bpsCeil(10_000n, 1n), 1n);
  assert.equal(bpsCeil(0n, 500n), 0n);
  assert.equal(bpsCeil(123_456_789n, 250n), 3_086_420n); // 3,086,419.725 → up
});

test('one position alone costs its flat margin; open orders count for initial margin', () => {
  const m = market(1, 1, 1000, 100, 1000, 500);
  const byId = new Map([[1, m]]);
  // 10 lots × 1000 ticks × 100 = 1,000,000 notional; 10 % = 100,000; 5 % = 50,000.
  assert.equal(initialMargin([pos(1, 10, 0)], byId, risk), 100_000n);
  assert.equal(maintenanceMargin([pos(1, 10, 0)], byId, risk), 50_000n);
  // Long 10 with 5 more to buy and 20 to sell: worst |10 + 5| vs |10 − 20| → 15 lots.
  assert.equal(initialMargin([pos(1, 10, 0, 5, 20)], byId, risk), 150_000n);
  assert.equal(initialMargin([pos(1, -3, 0, 0, 0)], byId, risk), 30_000n);
});

test('two expiries of one index net in the scan; the spread charge adds back a share', () => {
  const byId = new Map([[1, market(1, 1, 1000, 100)], [2, market(2, 1, 1000, 100)], [3, market(3, 2, 1000, 100)]]);
  // Long one month, short the other, same size: the scan nets to 0.
  assert.equal(initialMargin([pos(1, 10, 0), pos(2, -10, 0)], byId, risk), 0n);
  // With a 30 % spread charge: min(L, S) = 10 × 1000 × 100 × 1000 (carries the 10,000 factor) → 30 % of 100,000.
  assert.equal(initialMargin([pos(1, 10, 0), pos(2, -10, 0)], byId, { calendar_spread_charge_bps: 3000, cross_index_credit_bps: 0 }), 30_000n);
  // Different indexes do not net: 100,000 + 100,000.
  assert.equal(initialMargin([pos(1, 10, 0), pos(3, -10, 0)], byId, risk), 200_000n);
  // Cross-index credit of 50 % on opposite worst moves forgives half the smaller loss.
  assert.equal(initialMargin([pos(1, 10, 0), pos(3, -10, 0)], byId, { calendar_spread_charge_bps: 0, cross_index_credit_bps: 5000 }), 150_000n);
  // Same index, same direction: losses add up (the extreme move at 35 % × 2 = 70 % < 100 %).
  assert.equal(initialMargin([pos(1, 10, 0), pos(2, 10, 0)], byId, risk), 200_000n);
});

test('accountRisk: equity, used, available', () => {
  const byId = new Map([[1, market(1, 1, 1000, 100)]]);
  const r = accountRisk({ cash: '1000000', positions: [pos(1, 10, 900_000)] }, byId, risk);
  assert.equal(r.equity, 1_000_000n + 1_000_000n - 900_000n);
  assert.equal(r.initial, 100_000n);
  assert.equal(r.available, r.equity - 100_000n);
  assert.equal(r.maintenance, 50_000n);
});
