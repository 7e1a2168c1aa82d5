// view-common.js — what views share: a poller that never overlaps itself, and the test handle.
//
// Promises: `every(ms, fn)` runs `fn` now and then `ms` after each run finishes (a slow node
// never piles requests up; a failure is logged to window.tokenbookConsole.errors); the returned
// function stops it. `tc()` is window.tokenbookConsole.
// `marketStatusClass(status)` maps a market status to a light colour.

export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { console.error(e); globalThis.tokenbookConsole?.errors.push(String(e?.message ?? e)); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}

export const tc = () => globalThis.tokenbookConsole;

export const marketStatusClass = (s) => ({ active: 'ok', pre_open: 'idle', halted: 'warn', settling: 'warn', settled: 'idle' }[s] ?? 'idle');
