// What the agent knows of each BPF map: its pinned name, the C header that declares it, its
// key/value layouts, and which operator-computed size governs its max_entries.
import type { MapName } from '../../operator/sizing/maps.js';
import type { Layout } from './layout.js';

export interface MapSizing {
  /** The NodeDatapath spec.maps entry whose maxEntries this map takes. */
  from: MapName;
  /** A bound the key type imposes (e.g. a 16-bit index). */
  max?: number;
}

export interface MapSpec<K, V> {
  /** Pinned name, as in the C declaration. */
  readonly name: string;
  /** bpf/lib header that declares it. */
  readonly header: string;
  readonly key: Layout<K>;
  readonly value: Layout<V>;
  readonly perCpu?: boolean;
  /** LPM tries: no batch operations in the kernel. */
  readonly lpm?: boolean;
  /** max_entries in the C declaration: used when no sizing applies. */
  readonly defaultMaxEntries: number;
  /** Null: the size is fixed (config, metrics). */
  readonly sizing: MapSizing | null;
}

/** The max_entries a map gets from the node's computed sizes. */
export function maxEntriesFor(spec: MapSpec<unknown, unknown>, sizes: ReadonlyMap<string, number>): number {
  if (!spec.sizing) return spec.defaultMaxEntries;
  const n = sizes.get(spec.sizing.from);
  if (n === undefined) throw new Error(`map ${spec.name}: no size for ${spec.sizing.from} in NodeDatapath`);
  return spec.sizing.max === undefined ? n : Math.min(n, spec.sizing.max);
}
