import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bpffsDir, describePriv, fixture, writeTemp, runPinRoot } from '../test/env.js';
import { BpfError, BpfLoadError, BpfMap, BpfObject, MapType, ProgType } from './index.js';

describePriv('BpfObject', () => {
  it('lists maps and programs of an opened object before load', () => {
    const obj = BpfObject.open(fixture('progs.bpf.o'));
    try {
      const counters = obj.mapSpec('counters');
      expect(counters).toMatchObject({ type: MapType.Hash, keySize: 4, valueSize: 16, maxEntries: 16, internal: false });
      expect(obj.mapSpec('cidrs')?.type).toBe(MapType.LpmTrie);
      const progs = Object.fromEntries(obj.programs().map((p) => [p.name, p]));
      expect(progs.xdp_count).toMatchObject({ section: 'xdp', type: ProgType.Xdp });
      expect(progs.tc_ingress_count?.type).toBe(ProgType.SchedCls);
      expect(progs.connect4_count?.type).toBe(ProgType.CgroupSockAddr);
      expect(progs.sk_msg_pass?.type).toBe(ProgType.SkMsg);
    } finally {
      obj.close();
    }
  });

  it('loads with an overridden max_entries that the kernel map reports', async () => {
    const pins = bpffsDir('lbj-obj');
    const obj = BpfObject.open(fixture('progs.bpf.o'), { pinRoot: pins.dir });
    try {
      obj.setMaxEntries('counters', 1000).setMaxEntries('socks', 128);
      await obj.load();
      const m = obj.map('counters');
      expect(m.maxEntries).toBe(1000);
      expect(m.info.id).toBeGreaterThan(0);
      expect(obj.map('socks').maxEntries).toBe(128);
      const prog = obj.program('xdp_count');
      expect(prog.info().id).toBeGreaterThan(0);
      expect(prog.mapIds()).toEqual(expect.arrayContaining([m.info.id]));
      m.close();
      prog.close();
    } finally {
      obj.close();
      pins.cleanup();
    }
  });

  it('pins LIBBPF_PIN_BY_NAME maps under pinRoot and reuses them on the next load', async () => {
    const pins = bpffsDir('lbj-pin');
    try {
      const first = await BpfObject.load(fixture('progs.bpf.o'), { pinRoot: pins.dir });
      const id = first.map('pinned_by_name').info.id;
      first.map('pinned_by_name').update(Buffer.from([1, 0, 0, 0]), Buffer.from([9, 0, 0, 0]));
      first.close();
      expect(existsSync(join(pins.dir, 'pinned_by_name'))).toBe(true);

      const second = await BpfObject.load(fixture('progs.bpf.o'), { pinRoot: pins.dir });
      const reused = second.map('pinned_by_name');
      expect(reused.info.id).toBe(id);
      expect(reused.lookup(Buffer.from([1, 0, 0, 0]))?.readUInt32LE(0)).toBe(9);
      second.close();
    } finally {
      pins.cleanup();
    }
  });

  it('reuses a map given by fd and pins an explicit path', async () => {
    const pins = bpffsDir('lbj-reuse');
    const shared = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 16, maxEntries: 16, name: 'shared' });
    try {
      const obj = BpfObject.open(fixture('progs.bpf.o'), { pinRoot: pins.dir });
      obj.reuseMap('counters', shared).setPinPath('cidrs', join(pins.dir, 'my_cidrs'));
      await obj.load();
      expect(obj.map('counters').info.id).toBe(shared.info.id);
      expect(BpfMap.openPinned(join(pins.dir, 'my_cidrs')).type).toBe(MapType.LpmTrie);
      obj.close();
    } finally {
      shared.close();
      pins.cleanup();
    }
  });

  it('refuses to reuse a pinned map whose shape differs', async () => {
    const pins = bpffsDir('lbj-mismatch');
    try {
      const other = BpfMap.create({ type: MapType.Hash, keySize: 8, valueSize: 8, maxEntries: 4 });
      other.pin(join(pins.dir, 'pinned_by_name'));
      other.close();
      await expect(BpfObject.load(fixture('progs.bpf.o'), { pinRoot: pins.dir })).rejects.toMatchObject({
        name: 'BpfLoadError',
        code: 'EINVAL',
      });
    } finally {
      pins.cleanup();
    }
  });

  it('fails to open a missing file with ENOENT', () => {
    expect(() => BpfObject.open('/nonexistent/x.bpf.o')).toThrow(
      expect.objectContaining({ name: 'BpfError', op: 'open object', code: 'ENOENT' }),
    );
  });

  it('fails to open a file that is not a BPF ELF object', () => {
    const path = writeTemp('bogus.o', 'this is not an ELF file\n');
    let err: unknown;
    try {
      BpfObject.open(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).errno).toBeGreaterThan(0);
    expect((err as BpfError).message).toContain(path);
  });

  it('carries the verifier log when the kernel rejects a program', async () => {
    const obj = BpfObject.open(fixture('reject.bpf.o'));
    try {
      const err = await obj.load().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BpfLoadError);
      const le = err as BpfLoadError;
      expect(le.code).toBe('EACCES');
      expect(le.message).toContain('xdp_unchecked');
      expect(le.verifierLog).toMatch(/invalid access to packet/);
    } finally {
      obj.close();
    }
  });

  it('refuses setters on an unknown map or program and use after close', async () => {
    const obj = BpfObject.open(fixture('progs.bpf.o'));
    expect(() => obj.setMaxEntries('nope', 4)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => obj.setAutoload('nope', false)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => obj.map('counters')).toThrow(expect.objectContaining({ code: 'EBADF' }));
    obj.close();
    expect(() => obj.maps()).toThrow(/closed/);
  });

  it('keeps map handles usable after the object is closed', async () => {
    const obj = await BpfObject.load(fixture('progs.bpf.o'), { pinRoot: runPinRoot(), maxEntries: { counters: 32 } });
    const m = obj.map('counters');
    obj.close();
    m.update(Buffer.from([7, 0, 0, 0]), Buffer.alloc(16, 1));
    expect(m.lookup(Buffer.from([7, 0, 0, 0]))).toEqual(Buffer.alloc(16, 1));
    m.close();
    expect(() => m.fd).toThrow(/closed/);
  });
});
