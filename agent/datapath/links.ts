// Attachments as pinned bpf_links under <pin root>/links/, one file per (hook, target). Pinned
// links outlive the agent, so traffic keeps its programs while the agent is down; a new agent
// adopts each link by swapping in its freshly loaded program (BPF_LINK_UPDATE, atomic) instead
// of detaching and attaching again.
//
// Kernels before 6.6 have no tcx: there a TC attachment is a direct-action cls_bpf filter on the
// clsact qdisc, at Weir's own handle and the first priority, so Weir's program runs before other
// filters on the hook and leaves them alone. A filter belongs to the qdisc, not to a file: its
// program is pinned as links/<name>-cls to say it is ours, and a new agent adopts it by replacing
// the filter's program (an atomic swap in the kernel, as tc filter replace).
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { attachCgroup, attachTc, attachTcx, attachXdpLink, AttachType, BpfLink, BpfProgram, isGone, isNotExist, tcDetach, tcQuery, tcxSupported, withNetns, type TcDirection } from 'libbpfjs';
import type { LoadedDatapath } from './objects.js';

export type LinkKind = 'xdp' | 'tcx-ingress' | 'tcx-egress' | 'cgroup';

export interface WantedLink {
  /** File name under links/, unique per hook and target. */
  name: string;
  program: string;
  kind: LinkKind;
  /** Interface index (xdp, tcx) in the node's namespace, or the cgroup directory. */
  ifindex?: number;
  xdpMode?: 'driver' | 'generic';
  cgroup?: string;
  cgroupAttachType?: number;
  /** Human form for status, e.g. "tcx ingress lxc12ab". */
  describe: string;
}

export interface LinkReport {
  created: string[];
  adopted: string[];
  removed: string[];
  failed: Array<{ name: string; error: string }>;
}

const CGROUP_TYPES: Record<string, number> = {
  sock_connect4: AttachType.CgroupInet4Connect,
  sock_sendmsg4: AttachType.CgroupUdp4Sendmsg,
  sock_recvmsg4: AttachType.CgroupUdp4Recvmsg,
  sock_ops_fastpath: AttachType.CgroupSockOps,
};

export const cgroupLinks = (cgroup: string, programs: readonly string[]): WantedLink[] =>
  programs.map((program) => ({ name: `cgroup-${program}`, program, kind: 'cgroup', cgroup, cgroupAttachType: CGROUP_TYPES[program], describe: `cgroup ${cgroup}` }));

/** Weir's cls_bpf filters: handle "WE", the first priority (runs before others on the hook). */
export const TC_HANDLE = 0x5745;
export const TC_PRIORITY = 1;
// bpffs refuses dots in names.
const LEGACY = '-cls';

interface TcTarget {
  ifindex: number;
  direction: TcDirection;
}

/** A TC attachment's interface and direction, from its WantedLink or its pin's name. */
function tcTarget(name: string, w?: WantedLink): TcTarget | undefined {
  if (w?.kind === 'tcx-ingress' || w?.kind === 'tcx-egress') return { ifindex: w.ifindex ?? 0, direction: w.kind === 'tcx-ingress' ? 'ingress' : 'egress' };
  const m = /-(\d+)-(ingress|egress)$/.exec(name);
  return m ? { ifindex: Number(m[1]), direction: m[2] as TcDirection } : undefined;
}

export class LinkSet {
  readonly dir: string;
  /** Whether TC attachments are tcx links (6.6+) or cls_bpf filters, as the kernel offers. */
  readonly tcx: boolean;

  constructor(
    pinRoot: string,
    private readonly netns: string | null,
    tcx?: boolean,
  ) {
    this.dir = join(pinRoot, 'links');
    this.tcx = tcx ?? this.inNetns(() => tcxSupported());
  }

  private inNetns<T>(fn: () => T): T {
    return this.netns ? withNetns(this.netns, fn) : fn();
  }

