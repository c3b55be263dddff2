// Pod traffic between nodes on two L3 segments (the LAN namespace routes between them), so only
// Weir's own routes or its VXLAN tunnel can carry it: natively first, then a live change to VXLAN
// under streams both ways (every node listening before any sends), then VXLAN with the identity in
// the VNI (seen on the wire), forged tunnel packets from a non-node refused and counted, and in
// native mode no listener at all, the overlay MTU for new pods and path MTU
// discovery for old ones and for NodePort clients, and a node coming and going.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BpfMap } from 'libbpfjs';
import { TypedMap } from '../../agent/maps/typed.js';
import { cidrKey, IpcacheFlags, ipcacheMap } from '../../common/maps/ipcache.js';
import { parseIp4 } from '../../common/maps/layout.js';
import { Capture } from '../harness/capture.js';
import { TestCluster } from '../harness/cluster.js';
import { repoRoot } from '../harness/paths.js';
import { describePrivileged } from '../harness/privileged.js';
import { eventually } from '../harness/wait.js';
import { runInPod, type TcpFlowResult, type TcpStreamResult } from '../../sandbox/pods.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { API_VERSION, DatapathConfigResource, NetworkPolicyResource, NodeDatapathResource, ReservedIdentity, gvr, type NodeDatapath } from '../../api/v1alpha1/index.js';

const VIP = '10.96.30.10';
const NODE_PORT = 30090;
const VXLAN_PORT = 8472;



