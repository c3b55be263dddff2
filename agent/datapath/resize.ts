// Map resize without cutting connections. A BPF map's size is fixed at creation, and programs
// hold their maps by fd, so a resize is: create the new maps, copy the live entries, load a new
// program set bound to them, and swap every pinned link to the new programs (BPF_LINK_UPDATE,
// atomic per link, never detach-then-attach). While the switch runs, CFG_DRAIN keeps new flows
// from starting (their clients retry), so no flow is born in a map about to be replaced; the
// final copy runs under it, so every live flow is in the new maps before any program uses them.
//
// Crash safety lives in bpffs, as everything else: new maps are pinned under <pin root>/resize/
// until the switch is complete. On start, a leftover resize/ is rolled back if no link runs a
// program using its maps yet, and rolled forward otherwise (see recoverResize).
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfLink, BpfMap, BpfProgram, MapType, UpdateFlags } from 'libbpfjs';
import type { Logger } from '../../common/log.js';
import { configMap, ConfigFlags } from '../../common/maps/config.js';
import { ct4Key, CtPath, CtScope, ctEntry } from '../../common/maps/conntrack.js';
import { mapSpec } from '../../common/maps/index.js';
import { isLpm } from '../../common/maps/spec.js';
import { sock4Key } from '../../common/maps/sockmap.js';
import type { LinkSet } from './links.js';
import { LoadedDatapath } from './objects.js';

export interface ResizeChange {
  map: string;
  from: number;
  to: number;
}

export class ResizeRefused extends Error {
  override name = 'ResizeRefused';
}

export interface ResizeReport {
  changes: ResizeChange[];
  copied: Record<string, number>;
  /** Fast-path sockets whose flows were retired because a map their sk_msg program reads was replaced. */
  fastPathRetired: number;
  /** Bulk copy while traffic flows. */
  copyMs: number;
  /** New flows held back: the final copy plus the switch. */
  drainMs: number;
  totalMs: number;
}

const RESIZE_DIR = 'resize';

/** Copies every entry (BPF_ANY: the source is at least as new); returns how many. */
export async function copyEntries(from: BpfMap, to: BpfMap, lpm: boolean): Promise<number> {
  let n = 0;
  if (lpm) {
    for (const { key, value } of from.entries()) {
      to.update(key, value);
      n++;
    }
    return n;
  }
  for await (const b of from.lookupBatchesPacked(16384)) {
    await to.updateBatchPacked(b.keys, b.values, UpdateFlags.Any);
    n += b.count;
  }
  return n;
}

function setDrain(dp: LoadedDatapath, on: boolean): void {
  const cfg = dp.map(configMap);
  const c = cfg.get({ index: 0 });
  if (!c) return;
  const flags = on ? c.flags | ConfigFlags.Drain : c.flags & ~ConfigFlags.Drain;
  if (flags !== c.flags) cfg.set({ index: 0 }, { ...c, flags });
}

export interface ResizeContext {
  pinRoot: string;
  objectDir: string;
  sizes: ReadonlyMap<string, number>;
  links: LinkSet;
  drainTimeoutMs: number;
  log: Logger;
}

/**
 * Resizes `changes` on the running datapath `dp`; returns the new datapath (the caller closes
 * the old one). Refuses, changing nothing, a shrink below a map's live entries.
 */
