// codec.test.mjs — console/codec.js: the reader's refusals and the exact USD formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader, fromHex, microUsd, ticksToUsd, toHex, usdText } from '../codec.js';

test('the reader reads the fixed-width layout and refuses what the node refuses', () => {
  const r = new Reader('0100000002000000000000000301ffffffffffffffffffffffffffffffff', 'x');
  assert.equal(r.u32(), 1);
  assert.equal(r.u64(), 2n);
  assert.equal(r.u8(), 3);
  assert.equal(r.bool(), true);
  assert.equal(r.i128(), -1n);
  r.finish();
  assert.throws(() => new Reader('02').bool(), /bool tag/);
  assert.throws(() => new Reader('02').option(() => 0), /option tag/);
  assert.throws(() => new Reader('0100').u32(), /ends early/);
  assert.throws(() => new Reader('ff00000000000000').vec(() => 0), /exceeds/);
  assert.throws(() => new Reader('0000').finish(), /trailing/);
  assert.throws(() => new Reader('0200000000000000c328').string(), /UTF-8/);
  assert.throws(() => fromHex('abc'), /not hex/);
  assert.equal(toHex(fromHex('00ff10')), '00ff10');
});

test('micro-USD formats exactly, rounding half up', () => {
  assert.equal(microUsd(10_000_619_414_600n, 6), '10,000,619.414600');
  assert.equal(microUsd('10000619414600'), '10,000,619.41');
  assert.equal(microUsd(-1_234_567n), '-1.23');
  assert.equal(microUsd(-1_235_000n), '-1.24');
  assert.equal(microUsd(4_999n, 2), '0.00');
  assert.equal(microUsd(5_000n, 2), '0.01');
  assert.equal(microUsd(null), '—');
  assert.equal(usdText('1234567.5'), '1,234,567.50');
  assert.equal(usdText('0.010000'), '0.01');
  assert.equal(usdText('2.505'), '2.505');
  assert.equal(usdText('-3'), '-3.00');
});

test('ticks show with the tick size\'s decimals', () => {
  assert.equal(ticksToUsd(1250, '10000'), '12.50'); // $0.01 ticks
  assert.equal(ticksToUsd(255, '1000'), '0.255'); // $0.001 ticks
  assert.equal(ticksToUsd(7, '1'), '0.000007');
});
