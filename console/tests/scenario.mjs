// scenario.mjs — the console's end-to-end checks that act on the network while a page watches:
// a scripted order seen on the ladder and its trade on the tape; a clearing event on the risk
// page; a validator killed turning red on the network page and green again once restarted.
//
// Promises: every action goes through what ships — the `tokenbook` CLI signs and submits (a
// governance listing by three members, a resting sell, a crossing IOC buy), and the validator is
// killed with SIGKILL and restarted with the same `tokenbook-node start --home` command the
// devnet used (its log appended to). Each check reads what the page shows (ladder and tape rows,
// the node's light), not the API. A validator this module restarted is stopped by `cleanup()`.
// Each step's wall time from the action to the page showing it is returned.

import { execFile, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The ladder's rows with a level, as the page shows them: {side, orders, lots, price}. */
export const LADDER_ROWS = `[...document.querySelectorAll('table.ladder tbody tr')]
  .filter((r) => r.cells.length === 4 && r.cells[1].textContent !== '')
  .map((r) => ({ side: r.cells[2].classList.contains('ask') ? 'ask' : 'bid', orders: r.cells[0].textContent,
    lots: r.cells[1].textContent, price: r.cells[2].textContent }))`;

/** The tape's rows, newest first, as the page shows them: {height, taker, price, lots}. */
export const TAPE_ROWS = `[...document.querySelectorAll('table.tape tbody tr')]
  .filter((r) => r.cells.length === 5)
  .map((r) => ({ height: r.cells[0].textContent, taker: r.cells[1].textContent, price: r.cells[2].textContent,
    lots: r.cells[3].textContent }))`;

export class Devnet {
  /** `net`: the devnet's directory (devnet.json, members/, traders/); `bin`: the binaries. */
  constructor(net, bin) {
    this.net = net;
    this.bin = bin;
    this.manifest = JSON.parse(readFileSync(join(net, 'devnet.json'), 'utf8'));
    this.api = this.manifest.validators[0].api;
    this.restarted = [];
  }

  /** Runs the CLI signed by `keyFile`; its JSON answer. */
  async cli(keyFile, ...args) {
    const { stdout } = await run(join(this.bin, 'tokenbook'), ['--json', '--node', this.api, '--key-file', keyFile, ...args]);
    return JSON.parse(stdout);
  }

  member(i) { return join(this.net, 'members', `member-${i}.key`); }
  trader(i) { return this.manifest.traders[i]; }

  /** Enacts a governance `action` (its JSON): member 0 proposes, the others approve until the
   *  quorum (> 2/3 of the validators' members) enacts it; the enacting receipt, which must hold
   *  an `expect` event. */
  async govern(action, expect) {
    let receipt = await this.cli(this.member(0), 'gov', 'propose', JSON.stringify(action));
    const proposal = receipt.events.find((e) => e.event === 'proposal_opened')?.proposal;
    if (proposal === undefined) throw new Error(`not proposed: ${JSON.stringify(receipt)}`);
    const members = this.manifest.validators.length;
    for (let approvals = 1, i = 1; approvals * 3 <= members * 2; approvals++, i++) {
      receipt = await this.cli(this.member(i), 'gov', 'approve', String(proposal));
    }
    if (!receipt.events.some((e) => e.event === expect)) throw new Error(`no ${expect}: ${JSON.stringify(receipt)}`);
    return receipt;
  }

  /** Lists a copy of `model` (a /v1/markets entry) as `symbol`. */
  listMarket(model, symbol) {
    const spec = {
      symbol, index: model.index, tick_size: model.tick_size, lot_size: model.lot_size,
      multiplier: model.multiplier, expiry: model.expiry, settlement_window_ms: model.settlement_window_ms,
      reference_price: model.mark, params: model.params,
    };
    return this.govern({ list_market: spec }, 'market_listed');
  }

  /** Governance moves `micro` micro-USD of fees to the insurance fund. */
  fundInsurance(micro) {
    return this.govern({ fund_insurance: { amount: String(micro) } }, 'insurance_funded');
  }

  /** Validator `i`'s process id (the devnet's pids file, or the one this module restarted). */
  pid(i) {
    const mine = this.restarted.find((r) => r.index === i);
    if (mine) return mine.child.pid;
    return Number(readFileSync(join(this.net, 'pids'), 'utf8').trim().split('\n')[i]);
  }

  kill(i) { process.kill(this.pid(i), 'SIGKILL'); }

  /** Starts validator `i` again as the devnet did, its stderr appended to its node.log. */
  restart(i) {
    const home = this.manifest.validators[i].home;
    const log = openSync(join(home, 'node.log'), 'a');
    const child = spawn(join(this.bin, 'tokenbook-node'), ['start', '--home', home], { stdio: ['ignore', 'ignore', log] });
    this.restarted.push({ index: i, child });
  }

  /** Stops the validators this module restarted (SIGTERM, SIGKILL after 15 s). */
  async cleanup() {
    for (const { child } of this.restarted) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      if (await Promise.race([exited.then(() => true), sleep(15000).then(() => false)]) === false) child.kill('SIGKILL');
    }
  }
}

