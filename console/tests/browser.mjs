// browser.mjs — drive a headless Chromium over the DevTools protocol, with no npm package.
//
// Promises: `launch({chromium, flags})` starts Chromium with a DevTools port and resolves to a
// `Browser`; `browser.open(url)` opens a tab and resolves to a `Page` with `evaluate(expr)` (the
// value of a JS expression, awaited, returned by value), `waitFor(expr, ms)` (polls until the
// expression is truthy; rejects with the last value on timeout), `screenshot(path)` (PNG),
// `goto(url)` and `close()`; `browser.close()` ends Chromium. Needs Node's WebSocket client
// (Node ≥ 22, or Node 20 with --experimental-websocket).
//
// Command line (one page, for checks by hand and CI scripts):
//   node --experimental-websocket console/tests/browser.mjs URL [--wait EXPR] [--eval EXPR]
//        [--screenshot out.png] [--size 1400,900] [--timeout 20000] [--sleep MS]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Page {
  constructor(ws) {
    this.ws = ws;
    this.next = 1;
    this.waiting = new Map();
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(m.error.message)); else w.resolve(m.result);
    };
  }

  static async connect(url) {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error(`cannot connect ${url}`)); });
    return new Page(ws);
  }

  send(method, params = {}) {
    const id = this.next++;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  async evaluate(expression) {
    const r = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value;
  }

  async waitFor(expression, timeoutMs = 20000) {
    const end = Date.now() + timeoutMs;
    let last;
    while (Date.now() < end) {
      try { last = await this.evaluate(expression); if (last) return last; } catch (e) { last = e.message; }
      await sleep(200);
    }
    throw new Error(`timed out waiting for ${expression} (last: ${JSON.stringify(last)})`);
  }

  async goto(url) { await this.send('Page.navigate', { url }); }

  async screenshot(path) {
    const r = await this.send('Page.captureScreenshot', { format: 'png' });
    writeFileSync(path, Buffer.from(r.data, 'base64'));
  }

  close() { this.ws.close(); }
}

class Browser {
  constructor(proc, port, dir) { Object.assign(this, { proc, port, dir }); }

  async open(url) {
    const r = await fetch(`http://127.0.0.1:${this.port}/json/new?${encodeURIComponent(url)}`, { method: 'PUT' });
    const target = await r.json();
    const page = await Page.connect(target.webSocketDebuggerUrl);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    return page;
  }

  close() {
    this.proc.kill('SIGTERM');
    try { rmSync(this.dir, { recursive: true, force: true }); } catch { /* busy */ }
  }
}

export async function launch({ chromium = 'chromium', size = '1400,900', flags = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tokenbook-chromium-'));
  const proc = spawn(chromium, [...FLAGS, `--window-size=${size}`, '--remote-debugging-port=0', `--user-data-dir=${dir}`, ...flags, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${err.slice(-500)}`)), 20000);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on ws:\/\/[^:]+:(\d+)\//);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => reject(new Error(`chromium exited ${code}: ${err.slice(-500)}`)));
  });
  return new Browser(proc, port, dir);
}

async function main(argv) {
  const args = { url: null, wait: null, eval: null, screenshot: null, size: '1400,900', timeout: 20000, sleep: 0, chromium: process.env.CHROMIUM ?? 'chromium' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) args[a.slice(2)] = argv[++i]; else args.url = a;
  }
  const browser = await launch({ chromium: args.chromium, size: args.size });
  try {
    const page = await browser.open(args.url);
    if (args.wait) await page.waitFor(args.wait, Number(args.timeout));
    if (Number(args.sleep)) await sleep(Number(args.sleep));
    if (args.eval) console.log(JSON.stringify(await page.evaluate(args.eval), null, 1));
    if (args.screenshot) await page.screenshot(args.screenshot);
    page.close();
  } finally {
    browser.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((e) => { console.error(e.message); process.exit(1); });
}