describePrivileged('the overlay between nodes on two L3 segments', () => {
  let cluster: TestCluster;
  let sb: Sandbox;
  let n1: SandboxNode;
  let n2: SandboxNode;
  const pod = (name: string): SandboxPod => sb.pods.get(name)!;
  const tryTcp = (from: string, ip: string, port: number, ms = 2000) => sb.run<string>(pod(from), ['tcp-try', ip, String(port), String(ms)]);
  const routes = (n: SandboxNode) => execFileSync('nsenter', [`--net=${n.nsPath}`, 'ip', 'route', 'show', 'proto', '201'], { encoding: 'utf8' });
  const ndp = async (n: SandboxNode) => (await sb.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })) as NodeDatapath;
  const identityOf = async (p: SandboxPod) => (await ndp(p.node)).spec!.endpoints!.find((e) => e.name === p.name)!.identity;
  const setMode = (mode: 'none' | 'vxlan') => sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { overlay: { mode } } } } }, merge);
  const bothReport = (mode: 'none' | 'vxlan') =>
    eventually(`both nodes report overlay ${mode}`, async () => (await Promise.all([n1, n2].map(ndp))).every((d) => d.status?.overlay?.mode === mode), 60_000, 250);
  const ipcache = (n: SandboxNode, cidr: string) => {
    const m = BpfMap.openPinned(join(n.pinRoot, ipcacheMap.name));
    try {
      return new TypedMap(ipcacheMap, m).get(cidrKey(cidr));
    } finally {
      m.close();
    }
  };
  const mtuOf = (p: SandboxPod) => (JSON.parse(execFileSync('ip', ['-n', p.net.ns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' })) as Array<{ mtu: number }>)[0].mtu;
  /** A VXLAN datagram sent by hand from a namespace (sandbox/vxlansend.py). */
  const forge = (fromNs: string, node: SandboxNode, vni: number, innerSrc: string, innerDst: string, dport: number, msg: string) =>
    runInPod(fromNs, [node.ip, String(VXLAN_PORT), String(vni), innerSrc, innerDst, String(dport), msg], { command: ['python3', join(repoRoot, 'sandbox', 'vxlansend.py')] });

  const hasTunnelDevice = (n: SandboxNode) => {
    try {
      sb.lab.exec(n.ns, 'ip', ['link', 'show', 'weir_vxlan']);
      return true;
    } catch {
      return false;
    }
  };
  /**
   * In native mode nothing listens on the VXLAN port: a datagram from a node's address claiming
   * the client's identity delivers nothing, while the client itself reaches the same port.
   */
  const noTunnelListener = async () => {
    const client = await identityOf(pod('client'));
    const sink = sb.run<{ got: Array<{ from: string; msg: string }> }>(pod('web'), ['udp-log', '4', '9000', '3000']);
    await new Promise((r) => setTimeout(r, 500));
    await forge(n1.ns, n2, client, n1.podCidr.replace(/\.0\/24$/, '.249'), pod('web').ip, 9000, 'forged-native');
    await sb.run(pod('client'), ['udp-send', pod('web').ip, '9000', '8']);
    expect((await sink).got).toEqual([{ from: pod('client').ip, msg: 'aaaaaaaa' }]);
    expect([n1, n2].map(hasTunnelDevice)).toEqual([false, false]);
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wov', nodes: 2, segments: 2 });
    [n1, n2] = sb.nodes as [SandboxNode, SandboxNode];
    await sb.createDatapathConfig({ features: { overlay: { mode: 'none', vxlanPort: VXLAN_PORT } }, rollout: { maxUnavailable: 1, nodeTimeoutSeconds: 10 } });
    await sb.startControlPlane();
    await sb.addPod(n1, 'client', { app: 'client' });
    await sb.addPod(n1, 'stranger', { app: 'stranger' });
    await sb.addPod(n1, 'echo-1', { app: 'echo' });
    await sb.addPod(n2, 'web', { app: 'web' });
    await sb.addPod(n2, 'echo-2', { app: 'echo' });
    await sb.serve(pod('web'), ['serve-tcp', '8080', 'web']);
    for (const e of ['echo-1', 'echo-2']) await sb.serve(pod(e), ['serve-echo', '7000']);
    await sb.custom.createNamespacedCustomObject({
      ...gvr(NetworkPolicyResource),
      namespace: 'default',
      body: {
        apiVersion: API_VERSION,
        kind: 'NetworkPolicy',
        metadata: { name: 'web', namespace: 'default' },
        spec: {
          endpointSelector: { matchLabels: { app: 'web' } },
          ingress: [
            { fromEndpoints: [{ matchLabels: { app: 'client' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }, { port: 9000, protocol: 'UDP' }] }] },
            // NodePort clients arrive SNATed by the node they reached.
            { fromEntities: ['remote-node'], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] },
          ],
        },
      },
    });
    await sb.core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'web' }, spec: { type: 'NodePort', clusterIP: VIP, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: NODE_PORT, protocol: 'TCP' }] } },
    });
    await sb.setEndpoints('web', 'default', [{ name: 'http', port: 8080, protocol: 'TCP' }], [pod('web')]);
    await sb.settled();
  }, 300_000);

  afterAll(async () => {
    await sb?.stop();
    await cluster?.stop();
  }, 60_000);

  const paths = async () => {
    // Pod to pod across the segments, policy holding: the client in, the stranger out.
    expect(await tryTcp('client', pod('web').ip, 8080)).toBe('connected');
    expect(await tryTcp('stranger', pod('web').ip, 8080)).toBe('timeout');
    // A ClusterIP whose only backend is on the other node.
    expect(await tryTcp('client', VIP, 80)).toBe('connected');
    // A NodePort on n1 from outside, to the backend on n2.
    expect(await sb.runOutside<string>(0, ['tcp-try', n1.ip, String(NODE_PORT), '2000'])).toBe('connected');
  };

  it("natively: Weir's routes carry pod traffic, through the router to the other segment, and no node listens for VXLAN", async () => {
    expect(routes(n1)).toContain(`${n2.podCidr} via 192.168.77.1 dev eth0`);
    expect(routes(n2)).toContain(`${n1.podCidr} via 192.168.78.1 dev eth0`);
    await paths();
    for (const d of await Promise.all([n1, n2].map(ndp))) {
      expect(d.spec?.overlay).toEqual({ receive: false });
      expect(d.status?.overlay).toMatchObject({ mode: 'none', receiving: false });
    }
    await noTunnelListener();
  });

  it('moves to VXLAN node by node under live streams both ways, cutting none, none sending before every node listens; a node that does not apply holds the rollout', async () => {
    const streams = [sb.run<TcpFlowResult>(pod('echo-1'), ['tcp-flow', pod('echo-2').ip, '7000', '16'], 60_000), sb.run<TcpFlowResult>(pod('echo-2'), ['tcp-flow', pod('echo-1').ip, '7000', '16'], 60_000)];
    await new Promise((r) => setTimeout(r, 2000));
    // n2's agent is down (its datapath keeps running): asked for the tunnel device, it cannot make it.
    await sb.killAgent(n2);
    await setMode('vxlan');
    await eventually('n1 listens for VXLAN', async () => (await ndp(n1)).status?.overlay?.receiving === true, 30_000, 100);
    await eventually('n2 asked for its device', async () => (await ndp(n2)).spec?.overlay?.receive === true, 30_000, 100);
    expect([n1, n2].map(hasTunnelDevice)).toEqual([true, false]);
    // No node is given VXLAN to send with while n2 cannot receive it.
    const sendingVxlan = async () => (await Promise.all([n1, n2].map(ndp))).filter((d) => d.spec?.features?.overlay?.mode === 'vxlan').map((d) => d.metadata!.name);
    for (let i = 0; i < 10; i++) {
      expect(await sendingVxlan()).toEqual([]);
      await new Promise((r) => setTimeout(r, 200));
    }
    type Rollout = { phase?: string; inProgress?: string[]; nodesFailed?: Array<{ node: string; reason: string }> };
    const rollout = async () => ((await sb.custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as { status?: { rollout?: Rollout } }).status?.rollout;
    // n2 holds the rollout making its device (n1 waits for it: pending, not in progress).
    await eventually('the rollout shows n2 in progress', async () => JSON.stringify((await rollout())?.inProgress) === JSON.stringify([n2.name]) || (await rollout())?.phase === 'Paused', 30_000, 100);
    // Silent past the node timeout (10 s here): failed, and the rollout pauses saying why.
    const paused = await eventually('the rollout paused on n2', async () => ((await rollout())?.phase === 'Paused' ? rollout() : undefined), 30_000, 250);
    expect(paused?.nodesFailed).toEqual([{ node: n2.name, reason: expect.stringMatching(/^overlay tunnel device not reported after \d+ s/) }]);
    expect(await sendingVxlan()).toEqual([]);
    // The agent is back: it listens, then the nodes switch, never two at once (maxUnavailable 1).
    sb.startAgent(n2);
    const switching = async () => (await Promise.all([n1, n2].map(ndp))).filter((d) => d.spec?.features?.overlay?.mode === 'vxlan' && d.status?.overlay?.mode !== 'vxlan').map((d) => d.metadata!.name);
    const seen: Array<Array<string | undefined>> = [];
    await eventually('both nodes report overlay vxlan, one switching at a time', async () => {
      seen.push(await switching());
      return (await Promise.all([n1, n2].map(ndp))).every((d) => d.status?.overlay?.mode === 'vxlan');
    }, 90_000, 100);
    expect(seen.filter((s) => s.length > 1)).toEqual([]);
    await eventually('the rollout completes', async () => (await rollout())?.phase === 'Complete', 30_000, 250);
    for (const s of await Promise.all(streams)) expect(s).toMatchObject({ error: null, intact: true });
    expect(routes(n1)).toMatch(new RegExp(`${n2.podCidr.replace(/\./g, '\\.')} dev weir_vxlan`));
  }, 120_000);

  it('with VXLAN: the same paths work, the underlay carries only the tunnel, and the VNI is the sender identity', async () => {
    // The underlay between n1 and the router: what crosses it while every path is used.
    const wire = new Capture(`${sb.prefix}-lan`, 'br0', { vxlanPort: VXLAN_PORT });
    let lines: string[];
    try {
      await wire.ready();
      await paths();
    } finally {
      ({ lines } = await wire.stop());
    }
    const client = await identityOf(pod('client'));
    expect(lines.some((l) => l.includes(`vni ${client}`) && l.includes(`${pod('client').ip}.`) && l.includes(`> ${pod('web').ip}.8080`))).toBe(true);
    // No pod packet on the underlay outside the tunnel.
    expect(lines.filter((l) => !l.includes('VXLAN,') && /10\.244\./.test(l))).toEqual([]);
    expect(lines.length).toBeGreaterThan(0);
  });

  it('judges what comes through the tunnel by the VNI, and refuses VXLAN from an address that is not a node', async () => {
    const client = await identityOf(pod('client'));
    const stranger = await identityOf(pod('stranger'));
    const sink = sb.run<{ got: Array<{ from: string; msg: string }> }>(pod('web'), ['udp-log', '4', '9000', '4000']);
    await new Promise((r) => setTimeout(r, 500));
    const before = await sb.metric(n2, 'weir_datapath_packets_total', 'reason="tunnel_source"');
    // From a node (n1's address), with the client's identity and an inner source that is no
    // pod (an unused address of n1's pod CIDR, which by itself the policy refuses).
    const unused = (i: number) => n1.podCidr.replace(/\.0\/24$/, `.${250 + i}`);
    await forge(n1.ns, n2, client, unused(0), pod('web').ip, 9000, 'as-client');
    await forge(n1.ns, n2, stranger, unused(1), pod('web').ip, 9000, 'as-stranger');
    // From outside the cluster, claiming the client's identity.
    await forge(sb.outside[0].ns, n2, client, unused(2), pod('web').ip, 9000, 'forged');
    const got = (await sink).got.map((g) => g.msg);
    expect(got).toEqual(['as-client']);
    expect(await sb.metric(n2, 'weir_datapath_packets_total', 'reason="tunnel_source"')).toBeGreaterThan(before);
  });

  it('gives new pods the tunnel MTU, and path MTU discovery works for old pods and NodePort clients', async () => {
    // Status and the CNI configuration say the tunnel's MTU; a pod made now has it.
    expect((await ndp(n1)).status?.overlay?.podMTU).toBe(1450);
    const fresh = await sb.addPod(n1, 'fresh', { app: 'client' });
    expect(mtuOf(fresh)).toBe(1450);
    // The pods from before the change kept 1500: a full-size TCP stream still goes through,
    // the node's "fragmentation needed" lowering their path MTU.
    expect(mtuOf(pod('client'))).toBe(1500);
    const big = await sb.run<TcpStreamResult>(pod('client'), ['tcp-stream', pod('web').ip, '8080', String(4 * 1024 * 1024)], 60_000);
    expect(big.error).toBeUndefined();
    expect(big.remoteDigest).toBe(big.localDigest);
    // An outside client at 1500 uploading through a NodePort on n1 to the backend behind the
    // tunnel: n1 answers "fragmentation needed" for the path its client cannot see.
    const upload = await sb.runOutside<TcpStreamResult>(0, ['tcp-stream', n1.ip, String(NODE_PORT), String(2 * 1024 * 1024)], 60_000);
    expect(upload.error).toBeUndefined();
    expect(upload.remoteDigest).toBe(upload.localDigest);
  }, 120_000);

  it('follows nodes coming and going: a new node gets a route on every node, a deleted one loses it', async () => {
    await sb.core.createNode({ body: { metadata: { name: 'wov-extra' }, spec: { podCIDR: '10.244.9.0/24' } } });
    await sb.core.patchNodeStatus({ name: 'wov-extra', body: { status: { addresses: [{ type: 'InternalIP', address: '192.168.78.99' }] } } }, merge);
    await eventually('both nodes route to the new node', () => [n1, n2].every((n) => routes(n).includes('10.244.9.0/24 dev weir_vxlan')), 30_000, 250);
    // Its ipcache entries: the node's address, and its pod CIDR with the node as tunnel endpoint.
    expect(ipcache(n1, '192.168.78.99')).toMatchObject({ identity: ReservedIdentity.RemoteNode, flags: IpcacheFlags.Node });
    expect(ipcache(n1, '10.244.9.0/24')?.tunnelIp4).toBe(parseIp4('192.168.78.99'));
    await sb.core.deleteNode({ name: 'wov-extra' });
    await eventually('both nodes dropped its route', () => [n1, n2].every((n) => !routes(n).includes('10.244.9.0/24')), 30_000, 250);
    await eventually('and its ipcache entries', () => !ipcache(n1, '192.168.78.99') && !ipcache(n1, '10.244.9.0/24'), 30_000, 250);
  });

  it('moves back to native routing, the paths still work, and the tunnel devices go once no node sends through them', async () => {
    await setMode('none');
    await bothReport('none');
    expect(routes(n1)).toContain(`${n2.podCidr} via 192.168.77.1 dev eth0`);
    await paths();
    await eventually('neither node listens for VXLAN', async () => (await Promise.all([n1, n2].map(ndp))).every((d) => d.spec?.overlay?.receive === false && d.status?.overlay?.receiving === false), 60_000, 250);
    await noTunnelListener();
    await paths();
  }, 120_000);
});