/** A page-side predicate: the shown price text is `usd` dollars. */
const SAME_USD = "(shown, usd) => Number(shown.replace(/[^0-9.]/g, '')) === Number(usd)";

/**
 * On a freshly listed market (no other flow): a sell of 3 lots rests and the ladder shows it;
 * a buy of 2 crosses it and the tape shows the trade while the ladder drops to 1 lot.
 */
export async function orderOnLadderAndTape(browser, base, devnet, shots) {
  const model = (await (await fetch(`${devnet.api}/v1/markets`)).json())[0];
  const symbol = `CONSOLE-${Date.now().toString(36).toUpperCase()}`;
  await devnet.listMarket(model, symbol);
  const page = await browser.open(`${base}/#/market/${symbol}`);
  try {
    await page.waitFor('window.tokenbookConsole?.firstLadderMs !== undefined', 20000);
    const price = model.mark_usd;
    const [maker, taker] = [devnet.trader(2), devnet.trader(3)];
    let t = Date.now();
    const rest = await devnet.cli(maker, 'order', 'place', symbol, 'sell', '3', '--price', price);
    const committedRest = Date.now() - t;
    const p = JSON.stringify(price);
    const shownAsk = `((same) => (${LADDER_ROWS}).some((r) => r.side === 'ask' && r.lots === '3' && same(r.price, ${p})))(${SAME_USD})`;
    await page.waitFor(shownAsk, 10000)
      .catch((e) => { throw new Error(`the resting sell (${JSON.stringify(rest)}) is not on the ladder: ${e.message}`); });
    const restSeen = Date.now() - t;
    t = Date.now();
    const cross = await devnet.cli(taker, 'order', 'place', symbol, 'buy', '2', '--price', price, '--tif', 'ioc');
    const committedCross = Date.now() - t;
    const check = `((same) => (${TAPE_ROWS}).some((r) => r.lots === '2' && r.taker === 'buy' && same(r.price, ${p}))
      && (${LADDER_ROWS}).some((r) => r.side === 'ask' && r.lots === '1' && same(r.price, ${p})))(${SAME_USD})`;
    await page.waitFor(check, 10000)
      .catch((e) => { throw new Error(`the cross (${JSON.stringify(cross)}) is not on the tape and ladder: ${e.message}`); });
    const crossSeen = Date.now() - t;
    await page.screenshot(join(shots, 'market-scripted.png'));
    return { symbol, price, restCliMs: committedRest, restOnLadderMs: restSeen, crossCliMs: committedCross, tradeOnTapeMs: crossSeen };
  } finally {
    page.close();
  }
}

/** The risk page lists a clearing event no account's stream names: governance funding the
 *  insurance fund, with the receipt's height. */
export async function clearingEventIsListed(browser, base, devnet, shots) {
  const page = await browser.open(`${base}/#/clearing`);
  try {
    await page.waitFor('window.tokenbookConsole?.clearing?.readThrough > 0', 20000);
    const t = Date.now();
    const receipt = await devnet.fundInsurance(1_000_000);
    const row = `[...document.querySelectorAll('table tbody tr')].some((r) => r.cells.length === 4
      && r.cells[0].textContent === ${JSON.stringify(String(receipt.height))} && r.cells[2].textContent === 'insurance_funded')`;
    await page.waitFor(row, 15000)
      .catch((e) => { throw new Error(`the insurance funding at height ${receipt.height} is not listed: ${e.message}`); });
    const shown = Date.now() - t;
    await page.screenshot(join(shots, 'clearing-event.png'));
    return { height: receipt.height, listedMs: shown };
  } finally {
    page.close();
  }
}

/** The network page: validator `index` SIGKILLed turns red; restarted, it is green again. */
export async function killedValidatorTurnsRed(browser, base, devnet, shots, index) {
  const page = await browser.open(`${base}/#/network`);
  const url = JSON.stringify(devnet.manifest.validators[index].api);
  const row = `window.tokenbookConsole.network.nodes.findIndex((n) => n.url === ${url})`;
  const light = `(document.querySelectorAll('table.nodes tbody tr')[${row}]?.querySelector('.light')?.className ?? '')`;
  const node = `window.tokenbookConsole?.network?.nodes?.find((n) => n.url === ${url})`;
  try {
    await page.waitFor(`window.tokenbookConsole?.network?.nodes?.every((n) => n.verdict === 'match')`, 30000);
    let t = Date.now();
    devnet.kill(index);
    await page.waitFor(`${node}?.verdict === 'unreachable' && /\\bbad\\b/.test(${light})`, 20000);
    const red = Date.now() - t;
    await page.screenshot(join(shots, 'network-validator-down.png'));
    t = Date.now();
    devnet.restart(index);
    await page.waitFor(`window.tokenbookConsole.network.nodes.every((n) => n.verdict === 'match') && /\\bok\\b/.test(${light})`, 60000);
    const green = Date.now() - t;
    await page.screenshot(join(shots, 'network-validator-recovered.png'));
    return { validator: index, redAfterKillMs: red, greenAfterRestartMs: green, height: await page.evaluate(`${node}.height`) };
  } finally {
    page.close();
  }
}
