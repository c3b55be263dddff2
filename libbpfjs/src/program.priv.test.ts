import { join } from 'node:path';
import { bpffsDir, childCgroup, describePriv, fixture, netnsPath, runInCgroup, sendUdp, vethPair, runPinRoot } from '../test/env.js';
import {
  attachCgroup,
  attachTc,
  attachTcx,
  attachToMap,
  attachXdp,
  attachXdpLink,
  AttachType,
  type Collection,
  detachXdp,
  loadObject,
  BpfLink,
  BpfMap,
  BpfProgram,
  ifindex,
  LinkType,
  queryAttached,
  TcAction,
  tcDetach,
  tcQuery,
  tcxSupported,
  withNetns,
  XdpAction,
  xdpQuery,
} from './index.js';

// Counter slots in progs.bpf.c's `counters` map.
const XDP = 0, TC_IN = 1, TC_OUT = 2, CONNECT4 = 3, SOCKOPS = 4, SK_MSG = 5, SENDMSG4 = 6, RECVMSG4 = 7;

function packets(counters: BpfMap, slot: number): number {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(slot);
  const v = counters.lookup(k);
  return v === null ? 0 : Number(v.readBigUInt64LE(0));
}

function ethFrame(): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from('aabbccddeeff', 'hex').copy(f, 0); // destination
  Buffer.from('112233445566', 'hex').copy(f, 6); // source
  f.writeUInt16BE(0x0800, 12);
  return f;
}

describePriv('BpfProgram test runs', () => {
  let obj: Collection;
  beforeAll(async () => {
    obj = await loadObject(fixture('progs.bpf.o'), { pinRoot: runPinRoot() });
  });
  // The collection's handles are shared by every test; closing it closes them all.
  afterAll(() => obj.close());

  it('returns the verdict and the rewritten packet', async () => {
    const prog = obj.program('xdp_reflect');
    // One run: repeats reuse the same buffer, so an even count would swap the addresses back.
    const r = await prog.testRun({ data: ethFrame() });
    expect(r.retval).toBe(XdpAction.Tx);
    expect(r.dataOut?.subarray(0, 6).toString('hex')).toBe('112233445566');
    expect(r.dataOut?.subarray(6, 12).toString('hex')).toBe('aabbccddeeff');
    expect(r.dataOut?.length).toBe(60);
    const timed = await prog.testRun({ data: ethFrame(), repeat: 1000 });
    expect(timed.retval).toBe(XdpAction.Tx);
    expect(timed.duration).toBeGreaterThan(0);
  });

  it('drops a truncated frame', async () => {
    const prog = obj.program('xdp_reflect');
    // 14 bytes is the minimum the kernel accepts for XDP test runs; 13 is refused outright.
    await expect(prog.testRun({ data: Buffer.alloc(13) })).rejects.toMatchObject({ code: 'EINVAL', op: 'test run' });
  });

  it('runs a TC program repeat times against the live maps', async () => {
    const prog = obj.program('tc_ingress_count');
    const counters = obj.map('counters');
    const before = packets(counters, TC_IN);
    const r = await prog.testRun({ data: ethFrame(), repeat: 50 });
    expect(r.retval).toBe(TcAction.Ok);
    expect(packets(counters, TC_IN) - before).toBe(50);
  });
});

