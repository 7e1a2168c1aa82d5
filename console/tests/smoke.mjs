// smoke.mjs — open every console page in headless Chromium against a live node, wait for each
// to show its data, save screenshots, and measure the ladder (first render; updates/s, apply lag
// and frames under a synthetic feed when console/dev-server.py serves one).
//
// Promises: exits 0 and prints a JSON summary when every page reached its ready condition
// (markets listed; the ladder drawn from a snapshot; every node with a root verdict; a block's
// certificate checked; an account's proof verified; the clearing page's funds and event window);
// exits 1 naming the first page that did not. Screenshots go to --out. With --net (a devnet's
// directory) and --bin (its binaries), it then acts on the network while pages watch
// (console/tests/scenario.mjs): a scripted order on the ladder and its trade on the tape, a
// clearing event (governance funding the insurance fund) on the risk page, and the last
// validator killed turning red and, restarted, green.
//
//   node --experimental-websocket console/tests/smoke.mjs --console http://127.0.0.1:8700
//        --out DIR [--symbol SYMBOL] [--account 5] [--synthetic SYMBOL] [--seconds 10]
//        [--net DEVNET_DIR --bin BINARIES_DIR]

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from './browser.mjs';
import { clearingEventIsListed, Devnet, killedValidatorTurnsRed, orderOnLadderAndTape } from './scenario.mjs';

const args = { console: 'http://127.0.0.1:8700', out: 'console-shots', symbol: null, account: '5', synthetic: null, seconds: '10', net: null, bin: null, chromium: process.env.CHROMIUM ?? 'chromium' };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
mkdirSync(args.out, { recursive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const summary = {};

const browser = await launch({ chromium: args.chromium });
async function visit(name, hash, ready, collect, { settle = 1500, timeout = 30000 } = {}) {
  const page = await browser.open(`${args.console}/${hash}`);
  try {
    await page.waitFor(ready, timeout);
    await sleep(settle);
    summary[name] = await page.evaluate(collect);
    await page.screenshot(join(args.out, `${name}.png`));
  } catch (e) {
    await page.screenshot(join(args.out, `${name}-failed.png`)).catch(() => {});
    summary[name] = { error: e.message, errors: await page.evaluate('window.tokenbookConsole?.errors').catch(() => null) };
    throw new Error(`${name}: ${e.message}`);
  } finally {
    page.close();
  }
}

let failed = null;
const devnet = args.net ? new Devnet(args.net, args.bin) : null;
try {
  await visit('markets', '#/markets', 'window.tokenbookConsole?.markets?.length > 0', 'window.tokenbookConsole.markets');
  const symbol = args.symbol ?? summary.markets[0].symbol;
  await visit('market', `#/market/${symbol}`, 'window.tokenbookConsole?.firstLadderMs !== undefined',
    '({ firstLadderMs: window.tokenbookConsole.firstLadderMs, book: window.tokenbookConsole.book, tape: window.tokenbookConsole.tape?.count })', { settle: 4000 });
  await visit('network', '#/network', 'window.tokenbookConsole?.network?.nodes?.every((n) => n.verdict) && window.tokenbookConsole.network.blocks > 0',
    'window.tokenbookConsole.network', { settle: 2500 });
  const height = summary.network.commonHeight - 3;
  await visit('block', `#/block/${height}`, 'window.tokenbookConsole?.block?.txRootOk !== undefined', 'window.tokenbookConsole.block');
  await visit('account', `#/account/${args.account}`, 'window.tokenbookConsole?.account?.proof?.pending === false && window.tokenbookConsole.account.equity',
    'window.tokenbookConsole.account', { settle: 2000 });
  await visit('clearing', '#/clearing', 'window.tokenbookConsole?.clearing?.readThrough > 0 && window.tokenbookConsole.clearing.height',
    'window.tokenbookConsole.clearing', { settle: 3000 });
  if (devnet) {
    summary.scriptedOrder = await orderOnLadderAndTape(browser, args.console, devnet, args.out);
    summary.clearingEvent = await clearingEventIsListed(browser, args.console, devnet, args.out);
    summary.validatorKilled = await killedValidatorTurnsRed(browser, args.console, devnet, args.out, devnet.manifest.validators.length - 1);
  }
  if (args.synthetic) {
    const page = await browser.open(`${args.console}/#/market/${args.synthetic}`);
    await page.waitFor('window.tokenbookConsole?.firstLadderMs !== undefined', 20000);
    await sleep(2000);
    const read = '({ ...window.tokenbookConsole.book, t: performance.now() })';
    const a = await page.evaluate(read);
    await sleep(Number(args.seconds) * 1000);
    const b = await page.evaluate(read);
    const secs = (b.t - a.t) / 1000;
    summary.ladderUnderLoad = {
      seconds: +secs.toFixed(1),
      updatesPerSecond: Math.round((b.updatesApplied - a.updatesApplied) / secs),
      framesPerSecond: +((b.framesRendered - a.framesRendered) / secs).toFixed(1),
      maxApplyLagMs: +b.maxApplyLagMs.toFixed(1),
      maxRenderLagMs: +b.maxRenderLagMs.toFixed(1),
      applyMsPerUpdate: +((b.applyMsTotal - a.applyMsTotal) / Math.max(1, b.messages - a.messages)).toFixed(4),
      gaps: b.gaps, reconnects: b.reconnects, resyncs: b.resyncs, lastSeq: b.lastSeq,
    };
    await page.screenshot(join(args.out, 'market-synthetic.png'));
    page.close();
  }
} catch (e) {
  failed = e.message;
} finally {
  browser.close();
  await devnet?.cleanup();
}
console.log(JSON.stringify(summary, null, 1));
if (failed) { console.error(`FAILED ${failed}`); process.exit(1); }
