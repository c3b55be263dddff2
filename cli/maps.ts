// `weir map list` / `weir map dump NAME`: a node's pinned maps, read from bpffs and decoded
// with the same layouts the agent uses (like `cilium-dbg bpf ... list`). Runs on the node, as root.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap, perCpuValues } from 'libbpfjs';
import { ALL_MAPS } from '../common/maps/index.js';
import { isPerCpu } from '../common/maps/spec.js';
import { table } from './status.js';

const TYPES: Record<number, string> = { 1: 'hash', 2: 'array', 5: 'percpu_hash', 9: 'lru_hash', 11: 'lpm_trie', 18: 'sockhash' };

export function listMaps(pinRoot: string): string {
  const rows = [['MAP', 'TYPE', 'MAX ENTRIES', 'ENTRIES', 'PRESSURE']];
  for (const spec of ALL_MAPS) {
    const path = join(pinRoot, spec.name);
    if (!existsSync(path)) continue;
    const m = BpfMap.openPinned(path);
    try {
      const entries = m.count();
      rows.push([spec.name, TYPES[m.type] ?? String(m.type), String(m.maxEntries), String(entries), `${((entries / m.maxEntries) * 100).toFixed(2)}%`]);
    } finally {
      m.close();
    }
  }
  if (rows.length === 1) throw new Error(`no Weir maps pinned under ${pinRoot} (is the agent running there? --bpffs-root or --node selects another)`);
  return table(rows);
}

const show = (v: unknown): string => {
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return v.toString();
  if (typeof v === 'string') return v;
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? '';
};

/** Every entry decoded, one line per entry: key fields, then value fields. */
export function dumpMap(pinRoot: string, name: string): string {
  const spec = ALL_MAPS.find((s) => s.name === name || s.name === `weir_${name}`);
  if (!spec) throw new Error(`unknown map ${name}; known: ${ALL_MAPS.map((s) => s.name.replace(/^weir_/, '')).join(', ')}`);
  const path = join(pinRoot, spec.name);
  if (!existsSync(path)) throw new Error(`${spec.name} is not pinned under ${pinRoot}`);
  const m = BpfMap.openPinned(path);
  try {
    if (spec.name === 'weir_sock4') return `${m.count()} sockets (socket entries cannot be read from user space)`;
    const keyCols = Object.keys(spec.key.fields);
    const valCols = Object.keys(spec.value.fields);
    const rows: string[][] = [[...keyCols.map((c) => c.toUpperCase()), '->', ...valCols.map((c) => c.toUpperCase())]];
    for (const { key, value } of m.entries()) {
      const k = spec.key.decode(key) as Record<string, unknown>;
      // Per-CPU values are summed field by field (counters).
      const slots = isPerCpu(spec) ? perCpuValues(value, spec.value.size).map((s) => spec.value.decode(s) as Record<string, unknown>) : [spec.value.decode(value) as Record<string, unknown>];
      const v = Object.fromEntries(valCols.map((c) => [c, slots.reduce<unknown>((a, s) => (typeof s[c] === 'bigint' ? ((a as bigint | undefined) ?? 0n) + (s[c]) : s[c]), undefined)]));
      rows.push([...keyCols.map((c) => show(k[c])), '->', ...valCols.map((c) => show(v[c]))]);
    }
    return `${table(rows)}\n${rows.length - 1} entries`;
  } finally {
    m.close();
  }
}
