// A BPF map seen through its layouts: typed keys and values instead of buffers.
import { UpdateFlags, type BpfMap } from 'libbpfjs';
import { isLpm, type MapSpec } from '../../common/maps/spec.js';

export class TypedMap<K, V> {
  constructor(
    readonly spec: MapSpec<K, V>,
    readonly raw: BpfMap,
  ) {}

  get(key: K): V | undefined {
    const v = this.raw.lookup(this.spec.key.encode(key));
    return v ? this.spec.value.decode(v) : undefined;
  }

  set(key: K, value: V, flags: number = UpdateFlags.Any): void {
    this.raw.update(this.spec.key.encode(key), this.spec.value.encode(value), flags);
  }

  delete(key: K): boolean {
    return this.raw.delete(this.spec.key.encode(key));
  }

  *entries(): Generator<{ key: K; value: V }> {
    for (const { key, value } of this.raw.entries()) yield { key: this.spec.key.decode(key), value: this.spec.value.decode(value) };
  }

  count(): number {
    return this.raw.count();
  }

  /** Many updates: one batch syscall per chunk where the map type has batch operations. */
  async setMany(entries: ReadonlyArray<{ key: K; value: V }>): Promise<void> {
    if (entries.length === 0) return;
    if (isLpm(this.spec)) {
      for (const e of entries) this.set(e.key, e.value);
      return;
    }
    await this.raw.updateBatch(entries.map((e) => ({ key: this.spec.key.encode(e.key), value: this.spec.value.encode(e.value) })));
  }

  async deleteMany(keys: readonly K[]): Promise<void> {
    if (keys.length === 0) return;
    if (isLpm(this.spec)) {
      for (const k of keys) this.delete(k);
      return;
    }
    await this.raw.deleteBatch(keys.map((k) => this.spec.key.encode(k)));
  }
}
