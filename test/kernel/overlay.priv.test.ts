// tc_overlay.o and tc_endpoint.o, the VXLAN overlay's two ends as far as a test run reaches them:
// tc_to_overlay sends a packet into the tunnel only to a destination some node hosts (the tunnel
// key itself is seen on the wire, in the sandbox test), and tc_to_endpoint judges a packet that
// came through the tunnel by the identity the tunnel gave it (skb->mark, set through the context
// BPF_PROG_TEST_RUN takes), not by its inner source address.
// Setup: a local endpoint A (300, enforced) allowing identity 400 on 8080; B a remote pod (400)
// hosted by node 192.168.78.12; R an address the ipcache knows only as the world.
import { TcAction } from 'libbpfjs';
import { ConfigFlags, encryptMarkOf } from '../../common/maps/config.js';
import { CtScope } from '../../common/maps/conntrack.js';
import { IpcacheFlags } from '../../common/maps/ipcache.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { identityMarkOf } from '../../common/maps/overlay.js';
import { PolicyDir } from '../../common/maps/policy.js';
import { describePrivileged } from '../harness/privileged.js';
import { TestDatapath } from '../harness/datapath.js';
import { Flags, frame, TCP, type Packet } from './packets.js';

const A = '10.0.1.1';
const B = '10.0.2.5';
const R = '10.0.9.9';
const OUTSIDE = '203.0.113.7';
const REMOTE_NODE = '192.168.78.12';
/** struct __sk_buff (uapi): its size, mark after len and pkt_type, ingress_ifindex after priority. */
const SKB_SIZE = 192;
const SKB_MARK_OFFSET = 8;
const SKB_INGRESS_IFINDEX_OFFSET = 36;
/** The tunnel device's index, as a packet that arrived through it carries (any non-zero one here). */
const TUNNEL_IFINDEX = 7;

describePrivileged('the VXLAN overlay: tc_to_overlay, and tc_to_endpoint trusting the tunnel identity', () => {
  let t: TestDatapath;

  beforeEach(async () => {
    t = await TestDatapath.load(['tc_endpoint', 'tc_overlay']);
    t.config({ tunnelIfindex: TUNNEL_IFINDEX });
    t.endpoint(A, 300, { enforce: true });
    t.ipcache(`${B}/32`, 400, { tunnel: REMOTE_NODE });
    t.ipcache('10.0.2.0/24', 2, { tunnel: REMOTE_NODE });
    t.ipcache(`${REMOTE_NODE}/32`, 6, { flags: IpcacheFlags.Node });
    t.ipcache('10.0.9.0/24', 2);
    t.policy(300, PolicyDir.Ingress, [{ peer: 400, port: 8080, protocol: TCP, verdict: 'allow' }]);
  });
  afterEach(() => t.close());

  const run = async (prog: string, p: Partial<Packet>, mark = 0, ingressIfindex = TUNNEL_IFINDEX) => {
    const ctx = Buffer.alloc(SKB_SIZE);
    ctx.writeUInt32LE(mark, SKB_MARK_OFFSET);
    ctx.writeUInt32LE(ingressIfindex, SKB_INGRESS_IFINDEX_OFFSET);
    const r = await t.dp.program(prog).testRun({ data: frame({ src: R, dst: A, sport: 40000, dport: 8080, proto: TCP, flags: Flags.SYN, ...p }), ctx, ctxOutSize: SKB_SIZE });
    return r.retval;
  };

  it('judges a tunnelled packet by the identity in its mark: allowed as 400, refused as another or without one', async () => {
    expect(await run('tc_to_endpoint', {})).toBe(TcAction.Shot);
    expect(await run('tc_to_endpoint', { sport: 40001 }, identityMarkOf(401))).toBe(TcAction.Shot);
    expect(await run('tc_to_endpoint', { sport: 40002 }, identityMarkOf(400))).toBe(TcAction.Ok);
    const e = t.ctTcp.get({ saddr: R, daddr: A, sport: 40002, dport: 8080, proto: TCP, scope: CtScope.Ingress, pad: 0 });
    expect(e?.srcIdentity).toBe(400);
    // Another subsystem's mark (the proxy's 0x0a00) says nothing about identity.
    expect(await run('tc_to_endpoint', { sport: 40003 }, 0x0a00 | (400 << 16))).toBe(TcAction.Shot);
  });

  it("does not believe an identity mark on a packet the node made itself (a local process's SO_MARK)", async () => {
    // The forgery: a process on the node marks its packet with an allowed identity (no ingress interface).
    expect(await run('tc_to_endpoint', { sport: 40010 }, identityMarkOf(400), 0)).toBe(TcAction.Shot);
    // The same mark on a packet that arrived through a device (the tunnel) is believed.
    expect(await run('tc_to_endpoint', { sport: 40011 }, identityMarkOf(400))).toBe(TcAction.Ok);
  });

  it('believes an identity mark only on a packet that came in through the tunnel device, not another interface', async () => {
    // The forgery: a tc or netfilter rule on another interface (eth0, a second NIC) marks what it brings in.
    expect(await run('tc_to_endpoint', { sport: 40020 }, identityMarkOf(400), TUNNEL_IFINDEX + 1)).toBe(TcAction.Shot);
    // With no tunnel on the node (native mode), no mark is believed at all.
    t.config({ tunnelIfindex: 0 });
    expect(await run('tc_to_endpoint', { sport: 40021 }, identityMarkOf(400))).toBe(TcAction.Shot);
  });

  it('does not believe the tunnel identity while the node encrypts: the inner source address decides, as natively', async () => {
    // The forgery: VXLAN from a node address claiming an allowed identity for an address that has another.
    t.config({ tunnelIfindex: TUNNEL_IFINDEX, encryptMark: encryptMarkOf(1) });
    expect(await run('tc_to_endpoint', { sport: 40030 }, identityMarkOf(400))).toBe(TcAction.Shot);
    // The allowed pod's own address is allowed by what the ipcache says of it.
    expect(await run('tc_to_endpoint', { src: B, sport: 40031 })).toBe(TcAction.Ok);
    // Strict mode on a node that cannot encrypt yet: still not believed.
    t.config({ tunnelIfindex: TUNNEL_IFINDEX, flags: ConfigFlags.EncryptRequired });
    expect(await run('tc_to_endpoint', { sport: 40032 }, identityMarkOf(400))).toBe(TcAction.Shot);
  });

  it('carries identities above 16 bits', async () => {
    t.policy(300, PolicyDir.Ingress, [{ peer: 0x123456, port: 8080, protocol: TCP, verdict: 'allow' }]);
    expect(await run('tc_to_endpoint', {}, identityMarkOf(0x123456))).toBe(TcAction.Ok);
  });

  it('sends into the tunnel what a node hosts, and drops and counts what none does', async () => {
    expect(await run('tc_to_overlay', { src: A, dst: B })).toBe(TcAction.Ok);
    // A pod of that node the ipcache has no identity for yet: its pod CIDR names the node.
    expect(await run('tc_to_overlay', { src: A, dst: '10.0.2.77' })).toBe(TcAction.Ok);
    // Another node's own address (what the agent routes here from pods): to that node.
    expect(await run('tc_to_overlay', { src: A, dst: REMOTE_NODE })).toBe(TcAction.Ok);
    expect(await run('tc_to_overlay', { src: A, dst: OUTSIDE })).toBe(TcAction.Shot);
    expect(t.counter(Reason.NoTunnel, Direction.Egress)).toBe(1n);
    expect(t.counter(Reason.Forwarded, Direction.Egress)).toBe(3n);
  });
});
