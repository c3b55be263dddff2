// Loads the datapath's BPF objects so that they share one instance of every map: each map is
// pinned by name under the node's pin root, sized from the node's computed sizes before load.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadCollection, ObjectSpec, type BpfMap, type BpfProgram, type Collection } from 'libbpfjs';
import { mapSpec } from '../../common/maps/index.js';
import { maxEntriesFor } from '../../common/maps/catalogue.js';
import type { MapSpec } from '../../common/maps/spec.js';
import { TypedMap } from '../maps/typed.js';

/** One object per attach point (bpf/*.c). */
export const DATAPATH_OBJECTS = ['xdp_prefilter', 'tc_endpoint', 'tc_nic', 'tc_overlay', 'tc_proxy', 'sock_lb', 'sock_fastpath'] as const;
export type DatapathObject = (typeof DATAPATH_OBJECTS)[number];

export interface LoadOptions {
  /** Directory of the compiled objects (build/bpf). */
  objectDir: string;
  /** bpffs directory the maps are pinned in (one per node). */
  pinRoot: string;
  /** NodeDatapath map sizes by sizing name (ct_tcp, lb, ...). */
  sizes: ReadonlyMap<string, number>;
  objects?: readonly DatapathObject[];
  /** Sizes of maps already pinned, which must be kept for libbpf to reuse them. */
  pinnedSizes?: ReadonlyMap<string, number>;
  /**
   * Maps to use instead of the pinned ones (a resize's new maps): not pinned by libbpf, whose
   * pin check would refuse them for differing from the pinned map of the same name.
   */
  replace?: ReadonlyMap<string, BpfMap>;
}

export class LoadedDatapath {
  private constructor(private readonly objects: Map<string, Collection>) {}

  static async load(opts: LoadOptions): Promise<LoadedDatapath> {
    const loaded = new Map<string, Collection>();
    try {
      for (const name of opts.objects ?? DATAPATH_OBJECTS) {
        const path = join(opts.objectDir, `${name}.o`);
        if (!existsSync(path)) throw new Error(`datapath object ${path} missing (run make -C bpf)`);
        const spec = ObjectSpec.read(path, { pinRoot: opts.pinRoot });
        // Internal maps (.bss, .rodata) have no sizing; every datapath map is named weir_*.
        for (const m of spec.maps.values()) {
          if (!m.name.startsWith('weir_')) continue;
          const replacement = opts.replace?.get(m.name);
          if (replacement) {
            m.maxEntries = replacement.maxEntries;
            m.reuse = replacement;
          } else {
            m.maxEntries = opts.pinnedSizes?.get(m.name) ?? maxEntriesFor(mapSpec(m.name), opts.sizes);
          }
        }
        loaded.set(name, await loadCollection(spec));
      }
    } catch (err) {
      for (const o of loaded.values()) o.close();
      throw err;
    }
    return new LoadedDatapath(loaded);
  }

  program(name: string): BpfProgram {
    for (const o of this.objects.values()) if (o.programs.has(name)) return o.program(name);
    throw new Error(`no datapath program ${name}`);
  }

  programNames(): string[] {
    return [...this.objects.values()].flatMap((o) => [...o.programs.keys()]);
  }

  /** A map by pinned name; every object holds the same instance. */
  rawMap(name: string): BpfMap {
    for (const o of this.objects.values()) if (o.maps.has(name)) return o.map(name);
    throw new Error(`no datapath map ${name}`);
  }

  map<K, V>(spec: MapSpec<K, V>): TypedMap<K, V> {
    return new TypedMap(spec, this.rawMap(spec.name));
  }

  close(): void {
    for (const o of this.objects.values()) o.close();
    this.objects.clear();
  }
}
