// Attachments as pinned bpf_links under <pin root>/links/, one file per (hook, target). Pinned
// links outlive the agent, so traffic keeps its programs while the agent is down; a new agent
// adopts each link by swapping in its freshly loaded program (BPF_LINK_UPDATE, atomic) instead
// of detaching and attaching again.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { attachCgroup, attachTcx, attachXdpLink, AttachType, BpfLink, isGone, isNotExist, withNetns, type BpfProgram } from 'libbpfjs';
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

export class LinkSet {
  readonly dir: string;

  constructor(
    pinRoot: string,
    private readonly netns: string | null,
  ) {
    this.dir = join(pinRoot, 'links');
  }

  private inNetns<T>(fn: () => T): T {
    return this.netns ? withNetns(this.netns, fn) : fn();
  }

  pinned(): string[] {
    return existsSync(this.dir) ? readdirSync(this.dir) : [];
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
    for (const name of this.pinned()) {
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
    const have = new Set(this.pinned());
    for (const w of wanted) {
      if (have.has(w.name)) continue;
      try {
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
    for (const pin of this.pinned()) {
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
