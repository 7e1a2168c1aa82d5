// charts.js — the console's two charts, drawn on a canvas with no library.
//
// Promises:
// - `drawDepth(canvas, bids, asks, opts)`: cumulative depth (lots) against price, bids left of the
//   spread in green, asks right in red, as step areas; axes labelled with USD prices via
//   `opts.priceText(ticks)`.
// - `drawSeries(canvas, series, opts)`: lines (`kind: 'line'`) and dots (`kind: 'dots'`) over a
//   shared x axis (`opts.xText(x)` labels it; the console uses block heights) and y axis
//   (`opts.yText(y)`), with a legend. Points are {x, y} numbers; a line steps at each point
//   (marked) and holds its last value to the right edge of the data.
// - Both size the canvas's backing store to its CSS box × devicePixelRatio, and cost one pass
//   over their points: cheap enough for a few redraws per second.

const COLORS = { bid: '#2fb170', ask: '#e0524f', axis: '#8a94a6', grid: '#2a3142', text: '#c9d1e0' };

function prepare(canvas) {
  const ratio = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, w, h };
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

function message(ctx, w, h, text) {
  ctx.fillStyle = COLORS.axis;
  ctx.textAlign = 'center';
  ctx.fillText(text, w / 2, h / 2);
}

/** Cumulative depth chart. bids/asks: [{price, qty}] best first. */
export function drawDepth(canvas, bids, asks, { priceText = String } = {}) {
  const { ctx, w, h } = prepare(canvas);
  const pad = { l: 48, r: 10, t: 10, b: 22 };
  if (!bids.length && !asks.length) return message(ctx, w, h, 'empty book');
  const cum = (levels) => { let s = 0; return levels.map((l) => ({ price: l.price, depth: (s += l.qty) })); };
  const b = cum(bids);
  const a = cum(asks);
  const prices = [...b, ...a].map((p) => p.price);
  let lo = Math.min(...prices); let hi = Math.max(...prices);
  if (lo === hi) { lo -= 1; hi += 1; }
  const maxDepth = Math.max(b.at(-1)?.depth ?? 0, a.at(-1)?.depth ?? 0, 1);
  const x = (p) => pad.l + ((p - lo) / (hi - lo)) * (w - pad.l - pad.r);
  const y = (d) => h - pad.b - (d / maxDepth) * (h - pad.t - pad.b);
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.axis;
  ctx.textAlign = 'right';
  for (const d of niceTicks(0, maxDepth, 4)) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(d)); ctx.lineTo(w - pad.r, y(d)); ctx.stroke();
    ctx.fillText(String(d), pad.l - 4, y(d) + 4);
  }
  const area = (points, color) => {
    if (!points.length) return;
    ctx.beginPath();
    ctx.moveTo(x(points[0].price), y(0));
    let prev = 0;
    for (const p of points) { ctx.lineTo(x(p.price), y(prev)); ctx.lineTo(x(p.price), y(p.depth)); prev = p.depth; }
    ctx.lineTo(x(points.at(-1).price), y(0));
    ctx.closePath();
    ctx.globalAlpha = 0.25; ctx.fillStyle = color; ctx.fill();
    ctx.globalAlpha = 1; ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.stroke(); ctx.lineWidth = 1;
  };
  area(b, COLORS.bid);
  area(a, COLORS.ask);
  ctx.fillStyle = COLORS.axis;
  ctx.textAlign = 'center';
  const labels = [lo, (lo + hi) / 2, hi].map(Math.round);
  for (const p of labels) ctx.fillText(priceText(p), Math.min(Math.max(x(p), pad.l + 20), w - 30), h - 6);
  return undefined;
}

/** Lines and dots over shared axes. series: [{name, color, kind, points: [{x, y}]}]. */
export function drawSeries(canvas, series, { xText = String, yText = String, empty = 'no data yet' } = {}) {
  const { ctx, w, h } = prepare(canvas);
  const pad = { l: 60, r: 10, t: 18, b: 22 };
  const all = series.flatMap((s) => s.points);
  if (!all.length) return message(ctx, w, h, empty);
  let [x0, x1] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  const xLast = x1;
  let [y0, y1] = [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const margin = (y1 - y0) * 0.08; y0 -= margin; y1 += margin;
  const x = (v) => pad.l + ((v - x0) / (x1 - x0)) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - ((v - y0) / (y1 - y0)) * (h - pad.t - pad.b);
  ctx.strokeStyle = COLORS.grid;
  ctx.fillStyle = COLORS.axis;
  ctx.textAlign = 'right';
  for (const v of niceTicks(y0, y1, 4)) {
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(w - pad.r, y(v)); ctx.stroke();
    ctx.fillText(yText(v), pad.l - 4, y(v) + 4);
  }
  ctx.textAlign = 'center';
  for (const v of niceTicks(x0, x1, 5)) ctx.fillText(xText(v), x(v), h - 6);
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color;
    if (s.kind === 'dots') {
      for (const p of s.points) { ctx.beginPath(); ctx.arc(x(p.x), y(p.y), 2.5, 0, Math.PI * 2); ctx.fill(); }
    } else if (s.points.length) {
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      // Step line: a price holds until the next observation.
      s.points.forEach((p, i) => {
        if (i === 0) ctx.moveTo(x(p.x), y(p.y));
        else { ctx.lineTo(x(p.x), y(s.points[i - 1].y)); ctx.lineTo(x(p.x), y(p.y)); }
      });
      // The last observation holds to the right edge of the data.
      ctx.lineTo(x(xLast), y(s.points.at(-1).y));
      ctx.stroke(); ctx.lineWidth = 1;
      for (const p of s.points) ctx.fillRect(x(p.x) - 1.5, y(p.y) - 1.5, 3, 3);
    }
  }
  let lx = pad.l + 4;
  ctx.textAlign = 'left';
  for (const s of series) {
    ctx.fillStyle = s.color; ctx.fillRect(lx, 5, 10, 3);
    ctx.fillStyle = COLORS.text; ctx.fillText(s.name, lx + 14, 11);
    lx += ctx.measureText(s.name).width + 30;
  }
  return undefined;
}
