// vectors.mjs — reads the fenced vector blocks (```proof-vector, ```vote-vector, …) of
// docs/wire-format.md into objects of their `name: value` lines, for the console's tests.
import { readFileSync } from 'node:fs';

export const wireFormat = readFileSync(new URL('../../docs/wire-format.md', import.meta.url), 'utf8');

export function vectors(kind, text = wireFormat) {
  const out = [];
  const fence = new RegExp('```' + kind + '\\n([\\s\\S]*?)```', 'g');
  for (const m of text.matchAll(fence)) {
    const v = {};
    for (const line of m[1].split('\n')) {
      const at = line.indexOf(': ');
      if (at > 0) v[line.slice(0, at)] = line.slice(at + 2).trim();
    }
    out.push(v);
  }
  return out;
}
