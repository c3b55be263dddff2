// An ELF BPF object read as plain data (cilium/ebpf's CollectionSpec): its maps and programs
// with every setting libbpf takes before load. Edit it freely; loadCollection() opens the ELF,
// applies the spec, loads, and returns the live maps and programs. Nothing is half-loaded: the
// spec has no kernel state, the collection has no load-time settings.
import { Collection } from './collection.js';
import { BpfMap } from './map.js';
import { native, type NativeObjectHandle } from './native.js';
import { BpfProgram } from './program.js';

export interface MapSpec {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  maxEntries: number;
  readonly flags: number;
  /** .bss, .data, .rodata, .kconfig: libbpf's own maps. */
  readonly internal: boolean;
  /** Declared LIBBPF_PIN_BY_NAME: pinned under the spec's pinRoot, a compatible pin reused. */
  readonly pinnedByName: boolean;
  /** Where to pin (and look for a pin to reuse); null: not pinned. */
  pinPath: string | null;
  /** Use this existing map instead of creating one (its type and sizes must match). */
  reuse?: BpfMap;
  /** The inner map template of a map-in-map. */
  innerMap?: BpfMap;
  /** false: the map is not created (programs using it must not load either). */
  create: boolean;
}

export interface ProgramSpec {
  readonly name: string;
  readonly section: string;
  readonly type: number;
  readonly expectedAttachType: number;
  /** false: the program is not loaded. */
  load: boolean;
}

export interface ReadOptions {
  /** Directory for maps declared with LIBBPF_PIN_BY_NAME (default /sys/fs/bpf). */
  pinRoot?: string;
  /** Bytes kept for the verifier log of a failed load (default 4 MiB). */
  kernelLogSize?: number;
}

export class ObjectSpec {
  private constructor(
    readonly path: string,
    readonly options: ReadOptions,
    readonly maps: ReadonlyMap<string, MapSpec>,
    readonly programs: ReadonlyMap<string, ProgramSpec>,
  ) {}

  /** Reads an object's maps and programs; throws BpfError (ENOENT, EINVAL) for a bad file. */
  static read(path: string, opts: ReadOptions = {}): ObjectSpec {
    const h = native.objectOpen(path, opts);
    try {
      const maps = new Map(
        native.objectMaps(h).map(({ fd: _fd, pinned: _pinned, ...m }) => [m.name, { ...m, pinnedByName: m.pinPath !== null, create: true }] as const),
      );
      const programs = new Map(native.objectPrograms(h).map(({ fd: _fd, autoload, ...p }) => [p.name, { ...p, load: autoload }] as const));
      return new ObjectSpec(path, opts, maps, programs);
    } finally {
      native.objectClose(h);
    }
  }

  map(name: string): MapSpec {
    const m = this.maps.get(name);
    if (!m) throw new Error(`${this.path} declares no map ${name}`);
    return m;
  }

  program(name: string): ProgramSpec {
    const p = this.programs.get(name);
    if (!p) throw new Error(`${this.path} declares no program ${name}`);
    return p;
  }
}

/** Creates the spec's maps and verifies and loads its programs; throws BpfLoadError with the verifier log. */
export async function loadCollection(spec: ObjectSpec): Promise<Collection> {
  const h = native.objectOpen(spec.path, spec.options);
  try {
    apply(h, spec);
    await native.objectLoad(h);
    const maps = new Map<string, BpfMap>();
    const programs = new Map<string, BpfProgram>();
    try {
      for (const m of spec.maps.values()) if (m.create) maps.set(m.name, new BpfMap(native.objectMapFd(h, m.name)));
      for (const p of spec.programs.values()) if (p.load) programs.set(p.name, new BpfProgram(native.objectProgFd(h, p.name), p.name));
    } catch (e) {
      for (const x of [...maps.values(), ...programs.values()]) x.close();
      throw e;
    }
    return new Collection(spec.path, maps, programs);
  } finally {
    // The collection owns duplicated fds: libbpf's state is not needed after load.
    native.objectClose(h);
  }
}

/** Opens and loads in one step, with `maxEntries` applied: for objects that need no other edits. */
export async function loadObject(path: string, opts: ReadOptions & { maxEntries?: Record<string, number> } = {}): Promise<Collection> {
  const spec = ObjectSpec.read(path, opts);
  for (const [name, n] of Object.entries(opts.maxEntries ?? {})) spec.map(name).maxEntries = n;
  return loadCollection(spec);
}

function apply(h: NativeObjectHandle, spec: ObjectSpec): void {
  const declared = new Map(native.objectMaps(h).map((m) => [m.name, m]));
  for (const m of spec.maps.values()) {
    const d = declared.get(m.name);
    if (!d) throw new Error(`${spec.path} changed since it was read: no map ${m.name}`);
    if (!m.create) {
      native.objectMapSetAutocreate(h, m.name, false);
      continue;
    }
    if (m.maxEntries !== d.maxEntries) native.objectMapSetMaxEntries(h, m.name, m.maxEntries);
    if (m.reuse) {
      // A reused map is the caller's: never pinned (or pin-checked) by libbpf.
      native.objectMapSetPinPath(h, m.name, null);
      native.objectMapReuseFd(h, m.name, m.reuse.fd);
    } else if (m.pinPath !== d.pinPath) {
      native.objectMapSetPinPath(h, m.name, m.pinPath);
    }
    if (m.innerMap) native.objectMapSetInnerMapFd(h, m.name, m.innerMap.fd);
  }
  for (const p of spec.programs.values()) if (!p.load) native.objectProgSetAutoload(h, p.name, false);
}
