// Shared by the benchmarks: a results table on stdout and a JSON record under bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench');
export const repoRoot = join(benchRoot, '..');

export type Row = Record<string, string | number>;

export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(width[i] ?? 0)).join('  ');
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c] ?? ''))));
}

/** Writes bench/results/<name>-<timestamp>.json with the machine it ran on. */
export function saveResults(name: string, rows: Row[]): string {
  const dir = join(benchRoot, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const path = join(dir, `${name}-${stamp}.json`);
  const machine = { kernel: release(), cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version };
  writeFileSync(path, `${JSON.stringify({ name, at: new Date().toISOString(), machine, rows }, null, 2)}\n`);
  return path;
}
