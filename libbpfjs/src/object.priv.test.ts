import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bpffsDir, describePriv, fixture, writeTemp, runPinRoot } from '../test/env.js';
import { BpfError, BpfLoadError, BpfMap, isNotExist, loadCollection, loadObject, MapType, ObjectSpec, ProgType } from './index.js';

describePriv('ObjectSpec and loadCollection', () => {
  it('reads maps and programs as plain data, touching no kernel state', () => {
    const spec = ObjectSpec.read(fixture('progs.bpf.o'));
    expect(spec.map('counters')).toMatchObject({ type: MapType.Hash, keySize: 4, valueSize: 16, maxEntries: 16, internal: false, create: true });
    expect(spec.map('cidrs').type).toBe(MapType.LpmTrie);
    expect(spec.map('pinned_by_name').pinnedByName).toBe(true);
    expect(spec.program('xdp_count')).toMatchObject({ section: 'xdp', type: ProgType.Xdp, load: true });
    expect(spec.program('tc_ingress_count').type).toBe(ProgType.SchedCls);
    expect(spec.program('connect4_count').type).toBe(ProgType.CgroupSockAddr);
    expect(spec.program('sk_msg_pass').type).toBe(ProgType.SkMsg);
    expect(() => spec.map('nope')).toThrow(/declares no map nope/);
  });

  it('loads an edited spec: the kernel maps report the sizes the spec asked for', async () => {
    const pins = bpffsDir('lbj-obj');
    const spec = ObjectSpec.read(fixture('progs.bpf.o'), { pinRoot: pins.dir });
    spec.map('counters').maxEntries = 1000;
    spec.map('socks').maxEntries = 128;
    const c = await loadCollection(spec);
    try {
      const m = c.map('counters');
      expect(m.maxEntries).toBe(1000);
      expect(m.info.id).toBeGreaterThan(0);
      expect(c.map('socks').maxEntries).toBe(128);
      const prog = c.program('xdp_count');
      expect(prog.info().id).toBeGreaterThan(0);
      expect(prog.mapIds()).toEqual(expect.arrayContaining([m.info.id]));
      // The same spec loads again, into new kernel objects.
      const again = await loadCollection(spec);
      expect(again.map('counters').info.id).not.toBe(m.info.id);
      again.close();
    } finally {
      c.close();
      pins.cleanup();
    }
  });

  it('pins LIBBPF_PIN_BY_NAME maps under pinRoot and reuses them on the next load', async () => {
    const pins = bpffsDir('lbj-pin');
    try {
      const first = await loadObject(fixture('progs.bpf.o'), { pinRoot: pins.dir });
      const id = first.map('pinned_by_name').info.id;
      first.map('pinned_by_name').update(Buffer.from([1, 0, 0, 0]), Buffer.from([9, 0, 0, 0]));
      first.close();
      expect(existsSync(join(pins.dir, 'pinned_by_name'))).toBe(true);

      const second = await loadObject(fixture('progs.bpf.o'), { pinRoot: pins.dir });
      const reused = second.map('pinned_by_name');
      expect(reused.info.id).toBe(id);
      expect(reused.lookup(Buffer.from([1, 0, 0, 0]))?.readUInt32LE(0)).toBe(9);
      second.close();
    } finally {
      pins.cleanup();
    }
  });

  it('reuses a map given by fd, pins an explicit path, and leaves out what is not created or loaded', async () => {
    const pins = bpffsDir('lbj-reuse');
    const shared = BpfMap.create({ type: MapType.Hash, keySize: 4, valueSize: 16, maxEntries: 16, name: 'shared' });
    try {
      const spec = ObjectSpec.read(fixture('progs.bpf.o'), { pinRoot: pins.dir });
      spec.map('counters').reuse = shared;
      spec.map('cidrs').pinPath = join(pins.dir, 'my_cidrs');
      spec.program('sk_msg_pass').load = false;
      const c = await loadCollection(spec);
      expect(c.map('counters').info.id).toBe(shared.info.id);
      expect(BpfMap.openPinned(join(pins.dir, 'my_cidrs')).type).toBe(MapType.LpmTrie);
      expect(() => c.program('sk_msg_pass')).toThrow(/not loaded/);
      c.close();
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
      await expect(loadObject(fixture('progs.bpf.o'), { pinRoot: pins.dir })).rejects.toMatchObject({ name: 'BpfLoadError', code: 'EINVAL' });
    } finally {
      pins.cleanup();
    }
  });

  it('fails to read a missing file with ENOENT', () => {
    let err: unknown;
    try {
      ObjectSpec.read('/nonexistent/x.bpf.o');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'BpfError', op: 'open object', code: 'ENOENT' });
    expect(isNotExist(err)).toBe(true);
  });

  it('fails to read a file that is not a BPF ELF object', () => {
    const path = writeTemp('bogus.o', 'this is not an ELF file\n');
    let err: unknown;
    try {
      ObjectSpec.read(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).errno).toBeGreaterThan(0);
    expect((err as BpfError).message).toContain(path);
  });

  it('carries the verifier log when the kernel rejects a program', async () => {
    const err = await loadObject(fixture('reject.bpf.o')).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BpfLoadError);
    const le = err as BpfLoadError;
    expect(le.code).toBe('EACCES');
    expect(le.message).toContain('xdp_unchecked');
    expect(le.verifierLog).toMatch(/invalid access to packet/);
  });

  it('keeps map handles usable after the rest of the collection is closed', async () => {
    const c = await loadObject(fixture('progs.bpf.o'), { pinRoot: runPinRoot(), maxEntries: { counters: 32 } });
    const m = c.map('counters');
    c.program('xdp_count').close();
    m.update(Buffer.from([7, 0, 0, 0]), Buffer.alloc(16, 1));
    expect(m.lookup(Buffer.from([7, 0, 0, 0]))).toEqual(Buffer.alloc(16, 1));
    c.close();
    expect(() => m.fd).toThrow(/closed/);
  });
});
