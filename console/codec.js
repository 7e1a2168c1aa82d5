// codec.js — bytes, hex, SHA-256 and the canonical binary layout, for the browser and Node.
//
// Promises (docs/wire-format.md, "Primitives"):
// - `Reader` reads bincode 2 with fixed-width little-endian integers exactly as the node writes
//   it: u8/u32/u64/i64/i128, bool (00/01 only), Option (00/01 tag), Vec/String (u64 count then
//   items), raw fixed arrays; plus the borsh forms the jmt proof uses (u32 counts, u8 tags).
//   It refuses input that ends early, bad bool/option tags, counts beyond the input, invalid
//   UTF-8 and (with `finish`) trailing bytes, throwing `DecodeError`.
// - 64- and 128-bit integers come back as BigInt (no precision is lost); `u64n` returns a Number
//   and refuses values above 2^53 − 1.
// - `sha256` is WebCrypto's (`crypto.subtle.digest`), asynchronous, in browsers and Node ≥ 20.
// - The USD formatters turn micro-USD (BigInt or decimal string) into fixed six-decimal strings
//   without passing through floating point.

export class DecodeError extends Error {}

const HEX = /^([0-9a-f]{2})*$/i;

/** Lower-case hex of bytes. */
export function toHex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** Bytes from hex (even length, 0-9 a-f); throws DecodeError otherwise. */
export function fromHex(hex) {
  if (typeof hex !== 'string' || !HEX.test(hex)) throw new DecodeError(`not hex: ${String(hex).slice(0, 40)}`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

/** Bytes given as bytes or hex. */
export function asBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return fromHex(value);
}

export function concat(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const ascii = (text) => new TextEncoder().encode(text);

/** SHA-256 of the concatenated parts (WebCrypto). */
export async function sha256(...parts) {
  const data = parts.length === 1 ? parts[0] : concat(...parts);
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', data));
}

/** Little-endian encoders for the few preimages the console builds. */
export function u32le(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}
export function u64le(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}
export function u64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}
export function u32be(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads the canonical layout front to back. */
export class Reader {
  constructor(bytes, what = 'value') {
    this.bytes = asBytes(bytes);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    this.pos = 0;
    this.what = what;
  }

  fail(message) {
    throw new DecodeError(`${this.what}: ${message} (at byte ${this.pos})`);
  }

  need(n) {
    if (this.pos + n > this.bytes.length) this.fail(`ends early: ${n} more bytes needed, ${this.bytes.length - this.pos} left`);
  }

  get remaining() { return this.bytes.length - this.pos; }

  take(n) {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u8() { this.need(1); return this.bytes[this.pos++]; }
  u32() { this.need(4); const v = this.view.getUint32(this.pos, true); this.pos += 4; return v; }
  i32() { this.need(4); const v = this.view.getInt32(this.pos, true); this.pos += 4; return v; }
  u64() { this.need(8); const v = this.view.getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64() { this.need(8); const v = this.view.getBigInt64(this.pos, true); this.pos += 8; return v; }
  i128() {
    this.need(16);
    const lo = this.view.getBigUint64(this.pos, true);
    const hi = this.view.getBigInt64(this.pos + 8, true);
    this.pos += 16;
    return (hi << 64n) + lo;
  }
  /** A u64 as a Number (refused above 2^53 − 1). */
  u64n() {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`integer ${v} too large`);
    return Number(v);
  }

  bool() {
    const b = this.u8();
    if (b > 1) this.fail(`bool tag ${b}`);
    return b === 1;
  }

  /** bincode / borsh Option: u8 tag 00 or 01. */
  option(read) {
    const tag = this.u8();
    if (tag === 0) return null;
    if (tag !== 1) this.fail(`option tag ${tag}`);
    return read();
  }

  /** An enum's u32 variant index (bincode), below `count`. */
  variant(count, name) {
    const v = this.u32();
    if (v >= count) this.fail(`unknown ${name} variant ${v}`);
    return v;
  }

  /** A count that cannot exceed what is left (each item at least `minItemBytes`). */
  count(n, minItemBytes) {
    if (minItemBytes > 0 && n * minItemBytes > this.remaining) this.fail(`length ${n} exceeds the input`);
    return n;
  }

  /** bincode Vec<T>: u64 count, then the items. */
  vec(read, minItemBytes = 1) {
    const n = this.count(this.u64n(), minItemBytes);
    const out = [];
    for (let i = 0; i < n; i++) out.push(read());
    return out;
  }

  /** bincode Vec<u8>. */
  bytesVec() {
    const n = this.u64n();
    return this.take(n);
  }

  string() {
    const raw = this.bytesVec();
    try { return utf8.decode(raw); } catch { return this.fail('invalid UTF-8'); }
  }

  finish() {
    if (this.pos !== this.bytes.length) this.fail(`${this.bytes.length - this.pos} trailing bytes`);
  }
}

// ---- numbers and USD ---------------------------------------------------------------------

/** BigInt from a JSON integer (number or decimal string). */
export function big(value) {
  if (value === null || value === undefined) return null;
  return typeof value === 'bigint' ? value : BigInt(value);
}

/** "1234567" → "1,234,567" (for integers as strings). */
export function groupDigits(text) {
  const neg = text.startsWith('-');
  const digits = neg ? text.slice(1) : text;
  return (neg ? '-' : '') + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Micro-USD (BigInt or string) → "1,234.567890" (six decimals, exact). */
export function microUsd(value, decimals = 2) {
  const v = big(value);
  if (v === null) return '—';
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const whole = abs / 1_000_000n;
  let frac = (abs % 1_000_000n).toString().padStart(6, '0');
  // Round half up to `decimals` (0–6) without floats.
  if (decimals < 6) {
    const scale = 10n ** BigInt(6 - decimals);
    let rounded = abs + scale / 2n;
    rounded -= rounded % scale;
    const w = rounded / 1_000_000n;
    frac = (rounded % 1_000_000n).toString().padStart(6, '0').slice(0, decimals);
    return (neg && rounded !== 0n ? '-' : '') + groupDigits(w.toString()) + (decimals ? '.' + frac : '');
  }
  return (neg ? '-' : '') + groupDigits(whole.toString()) + '.' + frac;
}

/** A decimal USD string from the API ("12.5", "0.010000") shown with grouping and 2–6 decimals. */
export function usdText(text) {
  if (text === null || text === undefined) return '—';
  let [w, f = ''] = String(text).split('.');
  f = f.replace(/0+$/, '').padEnd(2, '0');
  return groupDigits(w) + '.' + f;
}

/** Micro-USD as dollars for people: "$1,234.57", "-$0.50". */
export function usd(micro, decimals = 2) {
  const text = microUsd(micro, decimals);
  return text.startsWith('-') ? `-$${text.slice(1)}` : text === '—' ? text : `$${text}`;
}

/** An API decimal USD string as dollars: "$2.50", "-$3.00". */
export function dollars(text) {
  const t = usdText(text);
  return t.startsWith('-') ? `-$${t.slice(1)}` : t === '—' ? t : `$${t}`;
}

/** Ticks × tick size (micro-USD) → USD string with the tick's precision. */
export function ticksToUsd(ticks, tickSizeMicro) {
  const t = big(ticks);
  if (t === null) return '—';
  const micro = t * big(tickSizeMicro);
  // Show as many decimals as the tick size needs (at least 2).
  const tick = big(tickSizeMicro);
  let decimals = 6;
  while (decimals > 2 && tick % (10n ** BigInt(7 - decimals)) === 0n) decimals--;
  return microUsd(micro, decimals);
}
