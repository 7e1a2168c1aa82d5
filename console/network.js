// network.js — the network view's pure logic: Prometheus text, block intervals, root agreement.
//
// Promises:
// - `parseMetrics(text)` reads Prometheus text exposition into {name → number} for plain
//   samples (labels kept in the name, e.g. `x_bucket{le="0.5"}`), ignoring comments; the
//   node's metrics are docs/api.md's (`tokenbook_height`, `tokenbook_round`, `tokenbook_peers`,
//   histogram `tokenbook_block_interval_seconds` with `_sum` and `_count`).
// - `intervalBetween(prev, next)` is the mean block interval (s) over the commits between two
//   scrapes of the same node, from the histogram's sum and count (null if none committed).
// - `rootVerdict(nodes)` takes each node's {url, reachable, height, root (at the common height)}
//   and decides: the common height is the lowest height every reachable node answered; nodes
//   whose root differs from the majority's are "mismatch" (named with the height), unreachable
//   nodes "unreachable", the rest "match". With one node there is nothing to compare.

export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    // name{labels} value [timestamp]
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/);
    if (!m) continue;
    const v = m[2] === '+Inf' ? Infinity : m[2] === '-Inf' ? -Infinity : Number(m[2]);
    if (!Number.isNaN(v)) out[m[1]] = v;
  }
  return out;
}

const SUM = 'tokenbook_block_interval_seconds_sum';
const COUNT = 'tokenbook_block_interval_seconds_count';

/** Mean block interval (seconds) between two scrapes of one node, or null. */
export function intervalBetween(prev, next) {
  if (!prev || !next || !(COUNT in prev) || !(COUNT in next)) return null;
  const n = next[COUNT] - prev[COUNT];
  if (n <= 0) return null;
  return (next[SUM] - prev[SUM]) / n;
}

/** Mean block interval (seconds) over a node's life, or null. */
export function meanInterval(metrics) {
  return metrics && metrics[COUNT] > 0 ? metrics[SUM] / metrics[COUNT] : null;
}

/** The lowest height every reachable node has committed (null if none reachable). */
export function commonHeight(nodes) {
  const heights = nodes.filter((n) => n.reachable && Number.isInteger(n.height)).map((n) => n.height);
  return heights.length ? Math.min(...heights) : null;
}

/**
 * Per node: {verdict: 'match' | 'mismatch' | 'unreachable' | 'unknown' | 'alone', detail}.
 * `nodes`: [{url, reachable, root (hex at `height`) or null}], `height`: the common height.
 */
export function rootVerdict(nodes, height) {
  const roots = nodes.filter((n) => n.reachable && n.root).map((n) => n.root);
  const counts = new Map();
  for (const r of roots) counts.set(r, (counts.get(r) ?? 0) + 1);
  let majority = null; let best = 0; let tie = false;
  for (const [r, c] of counts) {
    if (c > best) { majority = r; best = c; tie = false; } else if (c === best) tie = true;
  }
  return nodes.map((n) => {
    if (!n.reachable) return { verdict: 'unreachable', detail: n.error ?? 'no answer' };
    if (!n.root) return { verdict: 'unknown', detail: `no state root at height ${height}` };
    if (roots.length < 2) return { verdict: 'alone', detail: `root at ${height}: ${n.root.slice(0, 16)}… (no other node to compare)` };
    if (counts.size === 1) return { verdict: 'match', detail: `all ${roots.length} roots agree at height ${height}` };
    if (tie || n.root !== majority) {
      return { verdict: 'mismatch', detail: `state root differs at height ${height}: ${n.root.slice(0, 16)}…${tie ? ' (no majority)' : ` vs ${majority.slice(0, 16)}…`}` };
    }
    return { verdict: 'match', detail: `agrees with ${best - 1} of ${roots.length - 1} other nodes at height ${height}` };
  });
}
