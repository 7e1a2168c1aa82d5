// view-network.js — every member's validator, whether their state roots agree, recent blocks.
//
// Data:
// - nodes: this node plus the member nodes `GET /v1/console` lists (other nodes answer with
//   `Access-Control-Allow-Origin: *`); each polled every 2 s: `GET /v1/status` (height, peers,
//   catching_up, mempool, validators) and `GET /metrics` (`tokenbook_round`, the
//   `tokenbook_block_interval_seconds` histogram: the mean interval over the commits since the
//   previous scrape). A node that does not answer is red.
// - agreement: the common height is the lowest height all reachable nodes answered; each node's
//   `GET /v1/state-root/{h}` there is compared; a node whose root differs is red, naming h.
// - recent blocks: `ws /v1/stream?txs=true&from_height=<head − 14>` on this node (block
//   messages: height, txs, state root), live; each block's certificate (fetched as it arrives;
//   the list shows the newest 15 whose certificate is in) from
//   `GET /v1/blocks/{h}/certificate` (canonical bytes) decoded in the browser (console/records.js)
//   and its signers mapped to `/v1/status` validators (v0, v1, … in the set's order), their
//   signatures verified when the browser's WebCrypto has Ed25519.
// Test handle: window.tokenbookConsole.network = {nodes: [{url, verdict, height, round}],
// commonHeight, blocks: count}.

import { BASE, getBytes, getJson, getText, memberNodes, wsUrl } from './api.js';
import { toHex } from './codec.js';
import { clear, h, light, link, short, table } from './dom.js';
import { commonHeight, intervalBetween, meanInterval, parseMetrics, rootVerdict } from './network.js';
import { decodeCertificate, verifyCertificate } from './records.js';
import { every, tc } from './view-common.js';

export const NAME = 'network';
const BLOCKS = 15;