  pinned(): string[] {
    return existsSync(this.dir) ? readdirSync(this.dir) : [];
  }

  /** A cls_bpf filter running `prog` at Weir's handle and priority (replacing its program if there). */
  private attachFilter(prog: BpfProgram, name: string, t: TcTarget): void {
    this.inNetns(() => attachTc(prog, t.ifindex, t.direction, { handle: TC_HANDLE, priority: TC_PRIORITY, replace: true }));
    const pin = join(this.dir, name + LEGACY);
    rmSync(pin, { force: true });
    prog.pin(pin);
  }

  /** The program a filter of ours runs now, or null when the filter is gone (its interface was). */
  private filterProgram(t: TcTarget | undefined): number | null {
    return t ? this.inNetns(() => tcQuery(t.ifindex, t.direction, TC_HANDLE, TC_PRIORITY)) : null;
  }

  private detachFilter(name: string): void {
    const t = tcTarget(name);
    try {
      if (t) this.inNetns(() => tcDetach({ ...t, handle: TC_HANDLE, priority: TC_PRIORITY }));
    } catch (err) {
      // The interface (or its namespace) went away, and its filters with it.
      if (!isGone(err)) throw err;
    }
    rmSync(join(this.dir, name + LEGACY), { force: true });
  }

  private attach(dp: LoadedDatapath, w: WantedLink): BpfLink {
    const prog: BpfProgram = dp.program(w.program);
    switch (w.kind) {
      case 'xdp':
        return this.inNetns(() => attachXdpLink(prog, w.ifindex ?? 0, w.xdpMode ?? 'driver'));
      case 'tcx-ingress':
        return this.inNetns(() => attachTcx(prog, w.ifindex ?? 0, 'ingress'));
      case 'tcx-egress':
        return this.inNetns(() => attachTcx(prog, w.ifindex ?? 0, 'egress'));
      case 'cgroup':
        if (!w.cgroup || w.cgroupAttachType === undefined) throw new Error(`link ${w.name}: no cgroup or attach type`);
        return attachCgroup(prog, w.cgroup, w.cgroupAttachType);
    }
  }

