// data.js — reads several views share.
//
// Promises:
// - `loadMarkets()` is `GET /v1/markets` with maps by id and symbol (each entry carries its
//   index's price, freshness and TWAP, and while its settlement window is open the TWAP so far);
// - `getStatus()` is `GET /v1/status` (height, block time, validators, peers).

import { getJson } from './api.js';

export async function loadMarkets() {
  const list = await getJson('/v1/markets');
  return { list, byId: new Map(list.map((m) => [m.id, m])), bySymbol: new Map(list.map((m) => [m.symbol, m])) };
}

export const getStatus = () => getJson('/v1/status');
