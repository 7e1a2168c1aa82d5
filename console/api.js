// api.js — how the console talks to nodes: JSON, bytes and text over HTTP, WebSocket URLs.
//
// Promises:
// - `BASE` is the node the page belongs to: always its own origin (console/dev-server.py proxies
//   the API and the streams for development). No query parameter may point the page at another
//   node: a link could otherwise show a member, under its own node's address, another party's
//   numbers.
// - `get*(path, {base})` fetch from `base` (default BASE) with a timeout; a non-2xx answer throws
//   `ApiError` with the node's JSON `{code, message}` and the HTTP status; a network failure or
//   timeout throws ApiError with status 0 and code `unreachable`.
// - `wsUrl(path, base)` turns http(s) into ws(s) for the streams (same origin by default).
// - `memberNodes()` lists the other member nodes from `GET /v1/console` (`{"nodes": [url…]}`);
//   a node without that route (404) or with an empty list means "this node only".

export const BASE = (globalThis.location?.origin || 'http://127.0.0.1:8080').replace(/\/+$/, '');

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, { base = BASE, timeoutMs = 8000, signal } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  if (signal) signal.addEventListener('abort', () => controller.abort(), { once: true });
  let response;
  try {
    response = await fetch(base + path, { signal: controller.signal, cache: 'no-store' });
  } catch (e) {
    const why = controller.signal.aborted ? `did not answer within ${timeoutMs / 1000} s` : `did not answer (${e.message})`;
    throw new ApiError(0, 'unreachable', `${base} ${why}`);
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    let code = `http_${response.status}`;
    let message = `${path}: HTTP ${response.status}`;
    try {
      const body = await response.json();
      code = body.code ?? code;
      message = body.message ?? message;
    } catch { /* not JSON */ }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

export const getJson = async (path, o) => (await request(path, o)).json();
export const getText = async (path, o) => (await request(path, o)).text();
export const getBytes = async (path, o) => new Uint8Array(await (await request(path, o)).arrayBuffer());

export function wsUrl(path, base = BASE) {
  return base.replace(/^http/, 'ws') + path;
}

/** Other member nodes' base URLs (not including this one), or [] for "this node only". */
export async function memberNodes() {
  try {
    const answer = await getJson('/v1/console', { timeoutMs: 3000 });
    const list = Array.isArray(answer?.nodes) ? answer.nodes : [];
    return [...new Set(list.map((u) => String(u).replace(/\/+$/, '')))];
  } catch {
    return [];
  }
}