export async function resizeMaps(dp: LoadedDatapath, changes: readonly ResizeChange[], ctx: ResizeContext): Promise<{ dp: LoadedDatapath; report: ResizeReport }> {
  const t0 = performance.now();
  const old = new Map(changes.map((c) => [c.map, dp.rawMap(c.map)]));
  for (const c of changes) {
    const live = old.get(c.map)?.count() ?? 0;
    if (c.to < live) throw new ResizeRefused(`${c.map}: ${live} live entries do not fit in ${c.to}; nothing was changed`);
  }
  const staging = join(ctx.pinRoot, RESIZE_DIR);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging);
  const fresh = new Map<string, BpfMap>();
  let next: LoadedDatapath | undefined;
  let draining = false;
  const copied: Record<string, number> = {};
  try {
    for (const c of changes) {
      const src = old.get(c.map);
      if (!src) throw new Error(`no map ${c.map}`);
      const info = src.refreshInfo();
      const m = BpfMap.create({ type: info.type, keySize: info.keySize, valueSize: info.valueSize, maxEntries: c.to, flags: info.flags, name: c.map.slice(0, 15) });
      m.pin(join(staging, c.map));
      fresh.set(c.map, m);
    }
    // Sockets cannot be read out of a sockhash: a new one starts empty and fills as sockets are
    // established; live ones keep the old map through their attached program until they close.
    const copyable = changes.filter((c) => old.get(c.map)?.type !== MapType.SockHash);
    for (const c of copyable) copied[c.map] = await copyEntries(old.get(c.map) as BpfMap, fresh.get(c.map) as BpfMap, isLpm(mapSpec(c.map)));
    const copyMs = performance.now() - t0;

    // The new programs load before the drain: nothing runs them until their links switch.
    next = await LoadedDatapath.load({ objectDir: ctx.objectDir, pinRoot: ctx.pinRoot, sizes: ctx.sizes, replace: fresh, pinnedSizes: pinnedSizesOf(ctx.pinRoot, changes) });
    setDrain(dp, true);
    draining = true;
    const drainStart = performance.now();
    // In-flight programs finish within microseconds; then the old maps only change for flows
    // that already exist, and the final copy catches those changes.
    await new Promise((r) => setTimeout(r, 5));
    const fastPathRetired = retireFastPath(dp, changes);
    for (const c of copyable) copied[c.map] = await copyEntries(old.get(c.map) as BpfMap, fresh.get(c.map) as BpfMap, isLpm(mapSpec(c.map)));
    if (performance.now() - drainStart > ctx.drainTimeoutMs) throw new Error(`copy under drain took over the drain timeout of ${ctx.drainTimeoutMs} ms; switched back`);

    const switched = ctx.links.switchPrograms(dp, next);
    ctx.log.info({ links: switched.length }, 'resize: programs switched to the new maps');
    // Crash tests kill the agent at the worst moment: programs switched, pins not yet moved.
    if (process.env.WEIR_FAILPOINT === 'resize-after-switch') process.kill(process.pid, 'SIGKILL');
    // The new maps take the canonical pins; the old ones are released when their last program goes.
    for (const c of changes) {
      rmSync(join(ctx.pinRoot, c.map), { force: true });
      fresh.get(c.map)?.pin(join(ctx.pinRoot, c.map));
    }
    rmSync(staging, { recursive: true, force: true });
    setDrain(next, false);
    draining = false;
    const drainMs = performance.now() - drainStart;
    for (const m of fresh.values()) m.close();
    return { dp: next, report: { changes: [...changes], copied, fastPathRetired, copyMs, drainMs, totalMs: performance.now() - t0 } };
  } catch (err) {
    // Nothing switched yet (a switch failure leaves links as they were: each update is atomic
    // and the loop stops at the first failure, whose link still runs the old program).
    if (draining) setDrain(dp, false);
    next?.close();
    for (const m of fresh.values()) m.close();
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A socket keeps the sk_msg program its sockhash had when it joined (the kernel copies the
 * programs into the socket's psock), and with it the maps that program was loaded against. When a
 * resize replaces one of those maps, live fast-path sockets run a program bound to the old one.
 * Their flows are retired (CT_PATH_RETIRED): no direction of theirs joins the fast path any more,
 * and a direction already on it leaves for the stack, where the new TC programs judge it, at the
 * next policy change, since the old program's policy view may be stale. A redirected direction is
 * not moved at the switch itself: its receiver may still hold redirected bytes, and a read that
 * finds both queues filled is short (enum ct_path in bpf/lib/conntrack.h). Runs under the drain,
 * before the final copy, so the new conntrack map gets the marks too. Returns how many sockets'
 * flows were retired.
 */
function retireFastPath(dp: LoadedDatapath, changes: readonly ResizeChange[]): number {
  if (!dp.programNames().includes('sk_msg_fastpath')) return 0;
  const used = new Set(dp.program('sk_msg_fastpath').mapIds());
  if (!changes.some((c) => used.has(dp.rawMap(c.map).refreshInfo().id))) return 0;
  const socks = dp.rawMap('weir_sock4');
  const ct = dp.rawMap('weir_ct4_tcp');
  let moved = 0;
  for (const raw of socks.keys()) {
    const s = sock4Key.decode(raw);
    let found = false;
    // sk_msg looks the flow up with either end as the initiator; mark what it would find.
    for (const [saddr, daddr, sport, dport] of [
      [s.sip, s.dip, s.sport, s.dport],
      [s.dip, s.sip, s.dport, s.sport],
    ] as const) {
      for (const scope of [CtScope.Egress, CtScope.Ingress]) {
        const key = ct4Key.encode({ saddr, daddr, sport, dport, proto: 6, scope, pad: 0 });
        const v = ct.lookup(key);
        if (!v) continue;
        found = true;
        const e = ctEntry.decode(v);
        if (e.path & CtPath.Retired) continue;
        ct.update(key, ctEntry.encode({ ...e, path: e.path | CtPath.Retired }), UpdateFlags.Exist);
      }
    }
    if (found) moved++;
  }
  return moved;
}

/** Sizes of the maps that stay as they are (pinned), so libbpf reuses them. */
function pinnedSizesOf(pinRoot: string, changes: readonly ResizeChange[]): Map<string, number> {
  const out = new Map<string, number>();
  const changed = new Set(changes.map((c) => c.map));
  for (const name of readdirSync(pinRoot)) {
    if (!name.startsWith('weir_') || changed.has(name)) continue;
    const m = BpfMap.openPinned(join(pinRoot, name));
    out.set(name, m.maxEntries);
    m.close();
  }
  return out;
}

/**
 * Finishes or undoes a resize a crashed agent left. Runs before the datapath is loaded.
 * Returns what it did, or null when there was nothing to recover.
 */
export async function recoverResize(ctx: Omit<ResizeContext, 'drainTimeoutMs'>): Promise<'rolled-back' | 'rolled-forward' | null> {
  const staging = join(ctx.pinRoot, RESIZE_DIR);
  if (!existsSync(staging)) return null;
  const staged = new Map(readdirSync(staging).map((name) => [name, BpfMap.openPinned(join(staging, name))]));
  try {
    const stagedIds = new Set([...staged.values()].map((m) => m.refreshInfo().id));
    const linked = ctx.links.programIds();
    let forward = false;
    for (const id of linked) {
      const prog = BpfProgram.fromId(id);
      if (prog.mapIds().some((m) => stagedIds.has(m))) forward = true;
      prog.close();
    }
    const changes = [...staged].map(([map, m]) => ({ map, from: 0, to: m.maxEntries }));
    if (!forward) {
      rmSync(staging, { recursive: true, force: true });
      const old = await LoadedDatapath.load({ objectDir: ctx.objectDir, pinRoot: ctx.pinRoot, sizes: ctx.sizes, pinnedSizes: pinnedSizesOf(ctx.pinRoot, []) });
      setDrain(old, false);
      old.close();
      ctx.log.warn({ maps: changes.map((c) => c.map) }, 'resize interrupted before the switch: rolled back to the old maps');
      return 'rolled-back';
    }
    // Some links already run programs on the new maps: finish the switch for all of them.
    const next = await LoadedDatapath.load({ objectDir: ctx.objectDir, pinRoot: ctx.pinRoot, sizes: ctx.sizes, replace: staged, pinnedSizes: pinnedSizesOf(ctx.pinRoot, changes) });
    try {
      for (const pin of ctx.links.pinned()) {
        const link = BpfLink.openPinned(join(ctx.links.dir, pin));
        try {
          const name = programName(link.info().progId, next.programNames());
          if (name) link.update(next.program(name));
        } finally {
          link.close();
        }
      }
      for (const [map, m] of staged) {
        rmSync(join(ctx.pinRoot, map), { force: true });
        m.pin(join(ctx.pinRoot, map));
      }
      rmSync(staging, { recursive: true, force: true });
      setDrain(next, false);
    } finally {
      next.close();
    }
    ctx.log.warn({ maps: changes.map((c) => c.map) }, 'resize interrupted during the switch: finished it on the new maps');
    return 'rolled-forward';
  } finally {
    for (const m of staged.values()) m.close();
  }
}

/** The object's name of a loaded program: the kernel keeps only its first 15 characters. */
function programName(id: number, names: readonly string[]): string | undefined {
  const prog = BpfProgram.fromId(id);
  try {
    const kernelName = prog.info().name;
    return names.find((n) => n.slice(0, 15) === kernelName);
  } finally {
    prog.close();
  }
}
