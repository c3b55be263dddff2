// Map operations at scale: entries per second for writing and reading back 1,000,000 entries
// of a hash map, libbpfjs batch operations (BPF_MAP_*_BATCH) against bpftool doing the same
// (`bpftool batch file` of updates, `bpftool map dump`), on the same map type and entries.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfMap, MapType } from 'libbpfjs';
import { report, type Row } from './common.js';

const N = Number(process.env.WEIR_BENCH_MAP_ENTRIES ?? 1_000_000);
const KEY = 16; // a conntrack key
const VALUE = 24; // a conntrack entry

function entries(): { keys: Buffer; values: Buffer } {
  const keys = Buffer.alloc(N * KEY);
  const values = Buffer.alloc(N * VALUE);
  for (let i = 0; i < N; i++) {
    keys.writeUInt32LE(i, i * KEY);
    keys.writeUInt32LE(0x0a000001, i * KEY + 4);
    values.writeUInt32LE(i, i * VALUE);
  }
  return { keys, values };
}

const rate = (ms: number): number => Math.round(N / (ms / 1000));

export async function benchMapOps(): Promise<Row[]> {
  const dir = mkdtempSync('/sys/fs/bpf/weir-bench-mapops-');
  const work = mkdtempSync(join(tmpdir(), 'weir-bench-mapops-'));
  const { keys, values } = entries();
  const rows: Row[] = [];
  try {
    // libbpfjs
    const m = BpfMap.create({ type: MapType.Hash, keySize: KEY, valueSize: VALUE, maxEntries: N, name: 'bench_lib' });
    let t = performance.now();
    for (let off = 0; off < N; off += 100_000) {
      const n = Math.min(100_000, N - off);
      await m.updateBatchPacked(keys.subarray(off * KEY, (off + n) * KEY), values.subarray(off * VALUE, (off + n) * VALUE));
    }
    const libUpdate = performance.now() - t;
    t = performance.now();
    let read = 0;
    for await (const b of m.lookupBatchesPacked(65536)) read += b.count;
    const libLookup = performance.now() - t;
    m.close();
    rows.push({ tool: 'libbpfjs (batch)', op: 'update', entries: N, ms: Math.round(libUpdate), 'entries/s': rate(libUpdate) });
    rows.push({ tool: 'libbpfjs (batch)', op: 'lookup all', entries: read, ms: Math.round(libLookup), 'entries/s': rate(libLookup) });

    // bpftool
    const pin = join(dir, 'bench_tool');
    execFileSync('bpftool', ['map', 'create', pin, 'type', 'hash', 'key', String(KEY), 'value', String(VALUE), 'entries', String(N), 'name', 'bench_tool']);
    const hex = (b: Buffer) => [...b].map((x) => `0x${x.toString(16).padStart(2, '0')}`).join(' ');
    const lines: string[] = [];
    for (let i = 0; i < N; i++) lines.push(`map update pinned ${pin} key ${hex(keys.subarray(i * KEY, (i + 1) * KEY))} value ${hex(values.subarray(i * VALUE, (i + 1) * VALUE))}`);
    const batch = join(work, 'updates.txt');
    writeFileSync(batch, `${lines.join('\n')}\n`);
    t = performance.now();
    execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore', maxBuffer: 1 << 30 });
    const toolUpdate = performance.now() - t;
    t = performance.now();
    const dumped = execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', pin], { maxBuffer: 1 << 30 }).length;
    const toolLookup = performance.now() - t;
    rows.push({ tool: 'bpftool', op: 'update (batch file)', entries: N, ms: Math.round(toolUpdate), 'entries/s': rate(toolUpdate) });
    rows.push({ tool: 'bpftool', op: 'lookup all (map dump -j)', entries: N, ms: Math.round(toolLookup), 'entries/s': rate(toolLookup) });
    void dumped;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
  report('mapops', `Map operations on a hash map of ${N.toLocaleString('en')} entries (key ${KEY} B, value ${VALUE} B)`, rows, ['entries']);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchMapOps();
