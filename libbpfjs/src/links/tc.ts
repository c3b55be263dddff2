// Legacy TC: a direct-action cls_bpf filter on the clsact qdisc, through netlink (no link).
// Kernels before 6.6 have no tcx; filters are ordered by priority and owned by (handle, priority).
import { native } from '../native.js';
import type { BpfProgram } from '../program.js';

export type TcDirection = 'ingress' | 'egress';

/** A direct-action cls_bpf filter on a clsact hook, identified by handle and priority. */
export interface TcFilter {
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly handle: number;
  readonly priority: number;
  readonly progId: number;
}

/** Ensures the clsact qdisc exists; returns false when it was already there. */
export function tcEnsureClsact(ifindex: number): boolean {
  return native.tcHookCreate(ifindex, 'ingress');
}

/** Removes the clsact qdisc and every filter on it (ours and anyone else's: use with care). */
export function tcDestroyClsact(ifindex: number): boolean {
  return native.tcHookDestroy(ifindex);
}

/** Removes one filter; returns false when it was not there. */
export function tcDetach(f: Pick<TcFilter, 'ifindex' | 'direction' | 'handle' | 'priority'>): boolean {
  return native.tcDetach(f.ifindex, f.direction, f.handle, f.priority);
}

/** Program id of the filter at (handle, priority), or null. */
export function tcQuery(ifindex: number, direction: TcDirection, handle: number, priority: number): number | null {
  return native.tcQuery(ifindex, direction, handle, priority);
}

/**
 * Attaches a direct-action filter (clsact created if missing). `replace` swaps the program of an
 * existing (handle, priority) filter in place.
 */
export function attachTc(prog: BpfProgram, ifindex: number, direction: TcDirection, opts: { handle?: number; priority?: number; replace?: boolean } = {}): TcFilter {
  native.tcHookCreate(ifindex, direction);
  const r = native.tcAttach(ifindex, direction, prog.fd, opts.handle ?? 1, opts.priority ?? 1, opts.replace ?? false);
  return { ifindex, direction, ...r };
}