describePriv('attach on a veth in fresh namespaces', () => {
  let obj: Collection;
  let counters: BpfMap;
  let net: ReturnType<typeof vethPair>;
  let bIndex: number;
  const inB = <T>(fn: () => T): T => withNetns(netnsPath(net.b), fn);

  beforeEach(async () => {
    net = vethPair('att', 77);
    obj = await loadObject(fixture('progs.bpf.o'), { pinRoot: runPinRoot(), maxEntries: { counters: 64 } });
    counters = obj.map('counters');
    bIndex = inB(() => ifindex(net.bIf));
  });
  afterEach(() => {
    counters.close();
    obj.close();
    net.cleanup();
  });

  it('counts real packets with XDP, then swaps the program atomically and detaches', () => {
    const count = obj.program('xdp_count');
    const drop = obj.program('xdp_cidr_drop');
    inB(() => attachXdp(count, bIndex, { mode: 'driver' }));
    expect(inB(() => xdpQuery(bIndex)).progId).toBe(count.info().id);
    // A second attach without replace is refused rather than silently replacing.
    expect(() => inB(() => attachXdp(drop, bIndex, { mode: 'driver' }))).toThrow(expect.objectContaining({ code: 'EBUSY' }));

    sendUdp(net.a, net.bIp, 9999, 20);
    expect(packets(counters, XDP)).toBeGreaterThanOrEqual(20);

    inB(() => attachXdp(drop, bIndex, { mode: 'driver', replace: count }));
    expect(inB(() => xdpQuery(bIndex)).progId).toBe(drop.info().id);
    const after = packets(counters, XDP);
    sendUdp(net.a, net.bIp, 9999, 5);
    expect(packets(counters, XDP)).toBe(after);

    // Replacing with a stale expectation fails instead of clobbering the running program.
    expect(() => inB(() => attachXdp(count, bIndex, { mode: 'driver', replace: count }))).toThrow(
      expect.objectContaining({ code: 'EEXIST' }),
    );
    inB(() => detachXdp(drop, bIndex, 'driver'));
    expect(inB(() => xdpQuery(bIndex)).progId).toBe(0);
    count.close();
    drop.close();
  });

  it('owns XDP through a link: update, pin, reopen, detach', () => {
    const pins = bpffsDir('lbj-link');
    const count = obj.program('xdp_count');
    const drop = obj.program('xdp_cidr_drop');
    try {
      const link = inB(() => attachXdpLink(count, bIndex, 'generic'));
      expect(link.info()).toMatchObject({ type: LinkType.Xdp, progId: count.info().id, ifindex: bIndex });
      sendUdp(net.a, net.bIp, 9999, 10);
      expect(packets(counters, XDP)).toBeGreaterThanOrEqual(10);

      expect(() => link.update(drop, drop)).toThrow(expect.objectContaining({ code: 'EPERM' }));
      link.update(drop, count);
      expect(link.info().progId).toBe(drop.info().id);

      const path = join(pins.dir, 'xdp_link');
      link.pin(path);
      link.close(); // the pin keeps the attachment
      const again = BpfLink.openPinned(path);
      expect(again.info().progId).toBe(drop.info().id);
      expect(inB(() => xdpQuery(bIndex)).progId).toBe(drop.info().id);
      again.detach();
      expect(inB(() => xdpQuery(bIndex)).progId).toBe(0);
      again.close();
    } finally {
      count.close();
      drop.close();
      pins.cleanup();
    }
  });

  it('counts real packets with TC clsact filters in both directions, replaces and detaches', () => {
    const ing = obj.program('tc_ingress_count');
    const eg = obj.program('tc_egress_count');
    const fIn = inB(() => attachTc(ing, bIndex, 'ingress', { handle: 1, priority: 1 }));
    const fOut = inB(() => attachTc(eg, bIndex, 'egress', { handle: 1, priority: 1 }));
    expect(fIn.progId).toBe(ing.info().id);

    sendUdp(net.a, net.bIp, 9999, 20); // b answers with ICMP port unreachable: egress traffic
    expect(packets(counters, TC_IN)).toBeGreaterThanOrEqual(20);
    expect(packets(counters, TC_OUT)).toBeGreaterThanOrEqual(1);

    inB(() => attachTc(eg, bIndex, 'ingress', { handle: 1, priority: 1, replace: true }));
    expect(inB(() => tcQuery(bIndex, 'ingress', 1, 1))).toBe(eg.info().id);
    expect(inB(() => tcDetach(fIn))).toBe(true);
    expect(inB(() => tcDetach(fOut))).toBe(true);
    expect(inB(() => tcDetach(fOut))).toBe(false);
    expect(inB(() => tcQuery(bIndex, 'ingress', 1, 1))).toBeNull();
    ing.close();
    eg.close();
  });

  it('attaches through tcx links and detaches by closing the link (Linux 6.6+; refused before)', () => {
    const ing = obj.program('tc_ingress_count');
    if (!tcxSupported()) {
      // Before tcx the kernel does not know the attach type.
      expect(() => inB(() => attachTcx(ing, bIndex, 'ingress'))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      return;
    }
    const link = inB(() => attachTcx(ing, bIndex, 'ingress'));
    expect(link.info()).toMatchObject({ type: LinkType.Tcx, progId: ing.info().id, ifindex: bIndex, attachType: AttachType.TcxIngress });
    sendUdp(net.a, net.bIp, 9999, 15);
    expect(packets(counters, TC_IN)).toBeGreaterThanOrEqual(15);
    link.close();
    const after = packets(counters, TC_IN);
    sendUdp(net.a, net.bIp, 9999, 5);
    expect(packets(counters, TC_IN)).toBe(after);
    ing.close();
  });

  it('fails to attach to a missing interface with the kernel errno', () => {
    const count = obj.program('xdp_count');
    expect(() => attachXdp(count, 999_999)).toThrow(expect.objectContaining({ name: 'BpfError', code: 'ENODEV' }));
    count.close();
  });
});

describePriv('cgroup and socket hooks', () => {
  let obj: Collection;
  let counters: BpfMap;
  let cg: ReturnType<typeof childCgroup>;
  beforeEach(async () => {
    obj = await loadObject(fixture('progs.bpf.o'), { pinRoot: runPinRoot() });
    counters = obj.map('counters');
    cg = childCgroup(`libbpfjs-test-${process.pid}`);
  });
  afterEach(() => {
    counters.close();
    obj.close();
    cg.cleanup();
  });

  const tcpRoundTrip = `
    const net = require('net');
    const srv = net.createServer((s) => s.on('data', (d) => s.write(d)));
    srv.listen(0, '127.0.0.1', () => {
      const c = net.connect(srv.address().port, '127.0.0.1', () => {
        let got = 0;
        c.on('data', (d) => { got += d.length; if (got >= 15) { c.end(); srv.close(); process.stdout.write('ok'); } });
        c.write('hello'); setTimeout(() => c.write('hello'), 20); setTimeout(() => c.write('hello'), 40);
      });
    });`;

  it('runs connect4 on connects from the cgroup and reports it attached', () => {
    const prog = obj.program('connect4_count');
    const link = attachCgroup(prog, cg.path, AttachType.CgroupInet4Connect);
    expect(queryAttached(cg.path, AttachType.CgroupInet4Connect)).toContain(prog.info().id);
    expect(runInCgroup(cg.path, tcpRoundTrip)).toBe('ok');
    expect(packets(counters, CONNECT4)).toBe(1);
    link.close();
    expect(queryAttached(cg.path, AttachType.CgroupInet4Connect)).toEqual([]);
    prog.close();
  });

  it('runs sendmsg4 and recvmsg4 on unconnected UDP sends and receives from the cgroup', () => {
    const send = obj.program('sendmsg4_count');
    const recv = obj.program('recvmsg4_count');
    const sl = attachCgroup(send, cg.path, AttachType.CgroupUdp4Sendmsg);
    const rl = attachCgroup(recv, cg.path, AttachType.CgroupUdp4Recvmsg);
    const udpRoundTrip = `
      const dgram = require('dgram');
      const srv = dgram.createSocket('udp4');
      srv.on('message', (m, r) => srv.send(m, r.port, r.address));
      srv.bind(0, '127.0.0.1', () => {
        const c = dgram.createSocket('udp4');
        c.on('message', () => { c.close(); srv.close(); process.stdout.write('ok'); });
        c.send('ping', srv.address().port, '127.0.0.1');
      });`;
    expect(runInCgroup(cg.path, udpRoundTrip)).toBe('ok');
    // Two sends (request, echo) and two receives, all by sockets of the cgroup's process.
    expect(packets(counters, SENDMSG4)).toBe(2);
    expect(packets(counters, RECVMSG4)).toBe(2);
    sl.close();
    rl.close();
    send.close();
    recv.close();
  });

  it('feeds established sockets to a sockhash through sock_ops, where sk_msg sees their sends', () => {
    const ops = obj.program('sockops_count');
    const msg = obj.program('sk_msg_pass');
    const socks = obj.map('socks');
    const link = attachCgroup(ops, cg.path, AttachType.CgroupSockOps);
    const att = attachToMap(msg, socks, AttachType.SkMsgVerdict);
    expect(runInCgroup(cg.path, tcpRoundTrip)).toBe('ok');
    expect(packets(counters, SOCKOPS)).toBeGreaterThan(0);
    expect(packets(counters, SK_MSG)).toBeGreaterThanOrEqual(3);
    att.detach();
    expect(() => att.detach()).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    link.close();
    socks.close();
    ops.close();
    msg.close();
  });

  it('attaches an sk_skb verdict program to a sockhash and refuses a non-map attach type', () => {
    const skb = obj.program('sk_skb_pass');
    const socks = obj.map('socks');
    const att = attachToMap(skb, socks, AttachType.SkSkbStreamVerdict);
    att.detach();
    expect(() => attachToMap(skb, socks, AttachType.CgroupInet4Connect)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    socks.close();
    skb.close();
  });

  it('opens a program by id and pins it', () => {
    const pins = bpffsDir('lbj-prog');
    const prog = obj.program('xdp_count');
    try {
      const byId = BpfProgram.fromId(prog.info().id);
      expect(byId.name).toBe('xdp_count');
      byId.pin(join(pins.dir, 'p'));
      expect(BpfProgram.openPinned(join(pins.dir, 'p')).info().tag).toBe(prog.info().tag);
      byId.close();
    } finally {
      prog.close();
      pins.cleanup();
    }
  });
});
