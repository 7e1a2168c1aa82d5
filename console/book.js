// book.js — a market's level-2 book kept in step with the node's sequenced book feed.
//
// Promises (docs/api.md and docs/asyncapi.yaml, `/v1/stream/markets/{symbol}`):
// - `L2Book` holds price levels per side in a Map plus a sorted price array, so one level
//   changes in O(log n + shift) and the best n levels read in O(n); `qty` "0" removes a level.
// - `BookSync.handle(message)` applies the feed's rules and says what happened, touching no
//   socket: a `snapshot` replaces the book and sets the sequence number; an `update` whose
//   `seq` is the last plus one is applied; an update at or below the last is a duplicate
//   (resumed feeds may repeat) unless its height is above the last applied height, which
//   means the node restarted and numbers again from its start ("restart": take a snapshot);
//   an update beyond the last plus one is a "gap" (reconnect with since=<last seq>); `resync`
//   waits for the snapshot that follows; `closed` ends the feed.
// - `BookFeed` owns the WebSocket: it connects (fresh, or `since=<last seq>` after a gap or a
//   disconnect, with backoff), applies each message as it arrives, and never renders: the
//   caller's `onChange` only marks the view dirty (the view renders once per animation frame).
//   It counts what it did in `stats` (updates applied, last seq, gaps, reconnects, snapshots,
//   resyncs, the worst and last apply lag: the time a message waited between the socket
//   receiving it and the book applying it, which grows if the main thread falls behind).

/** One side's levels: Map price → level, and the prices sorted ascending. */
class Side {
  constructor(descending) {
    this.levels = new Map();
    this.prices = [];
    this.descending = descending;
  }

  clear() { this.levels.clear(); this.prices.length = 0; }

  /** Index of `price` in the ascending array, or where it would go. */
  search(price) {
    let lo = 0; let hi = this.prices.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.prices[mid] < price) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  set(level) {
    const price = Number(level.price);
    const qty = Number(level.qty);
    if (qty === 0) {
      if (this.levels.delete(price)) this.prices.splice(this.search(price), 1);
      return;
    }
    if (!this.levels.has(price)) this.prices.splice(this.search(price), 0, price);
    this.levels.set(price, { price, qty, orders: level.orders ?? 0, price_usd: level.price_usd ?? null });
  }

  get size() { return this.prices.length; }

  /** The best n levels, best first. */
  top(n) {
    const out = [];
    const p = this.prices;
    if (this.descending) for (let i = p.length - 1; i >= 0 && out.length < n; i--) out.push(this.levels.get(p[i]));
    else for (let i = 0; i < p.length && out.length < n; i++) out.push(this.levels.get(p[i]));
    return out;
  }

  best() {
    if (!this.prices.length) return null;
    return this.levels.get(this.descending ? this.prices[this.prices.length - 1] : this.prices[0]);
  }
}

export class L2Book {
  constructor() {
    this.bids = new Side(true);
    this.asks = new Side(false);
    this.height = null;
  }

  load(snapshot) {
    this.bids.clear(); this.asks.clear();
    for (const l of snapshot.bids ?? []) this.bids.set(l);
    for (const l of snapshot.asks ?? []) this.asks.set(l);
    this.height = snapshot.height;
  }

  apply(update) {
    for (const l of update.bids ?? []) this.bids.set(l);
    for (const l of update.asks ?? []) this.asks.set(l);
    this.height = update.height;
  }
}

export class BookSync {
  constructor(book = new L2Book()) {
    this.book = book;
    this.lastSeq = null;
    this.lastHeight = null;
    this.state = 'empty'; // empty | live | awaiting-snapshot | closed
  }

  /** Applies one feed message; returns {kind, trades?, reason?}. */
  handle(msg) {
    switch (msg.type) {
      case 'snapshot':
        this.book.load(msg);
        this.lastSeq = msg.seq;
        this.lastHeight = msg.height;
        this.state = 'live';
        return { kind: 'snapshot' };
      case 'update': {
        if (this.state !== 'live') return { kind: 'ignored' };
        if (msg.seq === this.lastSeq + 1) {
          if (msg.height < this.lastHeight) return { kind: 'restart' };
          this.book.apply(msg);
          this.lastSeq = msg.seq;
          this.lastHeight = msg.height;
          return { kind: 'applied', trades: msg.trades ?? [] };
        }
        if (msg.seq <= this.lastSeq) return msg.height > this.lastHeight ? { kind: 'restart' } : { kind: 'duplicate' };
        return { kind: 'gap' };
      }
      case 'resync':
        this.state = 'awaiting-snapshot';
        return { kind: 'resync', reason: msg.reason };
      case 'closed':
        this.state = 'closed';
        return { kind: 'closed', reason: msg.reason };
      default:
        return { kind: 'ignored' };
    }
  }
}

