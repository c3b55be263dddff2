// tc_endpoint.o, connection tracking: establishment, the reply direction, TCP state and
// timeouts, policy-generation revocation, and the agent's garbage collection.
import { TcAction } from 'libbpfjs';
import { collectConntrack, monotonicSeconds } from '../../agent/conntrack/gc.js';
import { DEFAULT_CONFIG } from '../../common/maps/config.js';
import { CtFlags, CtPath, CtScope, type Ct4Key } from '../../common/maps/conntrack.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { PolicyDir } from '../../common/maps/policy.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { Flags, frame, icmpErrorFrame, TCP, UDP, type Packet } from './packets.js';

const A = '10.0.1.1'; // local endpoint, identity 300
const B = '10.0.2.1'; // remote, identity 400

describePrivileged('tc_endpoint.o: conntrack', () => {
  let t: TestDatapath;
  // A may open TCP 443 to B; nothing may reach A.
  beforeEach(async () => {
    t = await TestDatapath.load(['tc_endpoint']);
    t.config({ policyGen: 1 });
    t.endpoint(A, 300, { enforce: true });
    t.ipcache(`${B}/32`, 400);
    t.policy(300, PolicyDir.Egress, [{ peer: 400, port: 443, protocol: TCP, verdict: 'allow' }]);
    t.policy(300, PolicyDir.Ingress, []);
  });
  afterEach(() => t.close());

  const out = (p: Partial<Packet>) =>
    t.dp.program('tc_from_endpoint').testRun({ data: frame({ src: A, dst: B, sport: 50000, dport: 443, proto: TCP, ...p }) });
  const back = (p: Partial<Packet>) =>
    t.dp.program('tc_to_endpoint').testRun({ data: frame({ src: B, dst: A, sport: 443, dport: 50000, proto: TCP, ...p }) });
  const egressKey: Ct4Key = { saddr: A, daddr: B, sport: 50000, dport: 443, proto: TCP, scope: CtScope.Egress, pad: 0 };

  it('creates an entry on the first packet and lets replies in although ingress is default-deny', async () => {
    expect((await out({ flags: Flags.SYN })).retval).toBe(TcAction.Ok);
    let e = t.ctTcp.get(egressKey);
    expect(e).toMatchObject({ srcIdentity: 300, policyGen: 1, flags: 0 });
    const now = monotonicSeconds();
    // SYN seen, no reply yet: the short SYN timeout.
    expect(e?.expires).toBeGreaterThanOrEqual(now + DEFAULT_CONFIG.ctTcpSynS - 1);
    expect(e?.expires).toBeLessThanOrEqual(now + DEFAULT_CONFIG.ctTcpSynS + 1);

    expect((await back({ flags: Flags.SYN | Flags.ACK })).retval).toBe(TcAction.Ok);
    e = t.ctTcp.get(egressKey);
    expect(e?.flags).toBe(CtFlags.SeenReply);
    expect(e?.rxTcpFlags).toBe(Flags.SYN | Flags.ACK);
    expect(e?.expires).toBeGreaterThanOrEqual(now + DEFAULT_CONFIG.ctTcpEstablishedS - 1);
    // The reply did not open an ingress flow of its own.
    expect(t.ctTcp.count()).toBe(1);

    // An unsolicited packet from B to the same port of A is not a reply: default deny.
    expect((await back({ sport: 444, flags: Flags.SYN })).retval).toBe(TcAction.Shot);
  });

  it('shortens the lifetime on FIN and RST, and a new SYN on a closed tuple is a new flow', async () => {
    await out({ flags: Flags.SYN });
    await back({ flags: Flags.SYN | Flags.ACK });
    await out({ flags: Flags.FIN | Flags.ACK });
    let e = t.ctTcp.get(egressKey);
    expect(e?.flags).toBe(CtFlags.SeenReply | CtFlags.TxClosing);
    expect(e?.expires).toBeLessThanOrEqual(monotonicSeconds() + DEFAULT_CONFIG.ctTcpCloseS + 1);
    await back({ flags: Flags.RST });
    e = t.ctTcp.get(egressKey);
    expect(e?.flags).toBe(CtFlags.SeenReply | CtFlags.TxClosing | CtFlags.RxClosing);

    await out({ flags: Flags.SYN });
    e = t.ctTcp.get(egressKey);
    expect(e?.flags).toBe(0);
    expect(e?.txTcpFlags).toBe(Flags.SYN);
  });

  it('skips policy for established flows until the policy generation changes, then revokes', async () => {
    await out({ flags: Flags.SYN });
    await back({ flags: Flags.SYN | Flags.ACK });
    // Remove the allow without bumping the generation: the flow keeps going (no trie lookup).
    t.policy(300, PolicyDir.Egress, []);
    expect((await out({ flags: Flags.ACK })).retval).toBe(TcAction.Ok);
    // Bump it: the next packet is judged again, dropped, and the entry is gone.
    t.config({ policyGen: 2 });
    expect((await out({ flags: Flags.ACK })).retval).toBe(TcAction.Shot);
    expect(t.ctTcp.get(egressKey)).toBeUndefined();
  });

  it('re-judges a reply after a policy change too, and keeps a still-allowed flow', async () => {
    await out({ flags: Flags.SYN });
    t.config({ policyGen: 2 });
    expect((await back({ flags: Flags.SYN | Flags.ACK })).retval).toBe(TcAction.Ok);
    expect(t.ctTcp.get(egressKey)?.policyGen).toBe(2);
  });

  it('ends a flow allowed at L4 once policy hands its port to the L7 proxy: the client moves to the proxy, the server is cut off', async () => {
    await out({ flags: Flags.SYN });
    await back({ flags: Flags.SYN | Flags.ACK });
    await out({ flags: Flags.ACK | Flags.PSH, payload: Buffer.from('GET /admin HTTP/1.1\r\n\r\n') });
    expect(t.ctTcp.get(egressKey)?.flags ?? 0).toBe(CtFlags.SeenReply);
    // HTTP rules on the same peer and port: the verdict becomes a redirect.
    t.policy(300, PolicyDir.Egress, [{ peer: 400, port: 443, protocol: TCP, verdict: 'redirect', proxyPort: 15001 }]);
    t.config({ policyGen: 2 });
    // The server's next segment: the flow is no longer the one allowed; dropped and forgotten.
    expect((await back({ flags: Flags.ACK | Flags.PSH, payload: Buffer.from('HTTP/1.1 200 OK\r\n') })).retval).toBe(TcAction.Shot);
    expect(t.counter(Reason.L7Rejudged, Direction.Ingress)).toBe(1n);
    expect(t.ctTcp.get(egressKey)).toBeUndefined();
    // The client's next segment is a new flow to the proxy (whose stack resets it), never the server.
    const r = await out({ flags: Flags.ACK | Flags.PSH, payload: Buffer.from('GET /admin HTTP/1.1\r\n\r\n') });
    expect(r.retval).toBe(TcAction.Redirect);
    expect(t.ctTcp.get(egressKey)).toMatchObject({ proxyPort: 15001, policyGen: 2 });
    expect(t.ctTcp.get(egressKey)!.flags & CtFlags.Proxy).toBe(CtFlags.Proxy);
  });

  it('keeps a proxied flow with the proxy when policy changes and still redirects it', async () => {
    t.policy(300, PolicyDir.Egress, [{ peer: 400, port: 443, protocol: TCP, verdict: 'redirect', proxyPort: 15001 }]);
    expect((await out({ flags: Flags.SYN })).retval).toBe(TcAction.Redirect);
    t.config({ policyGen: 2 });
    expect((await out({ flags: Flags.ACK })).retval).toBe(TcAction.Redirect);
    expect(t.ctTcp.get(egressKey)?.policyGen).toBe(2);
    expect(t.counter(Reason.L7Rejudged, Direction.Egress)).toBe(0n);
  });

  it('marks each direction whose payload went through the stack, and only that one (no sk_msg redirect later)', async () => {
    const path = () => t.ctTcp.get(egressKey)?.path ?? 0;
    await out({ flags: Flags.SYN });
    await back({ flags: Flags.SYN | Flags.ACK });
    await out({ flags: Flags.ACK });
    expect(path()).toBe(0);
    await back({ flags: Flags.ACK | Flags.PSH, payload: Buffer.from('greeting') });
    expect(path()).toBe(CtPath.RxStack);
    await out({ flags: Flags.ACK | Flags.PSH, payload: Buffer.from('hello') });
    expect(path()).toBe(CtPath.RxStack | CtPath.TxStack);
    // A FIN without payload changes no path.
    await out({ flags: Flags.ACK | Flags.FIN });
    expect(path()).toBe(CtPath.RxStack | CtPath.TxStack);
  });

  it("lets an ICMP error about a tracked flow reach its sender (path MTU discovery), and no other ICMP from that router", async () => {
    const ROUTER = '10.0.9.9';
    const toA = (data: Buffer) => t.dp.program('tc_to_endpoint').testRun({ data });
    const quoted = { src: A, dst: B, sport: 50000, dport: 443, proto: TCP, flags: Flags.ACK } as const;
    const fragNeeded = (q: Packet) => icmpErrorFrame({ src: ROUTER, dst: A, type: 3, code: 4, mtu: 1400, quoted: q });
    // Before the flow exists the router's error is just ICMP from a peer policy does not allow.
    expect((await toA(fragNeeded(quoted))).retval).toBe(TcAction.Shot);
    await out({ flags: Flags.SYN });
    expect((await toA(fragNeeded(quoted))).retval).toBe(TcAction.Ok);
    // Time exceeded (a traceroute through A's own flow) too; an error quoting another flow is not.
    expect((await toA(icmpErrorFrame({ src: ROUTER, dst: A, type: 11, code: 0, quoted }))).retval).toBe(TcAction.Ok);
    expect((await toA(fragNeeded({ ...quoted, dport: 444 }))).retval).toBe(TcAction.Shot);
    // A forged "error" to A quoting the flow's other direction (B's packet, which A never sent):
    // an error goes to the quoted packet's sender only, so this one is judged as plain ICMP.
    const reply = { src: B, dst: A, sport: 443, dport: 50000, proto: TCP, flags: Flags.ACK } as const;
    expect((await toA(icmpErrorFrame({ src: B, dst: A, type: 3, code: 4, mtu: 1400, quoted: reply }))).retval).toBe(TcAction.Shot);
    // Other traffic from the router stays refused, and none of this made a conntrack entry.
    expect((await toA(frame({ src: ROUTER, dst: A, sport: 7, dport: 7, proto: UDP }))).retval).toBe(TcAction.Shot);
    expect(t.ctTcp.count()).toBe(1);
  });

  it("judges a datagram's later fragments with its first fragment's ports", async () => {
    t.policy(300, PolicyDir.Egress, [{ peer: 400, port: 53, protocol: UDP, verdict: 'allow' }]);
    const udp = (dport: number, frag: Packet['frag']) =>
      t.dp.program('tc_from_endpoint').testRun({ data: frame({ src: A, dst: B, sport: 40000, dport, proto: UDP, frag, payload: Buffer.alloc(64) }) });
    expect((await udp(53, { id: 0x1234, offset: 0, more: true })).retval).toBe(TcAction.Ok);
    expect((await udp(53, { id: 0x1234, offset: 185, more: true })).retval).toBe(TcAction.Ok);
    expect((await udp(53, { id: 0x1234, offset: 370, more: false })).retval).toBe(TcAction.Ok);
    // A later fragment of a datagram whose first was never seen has no ports: refused.
    expect((await udp(53, { id: 0x9999, offset: 185, more: false })).retval).toBe(TcAction.Shot);
    // A datagram to a port policy refuses: its later fragments are refused too.
    expect((await udp(54, { id: 0x2222, offset: 0, more: true })).retval).toBe(TcAction.Shot);
    expect((await udp(54, { id: 0x2222, offset: 185, more: false })).retval).toBe(TcAction.Shot);
  });

  it('tracks UDP in the non-TCP table with its own timeout', async () => {
    t.policy(300, PolicyDir.Egress, [{ peer: 400, port: 53, protocol: UDP, verdict: 'allow' }]);
    expect((await out({ proto: UDP, dport: 53 })).retval).toBe(TcAction.Ok);
    expect(t.ctTcp.count()).toBe(0);
    const e = t.ctAny.get({ ...egressKey, dport: 53, proto: UDP });
    expect(e?.expires).toBeLessThanOrEqual(monotonicSeconds() + DEFAULT_CONFIG.ctAnyS + 1);
    expect((await back({ proto: UDP, sport: 53 })).retval).toBe(TcAction.Ok);
  });

  it('garbage collection removes expired entries and keeps live ones', async () => {
    // Live: a real flow through the program. Dead: entries that expired a while ago.
    await out({ flags: Flags.SYN });
    const now = monotonicSeconds();
    for (let i = 0; i < 100; i++)
      t.ctTcp.set({ ...egressKey, sport: 1000 + i }, { expires: now - 5, srcIdentity: 300, backendId: 0, revNat: 0, flags: 0, policyGen: 1, txTcpFlags: 2, rxTcpFlags: 0, proxyPort: 0, path: 0 });
    expect(t.ctTcp.count()).toBe(101);
    const r = await collectConntrack(t.ctTcp, now, 16);
    expect(r).toEqual({ scanned: 101, deleted: 100 });
    expect([...t.ctTcp.entries()].map((e) => e.key)).toEqual([egressKey]);
  });
});
