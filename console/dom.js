// dom.js — the few DOM and formatting helpers every view shares.
//
// Promises: `h(tag, attrs, ...children)` builds elements (attrs: `class`, `on<event>`, `style`
// object, anything else as an attribute; children: nodes, strings, arrays, null skipped);
// `table(columns, rows)` builds a table whose columns are {label, value(row) → node|string,
// class?}; `countdown(ms)` and `ago(ms)` format durations for people; `link(hash, text)` is an
// in-page route link. No view touches innerHTML with data from the network.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export const link = (hash, text, cls) => h('a', { href: hash, class: cls }, text);

export function table(columns, rows, { empty = 'none', cls = '' } = {}) {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class ?? '' }, c.label))));
  const body = h('tbody');
  if (!rows.length) body.append(h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, empty)));
  for (const r of rows) body.append(h('tr', { class: typeof r.__class === 'string' ? r.__class : '' }, columns.map((c) => h('td', { class: c.class ?? '' }, c.value(r)))));
  return h('table', { class: `grid ${cls}` }, head, body);
}

export function countdown(ms) {
  if (ms <= 0) return 'expired';
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const pad = (n) => String(n).padStart(2, '0');
  return d > 0 ? `${d}d ${pad(hh)}:${pad(mm)}:${pad(ss)}` : `${pad(hh)}:${pad(mm)}:${pad(ss)}`;
}

export function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export const short = (hex, n = 10) => (hex ? `${hex.slice(0, n)}…` : '—');
export const isoTime = (ms) => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

/** A status light: ok | warn | bad | idle. */
export const light = (state, title) => h('span', { class: `light ${state}`, title: title ?? state });

export function errorBox(e) {
  return h('div', { class: 'error' }, e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? e));
}