export function newStats() {
  return {
    messages: 0, updatesApplied: 0, duplicates: 0, lastSeq: null, lastHeight: null, snapshots: 0,
    gaps: 0, restarts: 0, resyncs: 0, reconnects: 0, connected: false, closed: false,
    maxApplyLagMs: 0, lastApplyLagMs: 0, applyMsTotal: 0, framesRendered: 0, maxRenderLagMs: 0,
  };
}

export class BookFeed {
  /**
   * @param {object} o
   * @param {(since: number|null) => string} o.url        the stream URL, resuming after `since`
   * @param {Function} [o.WebSocketImpl]                   WebSocket constructor (tests pass a fake)
   * @param {(result) => void} [o.onChange]                after each applied message (mark dirty)
   * @param {(status: string) => void} [o.onStatus]        connection state for people
   * @param {() => number} [o.now]                         ms clock comparable to event.timeStamp
   */
  constructor({ url, WebSocketImpl = globalThis.WebSocket, onChange = () => {}, onStatus = () => {}, now = () => performance.now(), timers = globalThis }) {
    Object.assign(this, { url, WebSocketImpl, onChange, onStatus, now, timers });
    this.sync = new BookSync();
    this.stats = newStats();
    this.socket = null;
    this.stopped = false;
    this.backoffMs = 250;
    this.retry = null;
  }

  get book() { return this.sync.book; }

  start() { this.connect(null); return this; }

  stop() {
    this.stopped = true;
    if (this.retry) this.timers.clearTimeout(this.retry);
    this.drop();
  }

  drop() {
    const s = this.socket;
    this.socket = null;
    this.stats.connected = false;
    if (s) {
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try { s.close(); } catch { /* already closed */ }
    }
  }

  connect(since) {
    if (this.stopped) return;
    this.drop();
    const socket = new this.WebSocketImpl(this.url(since));
    this.socket = socket;
    this.onStatus(since === null ? 'connecting' : `resuming after seq ${since}`);
    socket.onopen = () => { this.stats.connected = true; this.backoffMs = 250; this.onStatus('live'); };
    socket.onmessage = (event) => this.receive(event);
    socket.onclose = () => this.lost('disconnected');
    socket.onerror = () => this.lost('connection error');
  }

  /** A dropped socket: reconnect after a backoff, resuming from the last seq applied. */
  lost(why) {
    if (this.stopped || !this.socket) return;
    this.drop();
    this.stats.reconnects++;
    this.onStatus(`${why}; reconnecting`);
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5000);
    this.retry = this.timers.setTimeout(() => { this.retry = null; this.reconnect(); }, wait);
  }

  reconnect() {
    this.connect(this.sync.state === 'live' ? this.sync.lastSeq : null);
  }

  receive(event) {
    const start = this.now();
    const msg = typeof event.data === 'string' ? JSON.parse(event.data) : event.data;
    const result = this.sync.handle(msg);
    const s = this.stats;
    s.messages++;
    switch (result.kind) {
      case 'applied': s.updatesApplied++; break;
      case 'snapshot': s.snapshots++; break;
      case 'duplicate': s.duplicates++; break;
      case 'gap':
        s.gaps++;
        s.reconnects++;
        this.onStatus(`gap after seq ${this.sync.lastSeq} (got ${msg.seq}); resuming`);
        this.connect(this.sync.lastSeq);
        break;
      case 'restart':
        s.restarts++;
        s.reconnects++;
        this.sync.state = 'empty';
        this.onStatus('the node numbers its updates afresh (restarted?); taking a snapshot');
        this.connect(null);
        break;
      case 'resync': s.resyncs++; this.onStatus('fell behind; the node sends a snapshot'); break;
      case 'closed': s.closed = true; this.onStatus(`closed: ${result.reason}`); this.stop(); break;
      default: break;
    }
    s.lastSeq = this.sync.lastSeq;
    s.lastHeight = this.sync.lastHeight;
    const end = this.now();
    s.applyMsTotal += end - start;
    if (typeof event.timeStamp === 'number' && event.timeStamp > 0) {
      const lag = end - event.timeStamp;
      s.lastApplyLagMs = lag;
      if (lag > s.maxApplyLagMs) s.maxApplyLagMs = lag;
    }
    if (result.kind === 'applied' || result.kind === 'snapshot') this.onChange(result, msg);
  }
}
