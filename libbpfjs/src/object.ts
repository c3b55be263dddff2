import { BpfMap } from './map.js';
import { native, type NativeMapSpec, type NativeObjectHandle, type NativeProgramSpec } from './native.js';
import { BpfProgram } from './program.js';

export type MapSpec = Omit<NativeMapSpec, 'fd'>;
export type ProgramSpec = Omit<NativeProgramSpec, 'fd'>;

export interface OpenOptions {
  /** Directory for maps declared with LIBBPF_PIN_BY_NAME (default /sys/fs/bpf). */
  pinRoot?: string;
  /** Bytes kept for the verifier log of a failed load (default 4 MiB). */
  kernelLogSize?: number;
}

/**
 * An ELF BPF object: open, adjust maps and programs, load, then take map and program handles.
 * Handles taken from the object own duplicated fds and outlive close().
 */
export class BpfObject {
  #h: NativeObjectHandle | null;
  readonly path: string;

  private constructor(path: string, h: NativeObjectHandle) {
    this.path = path;
    this.#h = h;
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    return new BpfObject(path, native.objectOpen(path, opts));
  }

  /** Opens and loads in one step, applying `maxEntries` first. */
  static async load(path: string, opts: OpenOptions & { maxEntries?: Record<string, number> } = {}): Promise<BpfObject> {
    const obj = BpfObject.open(path, opts);
    try {
      for (const [name, n] of Object.entries(opts.maxEntries ?? {})) obj.setMaxEntries(name, n);
      await obj.load();
      return obj;
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  private get h(): NativeObjectHandle {
    if (this.#h === null) throw new Error(`bpf object ${this.path} is closed`);
    return this.#h;
  }

  maps(): MapSpec[] {
    return native.objectMaps(this.h).map(({ fd: _fd, ...spec }) => spec);
  }

  programs(): ProgramSpec[] {
    return native.objectPrograms(this.h).map(({ fd: _fd, ...spec }) => spec);
  }

  mapSpec(name: string): MapSpec | undefined {
    return this.maps().find((m) => m.name === name);
  }

  /** Before load: the map's size. */
  setMaxEntries(map: string, n: number): this {
    native.objectMapSetMaxEntries(this.h, map, n);
    return this;
  }

  /** Before load: pin here, reusing a compatible map already pinned at that path. */
  setPinPath(map: string, path: string | null): this {
    native.objectMapSetPinPath(this.h, map, path);
    return this;
  }

  /** Before load: use an existing map instead of creating one (sizes must match). */
  reuseMap(map: string, existing: BpfMap): this {
    native.objectMapReuseFd(this.h, map, existing.fd);
    return this;
  }

  /** Before load: the inner map template of a map-in-map. */
  setInnerMap(map: string, inner: BpfMap): this {
    native.objectMapSetInnerMapFd(this.h, map, inner.fd);
    return this;
  }

  /** Before load: skip creating this map (programs using it must not load either). */
  setAutocreate(map: string, on: boolean): this {
    native.objectMapSetAutocreate(this.h, map, on);
    return this;
  }

  /** Before load: whether this program is loaded at all. */
  setAutoload(prog: string, on: boolean): this {
    native.objectProgSetAutoload(this.h, prog, on);
    return this;
  }

  /** Creates maps and verifies and loads programs; throws BpfLoadError with the verifier log. */
  async load(): Promise<void> {
    await native.objectLoad(this.h);
  }

  map(name: string): BpfMap {
    return new BpfMap(native.objectMapFd(this.h, name));
  }

  program(name: string): BpfProgram {
    return new BpfProgram(native.objectProgFd(this.h, name), name);
  }

  /** Releases libbpf's state; maps and programs stay alive while handles, pins or links hold them. */
  close(): void {
    if (this.#h === null) return;
    native.objectClose(this.#h);
    this.#h = null;
  }
}
