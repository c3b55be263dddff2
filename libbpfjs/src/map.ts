import { unlinkSync } from 'node:fs';
import { MapType, PERCPU_MAP_TYPES, UpdateFlags } from './constants.js';
import { invalidArgument, isNoSpace } from './errors.js';
import { FdOwner } from './fd.js';
import { native, type NativeMapInfo } from './native.js';

export type MapInfo = NativeMapInfo;

export interface MapCreateSpec {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  name?: string;
  flags?: number;
  /** Template for the inner maps of an array/hash of maps. */
  innerMap?: BpfMap;
  /** map_extra: the number of hash functions of a bloom filter. */
  mapExtra?: number;
}

export interface Entry {
  key: Buffer;
  value: Buffer;
}

let possibleCpus: number | undefined;

/** Number of possible CPUs: the per-CPU value array length the kernel expects. */
export function numPossibleCpus(): number {
  possibleCpus ??= native.numPossibleCpus();
  return possibleCpus;
}

/** A BPF map, by fd. Keys and values are raw bytes; codecs live with each map's owner. */
export class BpfMap extends FdOwner {
  readonly info: MapInfo;
  /** Bytes of one value as user space reads and writes it (per-CPU maps hold one slot per CPU). */
  readonly valueBytes: number;

  /** Takes ownership of `fd`. */
  constructor(fd: number) {
    super(fd);
    this.info = native.mapInfo(fd);
    this.valueBytes = PERCPU_MAP_TYPES.has(this.info.type)
      ? roundUp8(this.info.valueSize) * numPossibleCpus()
      : this.info.valueSize;
  }

  static create(spec: MapCreateSpec): BpfMap {
    const fd = native.mapCreate(spec.type, spec.keySize, spec.valueSize, spec.maxEntries, {
      name: spec.name,
      flags: spec.flags,
      innerMapFd: spec.innerMap?.fd,
      mapExtra: spec.mapExtra,
    });
    return new BpfMap(fd);
  }

  static openPinned(path: string): BpfMap {
    return new BpfMap(native.objGet(path));
  }

  static fromId(id: number): BpfMap {
    return new BpfMap(native.fdById('map', id));
  }

  get name(): string {
    return this.info.name;
  }
  get type(): number {
    return this.info.type;
  }
  get keySize(): number {
    return this.info.keySize;
  }
  get valueSize(): number {
    return this.info.valueSize;
  }
  get maxEntries(): number {
    return this.info.maxEntries;
  }
  get isPerCpu(): boolean {
    return PERCPU_MAP_TYPES.has(this.info.type);
  }

  /** Re-reads the kernel's view (the id and sizes do not change; useful after a pin/reopen). */
  refreshInfo(): MapInfo {
    return native.mapInfo(this.fd);
  }

  lookup(key: Buffer): Buffer | null {
    this.checkKey('map lookup', key);
    return native.mapLookup(this.fd, key, this.valueBytes);
  }

  /** For per-CPU maps: one value per possible CPU. */
  lookupPerCpu(key: Buffer): Buffer[] | null {
    if (!this.isPerCpu) throw invalidArgument('map lookup', `${this.name} is not a per-CPU map`);
    const raw = this.lookup(key);
    return raw === null ? null : splitPerCpu(raw, this.valueSize);
  }

  update(key: Buffer, value: Buffer, flags: number = UpdateFlags.Any): void {
    this.checkKey('map update', key);
    this.checkValue('map update', value);
    native.mapUpdate(this.fd, key, value, flags);
  }

  /** Returns false when the key was not there. */
  delete(key: Buffer): boolean {
    this.checkKey('map delete', key);
    return native.mapDelete(this.fd, key);
  }

  lookupAndDelete(key: Buffer): Buffer | null {
    this.checkKey('map lookup and delete', key);
    return native.mapLookupAndDelete(this.fd, key, this.valueBytes);
  }

  /** Walks keys with get_next_key. Concurrent deletes may restart the walk (kernel semantics). */
  *keys(): Generator<Buffer> {
    let key: Buffer | null = null;
    for (;;) {
      key = native.mapNextKey(this.fd, key, this.keySize);
      if (key === null) return;
      yield key;
    }
  }

  *entries(): Generator<Entry> {
    for (const key of this.keys()) {
      const value = native.mapLookup(this.fd, key, this.valueBytes);
      if (value !== null) yield { key, value };
    }
  }

  /** Counts entries by walking keys: cost is O(entries), meant for metrics at scrape time. */
  count(): number {
    let n = 0;
    for (const _ of this.keys()) n++;
    return n;
  }

  /** Reads the whole map in batches of `chunk` (BPF_MAP_LOOKUP_BATCH). */
  async *lookupBatches(chunk = 4096, andDelete = false): AsyncGenerator<Entry[]> {
    for await (const b of this.lookupBatchesPacked(chunk, andDelete)) yield splitEntries(b.keys, b.values, b.count, this.keySize, this.valueBytes);
  }

