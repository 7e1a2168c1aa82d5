// network.test.mjs — console/network.js: Prometheus text, block intervals, state-root verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonHeight, intervalBetween, meanInterval, parseMetrics, rootVerdict } from '../network.js';

const text = (height, round, sum, count) => `# HELP tokenbook_height Last committed height.
# TYPE tokenbook_height gauge
tokenbook_height ${height}
tokenbook_round ${round}
tokenbook_peers 3
tokenbook_block_interval_seconds_sum ${sum}
tokenbook_block_interval_seconds_count ${count}
tokenbook_block_interval_seconds_bucket{le="0.01"} 0
tokenbook_block_interval_seconds_bucket{le="+Inf"} ${count}
# EOF
`;

test('parseMetrics reads gauges and histogram parts', () => {
  const m = parseMetrics(text(120, 2, 6.5, 100));
  assert.equal(m.tokenbook_height, 120);
  assert.equal(m.tokenbook_round, 2);
  assert.equal(m['tokenbook_block_interval_seconds_bucket{le="+Inf"}'], 100);
  assert.equal(meanInterval(m), 0.065);
});

test('intervalBetween is the mean over the commits between two scrapes', () => {
  const a = parseMetrics(text(100, 0, 5, 100));
  const b = parseMetrics(text(110, 0, 5.5, 110));
  assert.ok(Math.abs(intervalBetween(a, b) - 0.05) < 1e-12);
  assert.equal(intervalBetween(b, b), null);
  assert.equal(intervalBetween(null, b), null);
});

test('the common height is the lowest a reachable node answered', () => {
  assert.equal(commonHeight([{ reachable: true, height: 10 }, { reachable: true, height: 8 }, { reachable: false }]), 8);
  assert.equal(commonHeight([{ reachable: false }]), null);
});

test('rootVerdict: agreement, a dissenting node named with the height, unreachable nodes', () => {
  const nodes = [
    { url: 'a', reachable: true, root: 'aa'.repeat(32) },
    { url: 'b', reachable: true, root: 'aa'.repeat(32) },
    { url: 'c', reachable: true, root: 'bb'.repeat(32) },
    { url: 'd', reachable: false, error: 'timeout' },
  ];
  const v = rootVerdict(nodes, 42);
  assert.deepEqual(v.map((x) => x.verdict), ['match', 'match', 'mismatch', 'unreachable']);
  assert.match(v[2].detail, /height 42/);
  assert.deepEqual(rootVerdict(nodes.slice(0, 2), 42).map((x) => x.verdict), ['match', 'match']);
  assert.equal(rootVerdict([nodes[0]], 42)[0].verdict, 'alone');
  // Two against two: nobody is the majority, so all are flagged.
  const split = rootVerdict([nodes[0], nodes[1], nodes[2], { ...nodes[2], url: 'e' }], 7);
  assert.deepEqual(split.map((x) => x.verdict), ['mismatch', 'mismatch', 'mismatch', 'mismatch']);
});
