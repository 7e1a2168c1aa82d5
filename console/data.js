// data.js — reads several views share: markets, index records, the globals record.
//
// Promises:
// - `loadMarkets()` is `GET /v1/markets` with maps by id and symbol;
// - `loadIndex(id)` reads the index record from `GET /v1/state/06‖id`, verifies its proof
//   against the answer's state root in the browser (console/proof.js) and decodes it
//   (console/records.js): {height, record, proofError}. The API's /v1/markets names only the
//   index id, so this is where the console finds the index price and its TWAP accumulator.
// - `loadGlobals()` does the same for the globals record (block time, next account id).

import { getJson } from './api.js';
import { toHex } from './codec.js';
import { verifyStateAnswer } from './proof.js';
import { decodeGlobalsPrefix, decodeIndex, GLOBALS_KEY, indexKey } from './records.js';

export async function loadMarkets() {
  const list = await getJson('/v1/markets');
  return { list, byId: new Map(list.map((m) => [m.id, m])), bySymbol: new Map(list.map((m) => [m.symbol, m])) };
}

async function provenRecord(key, decode) {
  const answer = await getJson(`/v1/state/${toHex(key)}`);
  let proofError = null;
  try { await verifyStateAnswer(answer); } catch (e) { proofError = e.message; }
  const record = answer.value === null ? null : decode(answer.value);
  return { height: answer.height, stateRoot: answer.state_root, record, proofError };
}

export const loadIndex = (id) => provenRecord(indexKey(id), decodeIndex);
export const loadGlobals = () => provenRecord(GLOBALS_KEY, decodeGlobalsPrefix);
