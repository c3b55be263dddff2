// Map contents synced by difference: read what the kernel holds, write only what differs, delete
// only what is no longer wanted. A live map is never cleared and refilled, so lookups racing
// with a sync see either the old or the new entry, never a hole.
import type { BpfMap } from 'libbpfjs';
import type { MapSpec } from '../../common/maps/spec.js';

interface RawEntry {
  key: Buffer;
  value: Buffer;
}

export interface MapDiff {
  upserts: RawEntry[];
  deletes: Buffer[];
  added: number;
  changed: number;
}

/** The map's current contents by hex key. Batched reads where the map type has them. */
export async function readContents(map: BpfMap, lpm: boolean): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  if (lpm) {
    for (const { key, value } of map.entries()) out.set(key.toString('hex'), value);
    return out;
  }
  for await (const batch of map.lookupBatches()) for (const { key, value } of batch) out.set(key.toString('hex'), value);
  return out;
}

export function diffContents(current: ReadonlyMap<string, Buffer>, desired: readonly RawEntry[]): MapDiff {
  const d: MapDiff = { upserts: [], deletes: [], added: 0, changed: 0 };
  const wanted = new Set<string>();
  for (const e of desired) {
    const hex = e.key.toString('hex');
    wanted.add(hex);
    const have = current.get(hex);
    if (!have) {
      d.added++;
      d.upserts.push(e);
    } else if (!have.equals(e.value)) {
      d.changed++;
      d.upserts.push(e);
    }
  }
  for (const hex of current.keys()) if (!wanted.has(hex)) d.deletes.push(Buffer.from(hex, 'hex'));
  return d;
}

export async function applyUpserts(map: BpfMap, lpm: boolean, entries: readonly RawEntry[]): Promise<void> {
  if (entries.length === 0) return;
  if (lpm) for (const e of entries) map.update(e.key, e.value);
  else await map.updateBatch(entries);
}

export async function applyDeletes(map: BpfMap, keys: readonly Buffer[]): Promise<void> {
  // One by one: a batch delete stops at the first key that is already gone (an LRU eviction).
  for (const k of keys) map.delete(k);
}

/** Encodes typed desired entries with the map's layouts. */
export function encodeEntries<K, V>(spec: MapSpec<K, V>, entries: ReadonlyArray<{ key: K; value: V }>): RawEntry[] {
  return entries.map((e) => ({ key: spec.key.encode(e.key), value: spec.value.encode(e.value) }));
}