  /**
   * Like lookupBatches, with each batch's keys and values packed back to back, as the kernel
   * returns them: no per-entry buffers (a map-to-map copy feeds them to updateBatchPacked).
   */
  async *lookupBatchesPacked(chunk = 4096, andDelete = false): AsyncGenerator<{ keys: Buffer; values: Buffer; count: number }> {
    if (chunk <= 0) throw invalidArgument('map lookup batch', 'chunk must be positive');
    let cursor: Buffer | null = null;
    for (;;) {
      let r;
      try {
        r = await native.mapLookupBatch(this.fd, cursor, this.keySize, this.valueBytes, chunk, andDelete);
      } catch (e) {
        // A hash bucket larger than the chunk cannot be returned: retry the same cursor bigger.
        if (isNoSpace(e)) {
          chunk *= 2;
          continue;
        }
        throw e;
      }
      if (r.count > 0) yield { keys: r.keys.subarray(0, r.count * this.keySize), values: r.values.subarray(0, r.count * this.valueBytes), count: r.count };
      if (r.done) return;
      cursor = r.nextBatch;
    }
  }

  async lookupAll(chunk = 4096): Promise<Entry[]> {
    const out: Entry[] = [];
    for await (const batch of this.lookupBatches(chunk)) out.push(...batch);
    return out;
  }

  /** Writes entries with BPF_MAP_UPDATE_BATCH; returns how many were written. */
  async updateBatch(entries: readonly Entry[], flags: number = UpdateFlags.Any): Promise<number> {
    if (entries.length === 0) return 0;
    const keys = Buffer.allocUnsafe(entries.length * this.keySize);
    const values = Buffer.allocUnsafe(entries.length * this.valueBytes);
    entries.forEach((e, i) => {
      this.checkKey('map update batch', e.key);
      this.checkValue('map update batch', e.value);
      e.key.copy(keys, i * this.keySize);
      e.value.copy(values, i * this.valueBytes);
    });
    return (await native.mapUpdateBatch(this.fd, keys, values, entries.length, flags)).count;
  }

  /** Same as updateBatch with keys and values already packed back to back. */
  async updateBatchPacked(keys: Buffer, values: Buffer, flags: number = UpdateFlags.Any): Promise<number> {
    const count = keys.length / this.keySize;
    if (!Number.isInteger(count) || values.length !== count * this.valueBytes)
      throw invalidArgument('map update batch', 'packed keys and values do not match the map layout');
    if (count === 0) return 0;
    return (await native.mapUpdateBatch(this.fd, keys, values, count, flags)).count;
  }

  /** Deletes keys with BPF_MAP_DELETE_BATCH; a missing key fails the batch with ENOENT. */
  async deleteBatch(keys: readonly Buffer[]): Promise<number> {
    if (keys.length === 0) return 0;
    const packed = Buffer.allocUnsafe(keys.length * this.keySize);
    keys.forEach((k, i) => {
      this.checkKey('map delete batch', k);
      k.copy(packed, i * this.keySize);
    });
    return (await native.mapDeleteBatch(this.fd, packed, keys.length)).count;
  }

  /** Map-in-map: stores `inner` at `key` of this outer map. */
  setInner(key: Buffer, inner: BpfMap): void {
    if (this.type !== MapType.ArrayOfMaps && this.type !== MapType.HashOfMaps)
      throw invalidArgument('map update', `${this.name} is not a map of maps`);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(inner.fd);
    this.update(key, v);
  }

  /** Map-in-map: the id of the inner map at `key` (the kernel returns ids to user space). */
  innerId(key: Buffer): number | null {
    const v = this.lookup(key);
    return v === null ? null : v.readUInt32LE(0);
  }

  freeze(): void {
    native.mapFreeze(this.fd);
  }

  pin(path: string): void {
    native.objPin(this.fd, path);
  }

  private checkKey(op: string, key: Buffer): void {
    if (key.length !== this.keySize)
      throw invalidArgument(op, `key is ${key.length} bytes, map ${this.name} takes ${this.keySize}`);
  }

  private checkValue(op: string, value: Buffer): void {
    if (value.length !== this.valueBytes)
      throw invalidArgument(op, `value is ${value.length} bytes, map ${this.name} takes ${this.valueBytes}`);
  }
}

/** Removes a pin from bpffs; the object lives on while other references hold it. */
export function unpin(path: string): void {
  unlinkSync(path);
}

function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

function splitPerCpu(raw: Buffer, valueSize: number): Buffer[] {
  const stride = roundUp8(valueSize);
  const out: Buffer[] = [];
  for (let off = 0; off < raw.length; off += stride) out.push(raw.subarray(off, off + valueSize));
  return out;
}

/** Splits a per-CPU value read from a lookup (or batch) into one buffer per CPU. */
export function perCpuValues(raw: Buffer, valueSize: number): Buffer[] {
  return splitPerCpu(raw, valueSize);
}

function splitEntries(keys: Buffer, values: Buffer, count: number, keySize: number, valueBytes: number): Entry[] {
  const out: Entry[] = new Array<Entry>(count);
  for (let i = 0; i < count; i++) {
    out[i] = {
      key: keys.subarray(i * keySize, (i + 1) * keySize),
      value: values.subarray(i * valueBytes, (i + 1) * valueBytes),
    };
  }
  return out;
}
