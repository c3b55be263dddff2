// tc_endpoint.o, endpoint policy: crafted packets through BPF_PROG_TEST_RUN.
// Setup: a local endpoint A (10.0.1.1, identity 300, enforced) and remote peers in the ipcache.
// Each case: packet -> verdict, the packet bytes after the program, and the map state.
import { TcAction } from 'libbpfjs';
import { ConfigFlags } from '../../common/maps/config.js';
import { CtFlags, CtScope } from '../../common/maps/conntrack.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { PolicyDir } from '../../common/maps/policy.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { Flags, frame, SCTP, TCP, UDP, type Packet } from './packets.js';

const A = '10.0.1.1';
const B = '10.0.2.1'; // identity 400
const C = '10.0.2.2'; // identity 401

describePrivileged('tc_endpoint.o: endpoint policy', () => {
  let t: TestDatapath;

  beforeEach(async () => {
    t = await TestDatapath.load(['tc_endpoint']);
    t.endpoint(A, 300, { enforce: true });
    t.ipcache(`${B}/32`, 400);
    t.ipcache(`${C}/32`, 401);
  });
  afterEach(() => t.close());

  const toA = async (p: Partial<Packet>) => {
    const data = frame({ src: B, dst: A, sport: 40000, dport: 8080, proto: TCP, flags: Flags.SYN, ...p });
    const r = await t.dp.program('tc_to_endpoint').testRun({ data });
    return { ...r, data };
  };

  it('allows a port the policy allows, unchanged, and tracks the flow', async () => {
    t.policy(300, PolicyDir.Ingress, [{ peer: 400, port: 8080, protocol: TCP, verdict: 'allow' }]);
    const r = await toA({});
    expect(r.retval).toBe(TcAction.Ok);
    expect(r.dataOut).toEqual(r.data);
    const e = t.ctTcp.get({ saddr: B, daddr: A, sport: 40000, dport: 8080, proto: TCP, scope: CtScope.Ingress, pad: 0 });
    expect(e).toMatchObject({ srcIdentity: 400, txTcpFlags: Flags.SYN });
    expect(t.counter(Reason.Forwarded, Direction.Ingress)).toBe(1n);
  });

  it('enforces SCTP by port like TCP and UDP, and an SCTP rule opens no TCP', async () => {
    t.policy(300, PolicyDir.Ingress, [{ peer: 400, port: 9000, protocol: SCTP, verdict: 'allow' }]);
    expect((await toA({ proto: SCTP, dport: 9000 })).retval).toBe(TcAction.Ok);
    expect((await toA({ proto: SCTP, dport: 9001 })).retval).toBe(TcAction.Shot);
    expect((await toA({ proto: TCP, dport: 9000 })).retval).toBe(TcAction.Shot);
  });

  it('drops a port the policy does not allow (default deny) and tracks nothing', async () => {
    t.policy(300, PolicyDir.Ingress, [{ peer: 400, port: 8080, protocol: TCP, verdict: 'allow' }]);
    const r = await toA({ dport: 9090 });
    expect(r.retval).toBe(TcAction.Shot);
    expect(t.ctTcp.count()).toBe(0);
    expect(t.counter(Reason.PolicyDefaultDeny, Direction.Ingress)).toBe(1n);
  });

  it('lets deny win over allow: a deny for one peer beats an allow-all for every peer', async () => {
    t.policy(300, PolicyDir.Ingress, [
      { peer: 0, port: 0, protocol: 0, verdict: 'allow' },
      { peer: 400, port: 8080, protocol: TCP, verdict: 'deny' },
    ]);
    expect((await toA({})).retval).toBe(TcAction.Shot);
    expect(t.counter(Reason.PolicyDenied, Direction.Ingress)).toBe(1n);
    expect((await toA({ src: C })).retval).toBe(TcAction.Ok);
    expect((await toA({ dport: 8081 })).retval).toBe(TcAction.Ok);
  });

  it('lets a broad deny of a peer beat a narrower allow of the same peer', async () => {
    t.policy(300, PolicyDir.Ingress, [
      { peer: 400, port: 8080, protocol: TCP, verdict: 'allow' },
      { peer: 400, port: 0, protocol: 0, verdict: 'deny' },
    ]);
    expect((await toA({})).retval).toBe(TcAction.Shot);
  });

  it('matches a port wildcard for its protocol only, and port ranges by block', async () => {
    t.policy(300, PolicyDir.Ingress, [
      { peer: 400, port: 0, protocol: TCP, verdict: 'allow' },
      { peer: 401, port: 5000, endPort: 5009, protocol: UDP, verdict: 'allow' },
    ]);
    expect((await toA({ dport: 1 })).retval).toBe(TcAction.Ok);
    expect((await toA({ dport: 65535, sport: 40001 })).retval).toBe(TcAction.Ok);
    expect((await toA({ proto: UDP, dport: 53 })).retval).toBe(TcAction.Shot);
    expect((await toA({ src: C, proto: UDP, dport: 5009 })).retval).toBe(TcAction.Ok);
    expect((await toA({ src: C, proto: UDP, dport: 5010 })).retval).toBe(TcAction.Shot);
    expect((await toA({ src: C, proto: UDP, dport: 4999 })).retval).toBe(TcAction.Shot);
  });

  it('hands traffic with a redirect verdict to the L7 proxy: marked, into loopback, tracked as proxied', async () => {
    t.policy(300, PolicyDir.Ingress, [{ peer: 400, port: 8080, protocol: TCP, verdict: 'redirect', proxyPort: 15001 }]);
    const ctx = Buffer.alloc(192); // struct __sk_buff; mark at offset 8
    const data = frame({ src: B, dst: A, sport: 40000, dport: 8080, proto: TCP, flags: Flags.SYN });
    const r = await t.dp.program('tc_to_endpoint').testRun({ data, ctx, ctxOutSize: 192 });
    expect(r.retval).toBe(TcAction.Redirect);
    expect(r.ctxOut?.readUInt32LE(8)).toBe(((15001 << 16) | 0x0a00) >>> 0);
    // Addressed to loopback's all-zero MAC, or its ingress would drop it as not for it.
    expect(r.dataOut?.subarray(0, 6)).toEqual(Buffer.alloc(6));
    expect(r.dataOut?.subarray(6)).toEqual(data.subarray(6));
    const e = t.ctTcp.get({ saddr: B, daddr: A, sport: 40000, dport: 8080, proto: TCP, scope: CtScope.Ingress, pad: 0 });
    expect(e).toMatchObject({ flags: expect.any(Number), proxyPort: 15001 });
    expect(e!.flags & CtFlags.Proxy).toBe(CtFlags.Proxy);
  });

  it('under auditMode, passes what policy would drop and counts it with its reason; a spoofed source still drops', async () => {
    t.config({ flags: ConfigFlags.PolicyAudit });
    t.policy(300, PolicyDir.Ingress, [
      { peer: 400, port: 8080, protocol: TCP, verdict: 'allow' },
      { peer: 401, port: 0, protocol: 0, verdict: 'deny' },
    ]);
    expect((await toA({})).retval).toBe(TcAction.Ok);
    expect((await toA({ dport: 9090, sport: 40001 })).retval).toBe(TcAction.Ok);
    expect((await toA({ src: C })).retval).toBe(TcAction.Ok);
    expect([t.counter(Reason.AuditPolicyDefault, Direction.Ingress), t.counter(Reason.AuditPolicyDenied, Direction.Ingress)]).toEqual([1n, 1n]);
    expect([t.counter(Reason.PolicyDefaultDeny, Direction.Ingress), t.counter(Reason.PolicyDenied, Direction.Ingress)]).toEqual([0n, 0n]);
    // The audited flow is tracked as allowed: its next packet is not audited again.
    expect((await toA({ dport: 9090, sport: 40001, flags: Flags.ACK })).retval).toBe(TcAction.Ok);
    expect(t.counter(Reason.AuditPolicyDefault, Direction.Ingress)).toBe(1n);
    // Audit is about policy: anti-spoofing is not relaxed.
    const r = await t.dp.program('tc_from_endpoint').testRun({ data: frame({ src: '10.0.1.99', dst: B, sport: 1, dport: 2, proto: UDP }) });
    expect(r.retval).toBe(TcAction.Shot);
  });

  it('does not enforce on an endpoint no policy selects', async () => {
    t.endpoint(A, 300, { enforce: false });
    expect((await toA({ dport: 9090 })).retval).toBe(TcAction.Ok);
  });

  it('drops what a pod sends from an address that is not its own', async () => {
    const r = await t.dp.program('tc_from_endpoint').testRun({ data: frame({ src: '10.0.1.99', dst: B, sport: 1, dport: 2, proto: UDP }) });
    expect(r.retval).toBe(TcAction.Shot);
    expect(t.counter(Reason.InvalidSource, Direction.Egress)).toBe(1n);
  });
});
