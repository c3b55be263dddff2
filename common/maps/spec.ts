// What every component knows of one BPF map: its pinned name, the C header that declares it, its
// kernel map type, key/value layouts, and how its max_entries is decided: by a sizing entry of
// the map catalogue (catalogue.ts), possibly clamped, or fixed.
import type { DemandKind, SizingName } from './catalogue.js';
import type { Layout } from './layout.js';

/** enum bpf_map_type values of the map types the datapath declares. */
export const MapType = { Hash: 1, Array: 2, PercpuHash: 5, LruHash: 9, LpmTrie: 11, Sockhash: 18 } as const;
export type MapType = (typeof MapType)[keyof typeof MapType];

export type MapSizing =
  | {
      /** The catalogue entry (NodeDatapath spec.maps name) whose size this map takes. */
      from: SizingName;
      /** A bound the key type imposes (a 16-bit index) or the kernel's cost does (sockhash). */
      clamp?: number;
      /** What the map must hold, checked by the operator before it overflows. */
      holds?: DemandKind;
    }
  | { fixed: number };

export interface MapSpec<K, V> {
  /** Pinned name, as in the C declaration. */
  readonly name: string;
  /** bpf/lib header that declares it. */
  readonly header: string;
  readonly type: MapType;
  readonly key: Layout<K>;
  readonly value: Layout<V>;
  readonly size: MapSizing;
}

export type AnyMapSpec = MapSpec<unknown, unknown>;

/** LPM tries: no batch operations in the kernel. */
export const isLpm = (spec: AnyMapSpec): boolean => spec.type === MapType.LpmTrie;
/** One value slot per possible CPU. */
export const isPerCpu = (spec: AnyMapSpec): boolean => spec.type === MapType.PercpuHash;
export type SizedMapSizing = Extract<MapSizing, { from: SizingName }>;
export const isSized = (spec: AnyMapSpec): spec is MapSpec<unknown, unknown> & { size: SizedMapSizing } => 'from' in spec.size;
