// book.test.mjs — console/book.js: the L2 book, the feed's sequence rules (apply seq + 1, ignore
// duplicates, gap → resume with since, node restart → snapshot, resync, closed), and BookFeed's
// reconnects against a fake WebSocket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BookFeed, BookSync, L2Book } from '../book.js';

const lvl = (price, qty, orders = 1) => ({ price: String(price), qty: String(qty), orders, price_usd: null });
const snapshot = (seq, height, bids, asks) => ({ type: 'snapshot', market: 'X', level: 2, height, seq, bids, asks });
const update = (seq, height, { bids = [], asks = [], trades = [] } = {}) => ({ type: 'update', market: 'X', level: 2, height, seq, bids, asks, trades });

test('L2Book keeps both sides sorted, best first, and removes qty 0', () => {
  const b = new L2Book();
  b.load(snapshot(1, 10, [lvl(100, 5), lvl(99, 3)], [lvl(101, 2), lvl(103, 7)]));
  b.apply(update(2, 11, { bids: [lvl(100, 0), lvl(98, 4), lvl(99, 6)], asks: [lvl(102, 1)] }));
  assert.deepEqual(b.bids.top(10).map((l) => [l.price, l.qty]), [[99, 6], [98, 4]]);
  assert.deepEqual(b.asks.top(2).map((l) => l.price), [101, 102]);
  assert.equal(b.bids.best().price, 99);
  assert.equal(b.asks.size, 3);
  b.apply(update(3, 12, { asks: [lvl(101, 0), lvl(102, 0), lvl(103, 0)] }));
  assert.equal(b.asks.best(), null);
  // Removing a level that is not there changes nothing.
  b.apply(update(4, 13, { bids: [lvl(50, 0)] }));
  assert.equal(b.bids.size, 2);
});

test('BookSync applies seq + 1, skips duplicates, reports gaps', () => {
  const s = new BookSync();
  assert.equal(s.handle(update(5, 9)).kind, 'ignored', 'no update before a snapshot');
  assert.equal(s.handle(snapshot(5, 10, [lvl(100, 1)], [])).kind, 'snapshot');
  const r = s.handle(update(6, 11, { bids: [lvl(100, 3)], trades: [{ height: 11, price: '100', qty: '1' }] }));
  assert.equal(r.kind, 'applied');
  assert.equal(r.trades.length, 1);
  assert.equal(s.handle(update(6, 11)).kind, 'duplicate');
  assert.equal(s.handle(update(8, 13)).kind, 'gap');
  assert.equal(s.lastSeq, 6, 'a gap applies nothing');
  assert.equal(s.book.bids.best().qty, 3);
  assert.equal(s.handle(update(7, 12)).kind, 'applied');
});

test('BookSync sees a node restart: a seq at or below the last with a newer height', () => {
  const s = new BookSync();
  s.handle(snapshot(500, 100, [], []));
  assert.equal(s.handle(update(3, 150)).kind, 'restart');
  assert.equal(s.handle(update(501, 99)).kind, 'restart', 'seq + 1 at an older height is not this feed');
});

test('BookSync: resync waits for the snapshot; closed ends', () => {
  const s = new BookSync();
  s.handle(snapshot(1, 1, [], []));
  assert.equal(s.handle({ type: 'resync', reason: 'fell behind the kept updates' }).kind, 'resync');
  assert.equal(s.handle(update(2, 2)).kind, 'ignored');
  assert.equal(s.handle(snapshot(40, 40, [lvl(7, 1)], [])).kind, 'snapshot');
  assert.equal(s.handle(update(41, 41)).kind, 'applied');
  assert.equal(s.handle({ type: 'closed', reason: 'the market is gone' }).kind, 'closed');
  assert.equal(s.handle(update(42, 42)).kind, 'ignored');
});

// A fake WebSocket that records the URLs opened; tests push messages through `emit`.
class FakeSocket {
  static opened = [];
  constructor(url) { this.url = url; this.closed = false; FakeSocket.opened.push(this); queueMicrotask(() => this.onopen?.()); }
  close() { this.closed = true; }
  emit(msg) { this.onmessage?.({ data: JSON.stringify(msg), timeStamp: 0 }); }
  drop() { this.onclose?.(); }
}
const fakeTimers = () => {
  const pending = [];
  return { pending, setTimeout: (fn) => { pending.push(fn); return pending.length; }, clearTimeout: () => {}, fire() { while (pending.length) pending.shift()(); } };
};

