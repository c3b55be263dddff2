// Conntrack garbage collection. The tables are LRU hashes, so they never refuse a new flow, but
// without GC they would sit full of closed and idle flows: map pressure would say nothing, and
// live flows would be the ones evicted. Expiry is CLOCK_MONOTONIC seconds, the clock of
// bpf_ktime_get_ns(), which is also what process.hrtime reads.
import type { Ct4Key, CtEntry } from '../../common/maps/conntrack.js';
import type { TypedMap } from '../maps/typed.js';

export function monotonicSeconds(): number {
  return Number(process.hrtime.bigint() / 1_000_000_000n);
}

export interface GcResult {
  scanned: number;
  deleted: number;
}

const EXPIRES_OFFSET = 0;

/**
 * Deletes every entry whose expiry has passed. A candidate is read again just before it is
 * deleted, so a flow a packet revived during the scan is kept (the window left is one lookup).
 */
export async function collectConntrack(map: TypedMap<Ct4Key, CtEntry>, now = monotonicSeconds(), chunk = 4096): Promise<GcResult> {
  let scanned = 0;
  const expired: Buffer[] = [];
  for await (const batch of map.raw.lookupBatches(chunk)) {
    scanned += batch.length;
    for (const { key, value } of batch) if (value.readUInt32LE(EXPIRES_OFFSET) < now) expired.push(key);
  }
  // One delete per key: a batch delete stops at the first key the LRU already evicted.
  let deleted = 0;
  for (const k of expired) {
    const v = map.raw.lookup(k);
    if (v !== null && v.readUInt32LE(EXPIRES_OFFSET) < now && map.raw.delete(k)) deleted++;
  }
  return { scanned, deleted };
}
