import { join } from 'node:path';
import { bpffsDir, describePriv, fixture, runPinRoot } from '../test/env.js';
import { BpfMap, loadCollection, MapFlags, ObjectSpec, MapType, numPossibleCpus, unpin, UpdateFlags } from './index.js';

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

describePriv('BpfMap', () => {
  let map: BpfMap;
  beforeEach(() => {
    map = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 20_000, name: 'lbj_test' });
  });
  afterEach(() => map.close());

  it('reports its info', () => {
    expect(map.info).toMatchObject({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 20_000, name: 'lbj_test' });
    expect(map.info.id).toBeGreaterThan(0);
  });

  it('looks up, updates with flags and deletes', () => {
    expect(map.lookup(u32(1))).toBeNull();
    map.update(u32(1), u64(10));
    expect(map.lookup(u32(1))).toEqual(u64(10));
    expect(() => map.update(u32(1), u64(11), UpdateFlags.NoExist)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => map.update(u32(2), u64(11), UpdateFlags.Exist)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    map.update(u32(1), u64(12), UpdateFlags.Exist);
    expect(map.lookup(u32(1))).toEqual(u64(12));
    expect(map.delete(u32(1))).toBe(true);
    expect(map.delete(u32(1))).toBe(false);
  });

  it('looks up and deletes in one call', () => {
    map.update(u32(5), u64(50));
    expect(map.lookupAndDelete(u32(5))).toEqual(u64(50));
    expect(map.lookup(u32(5))).toBeNull();
  });

  it('iterates keys and entries', () => {
    for (let i = 0; i < 100; i++) map.update(u32(i), u64(i * 2));
    const keys = [...map.keys()].map((k) => k.readUInt32LE(0)).sort((a, b) => a - b);
    expect(keys).toEqual(Array.from({ length: 100 }, (_, i) => i));
    for (const { key, value } of map.entries()) expect(value.readBigUInt64LE(0)).toBe(BigInt(key.readUInt32LE(0) * 2));
    expect(map.count()).toBe(100);
  });

  it('updates, reads and deletes in batches', async () => {
    const entries = Array.from({ length: 15_000 }, (_, i) => ({ key: u32(i), value: u64(i + 1) }));
    expect(await map.updateBatch(entries)).toBe(15_000);
    const all = await map.lookupAll(1000);
    expect(all).toHaveLength(15_000);
    const sum = all.reduce((s, e) => s + Number(e.value.readBigUInt64LE(0)), 0);
    expect(sum).toBe((15_000 * 15_001) / 2);
    expect(await map.deleteBatch(entries.slice(0, 10_000).map((e) => e.key))).toBe(10_000);
    expect(map.count()).toBe(5_000);
  });

  it('reports how far a failing batch got', async () => {
    const small = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 8, maxEntries: 2 });
    const err = await small.updateBatch([1, 2, 3].map((i) => ({ key: u32(i), value: u64(i) }))).then(
      () => null,
      (e: unknown) => e as { code: string; processed: number },
    );
    expect(err?.code).toBe('E2BIG');
    expect(err?.processed).toBe(2);
    small.close();
  });

  it('refuses element flags the batch call does not take', async () => {
    await expect(map.updateBatch([{ key: u32(1), value: u64(1) }], UpdateFlags.NoExist)).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('drains a map with lookup-and-delete batches', async () => {
    await map.updateBatch(Array.from({ length: 300 }, (_, i) => ({ key: u32(i), value: u64(i) })));
    let seen = 0;
    for await (const batch of map.lookupBatches(64, true)) seen += batch.length;
    expect(seen).toBe(300);
    expect(map.count()).toBe(0);
  });

  it('rejects a key or value of the wrong size before calling the kernel', () => {
    expect(() => map.lookup(Buffer.alloc(3))).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('key is 3 bytes') }));
    expect(() => map.update(u32(1), Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('pins, opens the pin and unpins', () => {
    const pins = bpffsDir('lbj-map');
    try {
      const path = join(pins.dir, 'm');
      map.update(u32(3), u64(33));
      map.pin(path);
      const again = BpfMap.openPinned(path);
      expect(again.info.id).toBe(map.info.id);
      expect(again.lookup(u32(3))).toEqual(u64(33));
      again.close();
      unpin(path);
      expect(() => BpfMap.openPinned(path)).toThrow(expect.objectContaining({ code: 'ENOENT', op: 'open pinned' }));
    } finally {
      pins.cleanup();
    }
  });

  it('opens a map by id', () => {
    const byId = BpfMap.fromId(map.info.id);
    expect(byId.name).toBe('lbj_test');
    byId.close();
  });
});

describePriv('BpfMap kinds', () => {
  it('reads one value per possible CPU from a per-CPU map', () => {
    const m = BpfMap.create({ type: MapType.PercpuHash, keySize: 4, valueSize: 4, maxEntries: 4 });
    const ncpu = numPossibleCpus();
    const value = Buffer.alloc(8 * ncpu);
    for (let c = 0; c < ncpu; c++) value.writeUInt32LE(c + 100, c * 8);
    m.update(u32(1), value);
    expect(m.lookupPerCpu(u32(1))?.map((b) => b.readUInt32LE(0))).toEqual(Array.from({ length: ncpu }, (_, c) => c + 100));
    m.close();
  });

  it('matches the longest prefix in an LPM trie', () => {
    const m = BpfMap.create({ type: MapType.LpmTrie, keySize: 8, valueSize: 4, maxEntries: 8, flags: MapFlags.NoPrealloc });
    const key = (len: number, ip: string): Buffer => {
      const b = Buffer.alloc(8);
      b.writeUInt32LE(len, 0);
      Buffer.from(ip.split('.').map(Number)).copy(b, 4);
      return b;
    };
    m.update(key(8, '10.0.0.0'), u32(8));
    m.update(key(24, '10.1.2.0'), u32(24));
    expect(m.lookup(key(32, '10.1.2.3'))?.readUInt32LE(0)).toBe(24);
    expect(m.lookup(key(32, '10.9.9.9'))?.readUInt32LE(0)).toBe(8);
    expect(m.lookup(key(32, '11.0.0.1'))).toBeNull();
    m.close();
  });

  it('stores inner maps in a map of maps, read by a loaded program', async () => {
    const inner = BpfMap.create({ type: MapType.Array, keySize: 4, valueSize: 8, maxEntries: 1 });
    const spec = ObjectSpec.read(fixture('progs.bpf.o'), { pinRoot: runPinRoot() });
    spec.map('outer').innerMap = inner;
    const obj = await loadCollection(spec);
    const outer = obj.map('outer');
    expect(outer.type).toBe(MapType.ArrayOfMaps);
    outer.setInner(u32(0), inner);
    expect(outer.innerId(u32(0))).toBe(inner.info.id);

    const prog = obj.program('xdp_inner');
    const pkt = Buffer.alloc(64);
    expect((await prog.testRun({ data: pkt })).retval).toBe(2); // XDP_PASS: inner value 0
    inner.update(u32(0), u64(42));
    expect((await prog.testRun({ data: pkt })).retval).toBe(1); // XDP_DROP: the program saw 42

    const standalone = BpfMap.create({ type: MapType.HashOfMaps, keySize: 4, valueSize: 4, maxEntries: 4, innerMap: inner });
    standalone.setInner(u32(9), inner);
    expect(standalone.innerId(u32(9))).toBe(inner.info.id);
    standalone.close();
    prog.close();
    outer.close();
    obj.close();
    inner.close();
  });

  it('fails to create an impossible map with the kernel errno', () => {
    expect(() => BpfMap.create({ type: MapType.Hash, keySize: 0, valueSize: 8, maxEntries: 4 })).toThrow(
      expect.objectContaining({ name: 'BpfError', op: 'create map', code: 'EINVAL' }),
    );
  });
});