test('BookFeed resumes with since=<last seq> after a gap and after a disconnect', async () => {
  FakeSocket.opened = [];
  const timers = fakeTimers();
  const changes = [];
  const feed = new BookFeed({ url: (since) => `ws://n/v1/stream/markets/X?level=2${since === null ? '' : `&since=${since}`}`, WebSocketImpl: FakeSocket, timers, onChange: (r) => changes.push(r.kind) }).start();
  const first = FakeSocket.opened[0];
  assert.equal(first.url, 'ws://n/v1/stream/markets/X?level=2');
  first.emit(snapshot(10, 100, [lvl(100, 1)], [lvl(101, 1)]));
  first.emit(update(11, 101, { bids: [lvl(100, 2)] }));
  first.emit(update(13, 103, { bids: [lvl(100, 9)] })); // 12 is missing
  assert.equal(feed.stats.gaps, 1);
  assert.ok(first.closed, 'the gapped socket is closed');
  const second = FakeSocket.opened[1];
  assert.match(second.url, /since=11$/);
  second.emit(update(11, 101)); // a repeat: skipped
  second.emit(update(12, 102, { bids: [lvl(100, 4)] }));
  second.emit(update(13, 103, { bids: [lvl(100, 9)] }));
  assert.equal(feed.book.bids.best().qty, 9);
  assert.equal(feed.stats.updatesApplied, 3);
  assert.equal(feed.stats.duplicates, 1);
  assert.equal(feed.stats.lastSeq, 13);
  second.drop();
  assert.equal(FakeSocket.opened.length, 2, 'reconnects after a backoff, not at once');
  timers.fire();
  assert.match(FakeSocket.opened[2].url, /since=13$/);
  assert.deepEqual(changes, ['snapshot', 'applied', 'applied', 'applied']);
  feed.stop();
  assert.ok(FakeSocket.opened[2].closed);
});

test('BookFeed takes a fresh snapshot when the node restarted', () => {
  FakeSocket.opened = [];
  const feed = new BookFeed({ url: (since) => `u${since === null ? '' : `?since=${since}`}`, WebSocketImpl: FakeSocket, timers: fakeTimers() }).start();
  FakeSocket.opened[0].emit(snapshot(700, 50, [], []));
  FakeSocket.opened[0].emit(update(2, 60));
  assert.equal(feed.stats.restarts, 1);
  assert.equal(FakeSocket.opened[1].url, 'u', 'no since: a snapshot');
  feed.stop();
});

test('BookFeed applies 50,000 updates quickly (the ladder renders separately)', (t) => {
  FakeSocket.opened = [];
  const feed = new BookFeed({ url: () => 'u', WebSocketImpl: FakeSocket, timers: fakeTimers() }).start();
  const ws = FakeSocket.opened[0];
  const bids = Array.from({ length: 1000 }, (_, i) => lvl(10_000 - i, 5));
  const asks = Array.from({ length: 1000 }, (_, i) => lvl(10_001 + i, 5));
  ws.emit(snapshot(0, 1, bids, asks));
  const messages = Array.from({ length: 50_000 }, (_, i) => JSON.stringify(update(i + 1, i + 2, {
    bids: [lvl(10_000 - (i % 1200), i % 7)], asks: [lvl(10_001 + (i % 1100), (i + 3) % 5)],
  })));
  const t0 = performance.now();
  for (const data of messages) ws.onmessage({ data, timeStamp: 0 });
  const ms = performance.now() - t0;
  assert.equal(feed.stats.updatesApplied, 50_000);
  assert.equal(feed.stats.gaps, 0);
  // 5,000 updates/s must cost well under a second of main-thread time per second.
  assert.ok(ms < 5000, `50,000 updates took ${ms.toFixed(0)} ms`);
  t.diagnostic(`50,000 level-2 updates parsed and applied in ${ms.toFixed(0)} ms (${((ms * 1000) / 50_000).toFixed(1)} µs each)`);
  feed.stop();
});