export function mount(root) {
  const nodesEl = h('div', {}, 'loading…');
  const agreeEl = h('div', { class: 'subtitle' });
  const blocksEl = h('div');
  const blocksNote = h('p', { class: 'note' });
  root.append(
    h('h1', {}, 'Network'), agreeEl, nodesEl,
    h('h2', {}, 'Recent blocks (this node)'), blocksEl, blocksNote,
  );
  const nodes = new Map(); // url → state
  const blocks = []; // recent block messages, newest last
  let validators = [];
  let chainId = null;
  let others = [];
  memberNodes().then((list) => { others = list.filter((u) => u !== BASE); });

  const pollNode = async (url) => {
    const n = nodes.get(url) ?? { url, prevMetrics: null };
    nodes.set(url, n);
    try {
      const [status, metricsText] = await Promise.all([
        getJson('/v1/status', { base: url, timeoutMs: 2500 }),
        getText('/metrics', { base: url, timeoutMs: 2500 }).catch(() => null),
      ]);
      const metrics = metricsText ? parseMetrics(metricsText) : null;
      const interval = intervalBetween(n.prevMetrics, metrics);
      Object.assign(n, {
        reachable: true, error: null, status, height: status.height,
        round: metrics?.tokenbook_round ?? null,
        interval: interval ?? n.interval ?? null, meanInterval: meanInterval(metrics),
        prevMetrics: metrics ?? n.prevMetrics, metricsMissing: !metrics, seenAt: Date.now(),
      });
    } catch (e) {
      Object.assign(n, { reachable: false, error: e.message, root: null });
    }
    return n;
  };

  const stopNodes = every(2000, async () => {
    const urls = [BASE, ...others];
    for (const u of [...nodes.keys()]) if (!urls.includes(u)) nodes.delete(u);
    const list = await Promise.all(urls.map(pollNode));
    const self = nodes.get(BASE);
    if (self?.reachable) { validators = self.status.validators; chainId = self.status.chain_id; }
    const height = commonHeight(list);
    await Promise.all(list.map(async (n) => {
      n.root = null;
      if (!n.reachable || height === null) return;
      try { n.root = (await getJson(`/v1/state-root/${height}`, { base: n.url, timeoutMs: 2500 })).state_root; } catch (e) { n.rootError = e.message; }
    }));
    const verdicts = rootVerdict(list, height);
    list.forEach((n, i) => { n.verdict = verdicts[i]; });
    renderNodes(list, height);
  });

  const lightOf = (n) => {
    if (!n.reachable) return 'bad';
    if (n.verdict?.verdict === 'mismatch') return 'bad';
    if (n.status.catching_up || (n.status.peers === 0 && validators.length > 1)) return 'warn';
    return 'ok';
  };
  const secs = (s) => (s === null || s === undefined ? '—' : s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`);

  const renderNodes = (list, height) => {
    const bad = list.filter((n) => lightOf(n) === 'bad');
    agreeEl.textContent = height === null
      ? 'no node answered'
      : `${list.length} node${list.length === 1 ? '' : 's'} (${others.length ? 'this one and the members GET /v1/console lists' : 'this node only: GET /v1/console lists no other member node'}) · common height ${height} · ${bad.length ? `${bad.length} red` : 'all green'}`;
    const rows = list.map((n) => ({ ...n, __class: lightOf(n) === 'bad' ? 'row-bad' : '' }));
    clear(nodesEl).append(table([
      { label: '', value: (n) => light(lightOf(n), n.verdict?.detail) },
      { label: 'Node', value: (n) => h('span', {}, n.url, n.url === BASE ? h('span', { class: 'tag' }, 'this node') : null) },
      { label: 'Height', class: 'r', value: (n) => (n.reachable ? String(n.height) : '—') },
      { label: 'Round', class: 'r', value: (n) => (n.reachable ? (n.round ?? (n.metricsMissing ? 'no /metrics' : '—')) : '—') },
      { label: 'Peers', class: 'r', value: (n) => (n.reachable ? String(n.status.peers) : '—') },
      { label: 'Block interval', class: 'r', value: (n) => (n.reachable ? h('span', { title: `mean over the node's life: ${secs(n.meanInterval)}` }, secs(n.interval)) : '—') },
      { label: 'Catching up', value: (n) => (n.reachable ? (n.status.catching_up ? h('span', { class: 'warn' }, 'yes') : 'no') : '—') },
      { label: 'Mempool', class: 'r', value: (n) => (n.reachable ? String(n.status.mempool) : '—') },
      { label: `State root at ${height ?? '—'}`, value: (n) => h('span', { class: n.verdict?.verdict === 'mismatch' || !n.reachable ? 'bad' : '' }, n.reachable ? `${short(n.root, 16)} ${n.verdict?.detail ?? ''}` : `unreachable: ${n.error}`) },
    ], rows, { cls: 'nodes' }));
    tc().network = {
      commonHeight: height,
      nodes: list.map((n) => ({ url: n.url, verdict: n.verdict?.verdict, detail: n.verdict?.detail, reachable: !!n.reachable, height: n.height ?? null, round: n.round ?? null, peers: n.status?.peers ?? null })),
      blocks: blocks.length,
    };
    tc().ready = true;
  };

  // ---- recent blocks, live from the block stream
  const certs = new Map(); // height → {text, ok} | Promise
  let socket = null; let blocksDirty = false; let stopped = false; let retry = null;
  const openBlocks = async () => {
    if (stopped) return;
    let from = null;
    try { from = Math.max(1, (await getJson('/v1/status')).height - (BLOCKS - 1)); } catch { /* live only */ }
    const last = blocks.at(-1)?.height;
    if (last) from = last + 1;
    socket = new WebSocket(wsUrl(`/v1/stream?txs=true${from ? `&from_height=${from}` : ''}`));
    socket.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.type !== 'block') return;
      blocks.push(m);
      if (blocks.length > 4 * BLOCKS) blocks.splice(0, blocks.length - 4 * BLOCKS);
      certificate(m.height); // fetched as blocks arrive, so the list shows checked ones
      blocksDirty = true;
    };
    socket.onclose = () => { if (!stopped) retry = setTimeout(openBlocks, 1000); };
  };
  openBlocks();

  const certificate = (height) => {
    if (certs.has(height)) return certs.get(height);
    const entry = { text: 'certificate…', signers: [] };
    certs.set(height, entry);
    (async () => {
      try {
        const cert = decodeCertificate(await getBytes(`/v1/blocks/${height}/certificate`));
        const check = await verifyCertificate(cert, { height, validators, chainId });
        Object.assign(entry, { round: cert.round, check, hash: toHex(cert.block_hash), done: true });
      } catch (e) { Object.assign(entry, { text: `certificate: ${e.message}`, done: true }); }
      blocksDirty = true;
    })();
    if (certs.size > 200) certs.delete(certs.keys().next().value);
    return entry;
  };

  const signersCell = (b) => {
    const c = certificate(b.height);
    if (!c.check) return h('span', { class: 'muted' }, c.text);
    const chips = c.check.signers.map((s) => h('span', {
      class: `chip ${s.verified === false || s.index === null ? 'bad' : s.verified ? 'ok' : ''}`,
      title: `${s.key}${s.verified === null ? ' (signature not checked: no Ed25519 in this browser)' : s.verified ? ' signature verified' : ' SIGNATURE INVALID'}`,
    }, s.index === null ? short(s.key, 6) : `v${s.index}`));
    return h('span', {}, chips, ' ', h('span', { class: c.check.ok ? 'muted small' : 'bad small', title: c.check.problems.join('; ') },
      `${c.check.signedPower}/${c.check.totalPower} power, round ${c.round}${c.check.ok ? '' : ' ✗'}`));
  };

  const renderBlocks = () => {
    if (!blocksDirty) return;
    blocksDirty = false;
    // The newest blocks whose certificate is in: blocks come faster than a render a second.
    const rows = blocks.filter((b) => certs.get(b.height)?.done).slice(-BLOCKS).reverse();
    clear(blocksEl).append(table([
      { label: 'Height', value: (b) => link(`#/block/${b.height}`, String(b.height)) },
      { label: 'Txs', class: 'r', value: (b) => String(b.txs) },
      { label: 'State root after', value: (b) => h('code', {}, short(b.state_root, 16)) },
      { label: 'Certificate signers', value: signersCell },
    ], rows, { empty: 'waiting for blocks…' }));
    const checked = [...certs.values()].find((c) => c.check)?.check?.signaturesChecked;
    blocksNote.textContent = `Signers are decoded from each certificate's canonical bytes and named by their place in this node's current validator set (GET /v1/status: ${validators.map((v, i) => `v${i} = ${v.consensus_key.slice(0, 8)}…`).join(', ')}). `
      + (checked === false ? 'This browser has no Ed25519 in WebCrypto, so signatures are not checked here.' : 'Each precommit signature is checked in the browser (WebCrypto Ed25519).');
    if (tc().network) tc().network.blocks = blocks.length;
  };
  const blockTimer = setInterval(renderBlocks, 1000);

  return () => {
    stopped = true;
    stopNodes();
    clearInterval(blockTimer);
    clearTimeout(retry);
    if (socket) { socket.onclose = null; socket.close(); }
  };
}
