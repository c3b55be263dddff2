// The benchmarks' history: every run is kept under bench/results/ (committed), and a run prints
// each figure's change against the last run of the same benchmark on the same machine, so a
// regression shows the day it lands. Figures from another machine or kernel are not a change.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';

export type Row = Record<string, string | number>;

export interface Machine {
  kernel: string;
  cpus: number;
  cpuModel?: string;
  memoryBytes: number;
  node: string;
}

export interface SavedRun {
  name: string;
  at: string;
  /** The commit measured (with "+dirty" when the tree had changes). */
  commit?: string;
  machine: Machine;
  /** Columns that name a row (besides its text columns). */
  keys?: string[];
  rows: Row[];
}

export function thisMachine(): Machine {
  return { kernel: release(), cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version };
}

export function commitOf(repo: string): string | undefined {
  try {
    const head = execFileSync('git', ['-C', repo, 'rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

/** Same hardware, memory and kernel (Node's version is recorded, not compared). */
export function sameMachine(a: Machine, b: Machine): boolean {
  return a.cpuModel === b.cpuModel && a.cpus === b.cpus && a.memoryBytes === b.memoryBytes && a.kernel === b.kernel;
}

/** The newest saved run of `name` on `machine` in `dir`. */
export function lastRun(dir: string, name: string, machine: Machine): SavedRun | undefined {
  if (!existsSync(dir)) return undefined;
  let best: SavedRun | undefined;
  for (const f of readdirSync(dir)) {
    if (!f.startsWith(`${name}-`) || !f.endsWith('.json')) continue;
    let run: SavedRun;
    try {
      run = JSON.parse(readFileSync(join(dir, f), 'utf8')) as SavedRun;
    } catch {
      continue;
    }
    if (run.name !== name || !run.machine || !sameMachine(run.machine, machine)) continue;
    if (!best || run.at > best.at) best = run;
  }
  return best;
}

/** A row's identity: its text columns and the named key columns, in column order. */
function rowKey(row: Row, keys: readonly string[]): string {
  return JSON.stringify(Object.entries(row).filter(([k, v]) => typeof v === 'string' || keys.includes(k)));
}

const percent = (now: number, was: number): string => {
  if (was === now) return '=';
  if (was === 0) return 'was 0';
  const p = ((now - was) / Math.abs(was)) * 100;
  return `${p > 0 ? '+' : ''}${p.toFixed(Math.abs(p) < 10 ? 1 : 0)}%`;
};

/**
 * The rows with, after each figure (a number not in `keys`), its change against the same row of
 * `previous`: "+4.2%", "=", or "new" for a row the earlier run did not have.
 */
export function withChange(rows: readonly Row[], previous: SavedRun | undefined, keys: readonly string[]): Row[] {
  if (!previous) return [...rows];
  const before = new Map(previous.rows.map((r) => [rowKey(r, keys), r]));
  return rows.map((row) => {
    const was = before.get(rowKey(row, keys));
    const out: Row = {};
    for (const [k, v] of Object.entries(row)) {
      out[k] = v;
      if (typeof v !== 'number' || keys.includes(k)) continue;
      const old = was?.[k];
      out[`${k} Δ`] = typeof old === 'number' ? percent(v, old) : 'new';
    }
    return out;
  });
}
