// Shared by the benchmarks: a results table on stdout, each figure beside its change against the
// last run on this machine, and a JSON record under bench/results/ (bench/history.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commitOf, lastRun, thisMachine, withChange, type Row, type SavedRun } from './history.js';

export type { Row } from './history.js';

export const benchRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'bench');
export const repoRoot = join(benchRoot, '..');
const resultsDir = join(benchRoot, 'results');

export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(width[i] ?? 0)).join('  ');
  console.log(line(cols));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c] ?? ''))));
}

/**
 * Prints the table with each figure's change against the last run of `name` on this machine,
 * and saves this run as bench/results/<name>-<timestamp>.json. `keys`: number columns that name
 * a row rather than measure it (text columns always do).
 */
export function report(name: string, title: string, rows: Row[], keys: string[] = []): string {
  const machine = thisMachine();
  const previous = lastRun(resultsDir, name, machine);
  printTable(`${title}\n(change against ${previous ? `the run of ${previous.at} at ${previous.commit ?? 'an unrecorded commit'}` : 'nothing: no earlier run on this machine'})`, withChange(rows, previous, keys));
  const run: SavedRun = { name, at: new Date().toISOString(), commit: commitOf(repoRoot), machine, keys, rows };
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}-${run.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify(run, null, 2)}\n`);
  console.log(`saved ${path}`);
  return path;
}
