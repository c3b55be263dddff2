import { native } from './native.js';

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
