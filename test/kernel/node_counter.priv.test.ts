// bpf/node_counter.c end to end: build output → libbpfjs load with a resized map → attach on a
// veth in a fresh namespace → real packets → counters read back. Plus a BPF_PROG_TEST_RUN check.
import { mkdtempSync, rmSync } from 'node:fs';
import { attachTc, attachXdp, ifindex, loadObject, TcAction, withNetns, XdpAction, type Collection } from 'libbpfjs';
import { Direction, encodeMetricsKey, metricsMap, Reason } from '../../common/maps/metrics.js';
import { decodeMetricsValue, readMetrics } from '../../agent/maps/counters.js';
import { Lab, sendUdp } from '../../sandbox/netns.js';
import { describePrivileged } from '../harness/privileged.js';
import { bpfObject } from './paths.js';

// Packet: Ethernet + IPv4 + UDP, 100 bytes of payload.
function udpFrame(payload = 100): Buffer {
  const f = Buffer.alloc(14 + 20 + 8 + payload);
  f.writeUInt16BE(0x0800, 12);
  f.writeUInt8(0x45, 14);
  f.writeUInt16BE(20 + 8 + payload, 16);
  f.writeUInt8(64, 22);
  f.writeUInt8(17, 23);
  Buffer.from([10, 0, 0, 1]).copy(f, 26);
  Buffer.from([10, 0, 0, 2]).copy(f, 30);
  f.writeUInt16BE(40000, 34);
  f.writeUInt16BE(9, 36);
  f.writeUInt16BE(8 + payload, 38);
  return f;
}

describePrivileged('node_counter.o', () => {
  let lab: Lab;
  let pinRoot: string;
  let obj: Collection;

  // Setup: a "node" namespace with eth0, a "peer" namespace on the other end of the veth.
  beforeEach(async () => {
    lab = new Lab('wkc');
    const node = lab.addNamespace('node');
    const peer = lab.addNamespace('peer');
    lab.addVeth({ ns: node, name: 'eth0' }, { ns: peer, name: 'eth0' });
    lab.addAddress(node, 'eth0', '10.99.0.1/24');
    lab.addAddress(peer, 'eth0', '10.99.0.2/24');
    pinRoot = mkdtempSync('/sys/fs/bpf/wkc-');
    obj = await loadObject(bpfObject('node_counter'), { pinRoot, maxEntries: { [metricsMap.name]: 64 } });
  });

  afterEach(() => {
    obj.close();
    lab.cleanup();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  it('counts real traffic on a veth: XDP on ingress, TC on egress', () => {
    const nodeNs = lab.netnsPath('wkc-node');
    const metrics = obj.map(metricsMap.name);
    expect(metrics.maxEntries).toBe(64);
    withNetns(nodeNs, () => {
      const eth0 = ifindex('eth0');
      attachXdp(obj.program('xdp_node_count'), eth0, { mode: 'driver' });
      attachTc(obj.program('tc_node_count'), eth0, 'egress');
    });

    // Packet: 25 datagrams from the peer; the node answers each with ICMP port unreachable.
    sendUdp(lab, 'wkc-peer', '10.99.0.1', 7, 25, 100);

    // Check: the counters, summed over CPUs, saw at least that traffic in each direction.
    const byDir = new Map(readMetrics(metrics).filter((m) => m.reason === Reason.Forwarded).map((m) => [m.dir, m]));
    const ingress = byDir.get(Direction.Ingress);
    const egress = byDir.get(Direction.Egress);
    expect(ingress?.packets).toBeGreaterThanOrEqual(25n);
    expect(ingress?.bytes).toBeGreaterThanOrEqual(25n * 142n);
    expect(egress?.packets).toBeGreaterThanOrEqual(1n);
    metrics.close();
  });

  it('passes a crafted packet unchanged and accounts it (BPF_PROG_TEST_RUN)', async () => {
    const frame = udpFrame();
    const xdp = obj.program('xdp_node_count');
    const tc = obj.program('tc_node_count');
    const x = await xdp.testRun({ data: frame, repeat: 10 });
    expect(x.retval).toBe(XdpAction.Pass);
    expect(x.dataOut).toEqual(frame);
    const t = await tc.testRun({ data: frame });
    expect(t.retval).toBe(TcAction.Ok);
    expect(t.dataOut).toEqual(frame);

    const metrics = obj.map(metricsMap.name);
    const ing = metrics.lookup(encodeMetricsKey({ reason: Reason.Forwarded, dir: Direction.Ingress }));
    expect(ing && decodeMetricsValue(ing)).toEqual({ packets: 10n, bytes: 10n * BigInt(frame.length) });
    const eg = metrics.lookup(encodeMetricsKey({ reason: Reason.Forwarded, dir: Direction.Egress }));
    expect(eg && decodeMetricsValue(eg)).toEqual({ packets: 1n, bytes: BigInt(frame.length) });
    metrics.close();
  });
});
