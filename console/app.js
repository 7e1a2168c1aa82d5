// app.js — the console's entry point: hash routing, the page shell, the test hooks.
//
// Promises:
// - Routes: `#/markets` (default), `#/market/<SYMBOL>`, `#/network`, `#/block/<height>`,
//   `#/account/<id or public key hex>`, `#/clearing`. Each view module exports
//   `mount(root, params) → dispose`; leaving a view disposes it (its sockets and timers stop).
// - `window.tokenbookConsole` is the handle browser tests read: `route`, `view` (the mounted
//   view's name), `ready` (true once the view drew its first data), `errors` (messages shown),
//   and per-view state the views publish there (`book` counters on a market page, `network`
//   node verdicts, `account.proof`, …).
// - The page reads only the node it was served by (or `?api=` in development) and the member
//   nodes `GET /v1/console` lists; nothing is fetched from anywhere else.

import { BASE } from './api.js';
import { clear, h } from './dom.js';
import * as markets from './view-markets.js';
import * as market from './view-market.js';
import * as network from './view-network.js';
import * as block from './view-block.js';
import * as account from './view-account.js';
import * as clearing from './view-clearing.js';

const tc = (globalThis.tokenbookConsole = { api: BASE, route: null, view: null, ready: false, errors: [] });

const ROUTES = [
  [/^#\/markets\/?$/, markets, () => ({})],
  [/^#\/market\/([A-Z0-9-]{1,32})$/, market, (m) => ({ symbol: m[1] })],
  [/^#\/network\/?$/, network, () => ({})],
  [/^#\/block\/(\d+)$/, block, (m) => ({ height: Number(m[1]) })],
  [/^#\/account\/([0-9]+|[0-9a-fA-F]{64})$/, account, (m) => ({ who: m[1] })],
  [/^#\/account\/?$/, account, () => ({ who: null })],
  [/^#\/clearing\/?$/, clearing, () => ({})],
];

const NAV = [['#/markets', 'Markets'], ['#/network', 'Network'], ['#/account', 'Account'], ['#/clearing', 'Risk & clearing']];

let dispose = null;
const root = document.getElementById('view');

function route() {
  const hash = location.hash || '#/markets';
  if (dispose) { try { dispose(); } catch (e) { console.error(e); } dispose = null; }
  for (const key of Object.keys(tc)) if (!['api', 'errors'].includes(key)) delete tc[key];
  Object.assign(tc, { route: hash, view: null, ready: false });
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', hash.startsWith(a.getAttribute('href')));
  clear(root);
  for (const [pattern, view, params] of ROUTES) {
    const m = hash.match(pattern);
    if (m) {
      tc.view = view.NAME;
      document.title = `tokenbook · ${view.NAME}`;
      dispose = view.mount(root, params(m)) ?? null;
      return;
    }
  }
  root.append(h('div', { class: 'error' }, `no page ${hash}`), h('p', {}, h('a', { href: '#/markets' }, 'markets')));
}

function shell() {
  const nav = document.querySelector('nav');
  for (const [href, label] of NAV) nav.append(h('a', { href }, label));
  const form = h('form', { class: 'jump', onsubmit: (e) => {
    e.preventDefault();
    const v = input.value.trim();
    if (/^\d+$/.test(v)) location.hash = `#/account/${v}`;
    else if (/^[0-9a-fA-F]{64}$/.test(v)) location.hash = `#/account/${v.toLowerCase()}`;
    else if (/^#?\d+$/.test(v.replace(/^h/, ''))) location.hash = `#/block/${v.replace(/\D/g, '')}`;
    else if (v) location.hash = `#/market/${v.toUpperCase()}`;
  } });
  const input = h('input', { placeholder: 'account id, public key, h<height>, symbol', size: 34 });
  form.append(input);
  nav.append(form);
  document.getElementById('node').textContent = BASE;
}

window.addEventListener('error', (e) => tc.errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => tc.errors.push(String(e.reason?.message ?? e.reason)));
window.addEventListener('hashchange', route);
shell();
route();
