// tc_nic.o: NodePort DNAT on the NIC's ingress and reverse NAT of replies on its egress, backend
// stickiness through conntrack, and the ICMP answer of a frontend without backends.
import { TcAction } from 'libbpfjs';
import { CtScope } from '../../common/maps/conntrack.js';
import { ServiceFlags } from '../../common/maps/lb.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { Flags, frame, ICMP, parse, TCP, type Packet } from './packets.js';

const NODE = '10.0.0.10';
const CLIENT = '198.51.100.7';

describePrivileged('tc_nic.o: NodePort', () => {
  let t: TestDatapath;
  beforeEach(async () => {
    t = await TestDatapath.load(['tc_nic']);
  });
  afterEach(() => t.close());

  const inbound = (p: Partial<Packet>) =>
    t.dp.program('tc_from_netdev').testRun({ data: frame({ src: CLIENT, dst: NODE, sport: 40000, dport: 30080, proto: TCP, flags: Flags.SYN, ...p }) });

  it('translates the frontend to the backend, with valid checksums, and remembers the flow', async () => {
    t.service({ vip: NODE, port: 30080, proto: TCP, flags: ServiceFlags.NodePort, revNat: 7, backends: [{ id: 11, addr: '10.0.1.1', port: 8080 }] });
    const r = await inbound({ payload: Buffer.from('GET / HTTP/1.0\r\n\r\n') });
    expect(r.retval).toBe(TcAction.Ok);
    const p = parse(r.dataOut ?? Buffer.alloc(0));
    expect(p).toMatchObject({ src: CLIENT, dst: '10.0.1.1', sport: 40000, dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
    const base = { saddr: CLIENT, sport: 40000, proto: TCP, pad: 0 };
    expect(t.ctTcp.get({ ...base, daddr: NODE, dport: 30080, scope: CtScope.Service })).toMatchObject({ backendId: 11, revNat: 7 });
    expect(t.ctTcp.get({ ...base, daddr: '10.0.1.1', dport: 8080, scope: CtScope.NodePort })).toMatchObject({ revNat: 7 });
    expect(t.counter(Reason.ServiceDnat, Direction.Ingress)).toBe(1n);
  });

  it('turns the backend reply back into the frontend', async () => {
    t.service({ vip: NODE, port: 30080, proto: TCP, flags: ServiceFlags.NodePort, revNat: 7, backends: [{ id: 11, addr: '10.0.1.1', port: 8080 }] });
    await inbound({});
    const reply = frame({ src: '10.0.1.1', dst: CLIENT, sport: 8080, dport: 40000, proto: TCP, flags: Flags.SYN | Flags.ACK });
    const r = await t.dp.program('tc_to_netdev').testRun({ data: reply });
    expect(r.retval).toBe(TcAction.Ok);
    expect(parse(r.dataOut ?? Buffer.alloc(0))).toMatchObject({ src: NODE, sport: 30080, dst: CLIENT, dport: 40000, ipChecksumOk: true, l4ChecksumOk: true });
    // Both entries learnt the reply, so they age as an established flow.
    const base = { saddr: CLIENT, sport: 40000, proto: TCP, pad: 0 };
    expect(t.ctTcp.get({ ...base, daddr: NODE, dport: 30080, scope: CtScope.Service })?.flags).toBe(1);
    expect(t.ctTcp.get({ ...base, daddr: '10.0.1.1', dport: 8080, scope: CtScope.NodePort })?.flags).toBe(1);
    // Traffic that is no reply of a translated flow leaves untouched.
    const other = frame({ src: '10.0.1.1', dst: CLIENT, sport: 8080, dport: 40001, proto: TCP, flags: Flags.ACK });
    const o = await t.dp.program('tc_to_netdev').testRun({ data: other });
    expect(o.dataOut).toEqual(other);
  });

  it('keeps every packet of a flow on its backend, and spreads new flows', async () => {
    const backends = [1, 2, 3, 4].map((i) => ({ id: i, addr: `10.0.1.${i}`, port: 8080 }));
    t.service({ vip: NODE, port: 30080, proto: TCP, flags: ServiceFlags.NodePort, revNat: 7, backends });
    const first = parse((await inbound({})).dataOut ?? Buffer.alloc(0)).dst;
    for (let i = 0; i < 20; i++) expect(parse((await inbound({ flags: Flags.ACK })).dataOut ?? Buffer.alloc(0)).dst).toBe(first);
    const seen = new Set<string>();
    for (let port = 41000; port < 41200; port++) seen.add(parse((await inbound({ sport: port })).dataOut ?? Buffer.alloc(0)).dst);
    expect(seen).toEqual(new Set(backends.map((b) => b.addr)));
  });

  it('with session affinity, sends every new flow of a client to the same backend', async () => {
    const backends = [1, 2, 3, 4].map((i) => ({ id: i, addr: `10.0.1.${i}`, port: 8080 }));
    t.service({ vip: NODE, port: 30080, proto: TCP, flags: ServiceFlags.NodePort | ServiceFlags.Affinity, revNat: 7, backends, affinityTimeoutS: 600 });
    const dsts = new Set<string>();
    for (let port = 42000; port < 42050; port++) dsts.add(parse((await inbound({ sport: port })).dataOut ?? Buffer.alloc(0)).dst);
    expect(dsts.size).toBe(1);
    // Another client is balanced on its own.
    const others = new Set<string>();
    for (let i = 1; i < 60; i++) others.add(parse((await inbound({ src: `198.51.100.${i + 100}` })).dataOut ?? Buffer.alloc(0)).dst);
    expect(others.size).toBeGreaterThan(1);
  });

  it('answers ICMP port unreachable, out of the same interface, for a frontend without backends', async () => {
    t.service({ vip: NODE, port: 30080, proto: TCP, flags: ServiceFlags.NodePort, revNat: 7, backends: [] });
    const r = await inbound({ srcMac: '02:00:00:00:00:aa', dstMac: '02:00:00:00:00:bb' });
    expect(r.retval).toBe(TcAction.Redirect);
    const p = parse(r.dataOut ?? Buffer.alloc(0));
    expect(p).toMatchObject({ proto: ICMP, src: NODE, dst: CLIENT, ipChecksumOk: true, l4ChecksumOk: true, srcMac: '02:00:00:00:00:bb', dstMac: '02:00:00:00:00:aa' });
    expect(p.icmp).toEqual({ type: 3, code: 3, quotedSrc: CLIENT, quotedDst: NODE, quotedDport: 30080 });
    expect(t.counter(Reason.RejectSent, Direction.Ingress)).toBe(1n);
    expect(t.ctTcp.count()).toBe(0);
  });

  it('leaves ClusterIP-only frontends to the socket LB', async () => {
    t.service({ vip: '10.96.0.1', port: 443, proto: TCP, flags: ServiceFlags.ClusterIp, revNat: 1, backends: [{ id: 1, addr: '10.0.1.1', port: 6443 }] });
    const data = frame({ src: CLIENT, dst: '10.96.0.1', sport: 40000, dport: 443, proto: TCP });
    const r = await t.dp.program('tc_from_netdev').testRun({ data });
    expect(r.dataOut).toEqual(data);
  });
});