  /**
   * Makes the pinned links exactly `wanted`, each running `dp`'s program: adopts (updates) the
   * ones that exist, creates the missing, removes the rest. A link whose interface went away
   * (or was replaced by one with the same index) is recreated.
   */
  reconcile(dp: LoadedDatapath, wanted: readonly WantedLink[]): LinkReport {
    mkdirSync(this.dir, { recursive: true });
    const report: LinkReport = { created: [], adopted: [], removed: [], failed: [] };
    const want = new Map(wanted.map((w) => [w.name, w]));
    for (const pin of this.pinned().filter((p) => p.endsWith(LEGACY))) {
      const name = pin.slice(0, -LEGACY.length);
      const w = want.get(name);
      try {
        if (!w) {
          this.detachFilter(name);
          report.removed.push(name);
          continue;
        }
        const prog = dp.program(w.program);
        const t = tcTarget(name, w);
        const running = this.filterProgram(t);
        if (running === prog.info().id) continue;
        this.attachFilter(prog, name, t!);
        (running === null ? report.created : report.adopted).push(name);
      } catch (err) {
        report.failed.push({ name, error: err instanceof Error ? err.message : String(err) });
      }
    }
    for (const name of this.pinned().filter((p) => !p.endsWith(LEGACY))) {
      const w = want.get(name);
      const path = join(this.dir, name);
      let link: BpfLink;
      try {
        link = BpfLink.openPinned(path);
      } catch (err) {
        // Unpinned meanwhile: nothing to adopt. Anything else is reported, and the pin kept.
        if (!isNotExist(err)) report.failed.push({ name, error: err instanceof Error ? err.message : String(err) });
        continue;
      }
      try {
        const info = link.info();
        const stale = !w || (w.ifindex !== undefined && info.ifindex !== w.ifindex);
        if (stale) {
          link.detach();
          rmSync(path, { force: true });
          if (!w) report.removed.push(name);
          continue;
        }
        const prog = dp.program(w.program);
        if (info.progId !== prog.info().id) {
          link.update(prog);
          report.adopted.push(name);
        }
      } catch (err) {
        report.failed.push({ name, error: err instanceof Error ? err.message : String(err) });
      } finally {
        link.close();
      }
    }
    const have = new Set(this.pinned().map((p) => (p.endsWith(LEGACY) ? p.slice(0, -LEGACY.length) : p)));
    for (const w of wanted) {
      if (have.has(w.name)) continue;
      try {
        if (!this.tcx && (w.kind === 'tcx-ingress' || w.kind === 'tcx-egress')) {
          this.attachFilter(dp.program(w.program), w.name, tcTarget(w.name, w)!);
          report.created.push(w.name);
          continue;
        }
        const link = this.attach(dp, w);
        try {
          link.pin(join(this.dir, w.name));
        } catch (err) {
          link.detach();
          throw err;
        } finally {
          link.close();
        }
        report.created.push(w.name);
      } catch (err) {
        report.failed.push({ name: w.name, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return report;
  }

  /**
   * Swaps every pinned link from a program of `from` to the program of the same name in `to`,
   * each atomically (BPF_LINK_UPDATE with the expected old program): the switch of a resize.
   */
  switchPrograms(from: LoadedDatapath, to: LoadedDatapath): string[] {
    const nameById = new Map<number, string>();
    for (const name of from.programNames()) nameById.set(from.program(name).info().id, name);
    const switched: string[] = [];
    for (const pin of this.pinned().filter((p) => p.endsWith(LEGACY))) {
      const name = pin.slice(0, -LEGACY.length);
      const t = tcTarget(name);
      const running = this.filterProgram(t);
      const prog = running === null ? undefined : nameById.get(running);
      if (!t || !prog) continue;
      // tc filter replace swaps the program atomically, as BPF_LINK_UPDATE does.
      this.attachFilter(to.program(prog), name, t);
      switched.push(pin);
    }
    for (const pin of this.pinned().filter((p) => !p.endsWith(LEGACY))) {
      const link = BpfLink.openPinned(join(this.dir, pin));
      try {
        const name = nameById.get(link.info().progId);
        if (!name) continue;
        link.update(to.program(name), from.program(name));
        switched.push(pin);
      } finally {
        link.close();
      }
    }
    return switched;
  }

  /** Program ids the pinned links run. */
  programIds(): Set<number> {
    const ids = new Set<number>();
    for (const pin of this.pinned()) {
      if (pin.endsWith(LEGACY)) {
        const running = this.filterProgram(tcTarget(pin.slice(0, -LEGACY.length)));
        if (running !== null) ids.add(running);
        continue;
      }
      try {
        const link = BpfLink.openPinned(join(this.dir, pin));
        ids.add(link.info().progId);
        link.close();
      } catch (err) {
        // Unpinned meanwhile.
        if (!isNotExist(err)) throw err;
      }
    }
    return ids;
  }

  /** Detaches and unpins every link. */
  removeAll(): string[] {
    const removed: string[] = [];
    for (const name of this.pinned()) {
      const path = join(this.dir, name);
      if (name.endsWith(LEGACY)) {
        this.detachFilter(name.slice(0, -LEGACY.length));
        removed.push(name.slice(0, -LEGACY.length));
        continue;
      }
      try {
        const link = BpfLink.openPinned(path);
        link.detach();
        link.close();
      } catch (err) {
        // Already gone with its interface: the pin is all that is left.
        if (!isGone(err)) throw err;
      }
      rmSync(path, { force: true });
      removed.push(name);
    }
    rmSync(this.dir, { recursive: true, force: true });
    return removed;
  }
}
