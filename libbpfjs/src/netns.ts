import { native } from './native.js';

/**
 * Runs `fn` with the calling (main) thread inside the network namespace at `path`, e.g.
 * `/var/run/netns/NAME`. Netlink attach calls (XDP, TC, tcx) made inside resolve ifindexes there.
 * `fn` must be synchronous: awaiting inside it would run other callbacks in the wrong namespace.
 */
export function withNetns<T>(path: string, fn: () => T): T {
  return native.withNetns(path, fn);
}

/** Interface index by name in the calling thread's network namespace. */
export function ifindex(name: string): number {
  return native.ifNameToIndex(name);
}
