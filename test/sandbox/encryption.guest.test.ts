// Encryption between nodes, end to end, on a kernel with ESP and WireGuard (Debian's 6.1 in the
// test VM; the host has neither: test/vm/kernel61.vm.test.ts runs this file there). Two sandbox
// nodes, pods on each, the real operator and agents, and the underlay (the nodes' LAN bridge) captured with tcpdump: what crosses it is ESP or WireGuard, never a pod's
// bytes. Then a key that does not match drops and is counted, a key rotation under live streams
// loses nothing, and the same cluster moves to WireGuard.
import { randomUUID } from 'node:crypto';
import { Capture } from '../harness/capture.js';
import { TestCluster } from '../harness/cluster.js';
import { describePrivileged } from '../harness/privileged.js';
import { eventually } from '../harness/wait.js';
import type { TcpFlowResult } from '../../sandbox/pods.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { DatapathConfigResource, NodeDatapathResource, gvr, type NodeDatapath } from '../../api/v1alpha1/index.js';

const SECRET = { namespace: 'kube-system', name: 'weir-ipsec-keys' };
const KEY1 = '1 rfc4106(gcm(aes)) 0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f901234567 128';
const KEY2 = '2 rfc4106(gcm(aes)) 99887766554433221100ffeeddccbbaa99887766554433221100ffeeddccbbaa10203040 128';
/** The server's greeting and a datagram's payload: what must never be seen in clear on the underlay. */
const MARKER = 'weir-plaintext-marker';
const PAYLOAD_BYTES = 1000;


describePrivileged('encryption between nodes on a kernel with ESP and WireGuard', () => {
  let cluster: TestCluster;
  let sb: Sandbox;
  let n1: SandboxNode;
  let n2: SandboxNode;
  const pod = (name: string): SandboxPod => sb.pods.get(name)!;
  const ndp = async (n: SandboxNode) => (await sb.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })) as NodeDatapath;
  const tryTcp = (from: string, ip: string, port: number, ms = 3000) => sb.run<string>(pod(from), ['tcp-try', ip, String(port), String(ms)]);
  const secretBody = (keys: string) => ({ metadata: SECRET, data: { keys: Buffer.from(`${keys}\n`).toString('base64') } });
  const metric = (n: SandboxNode, name: string, labels = '') => sb.metric(n, name, labels);
  const xfrmErrors = async (n: SandboxNode, error: string) => metric(n, 'weir_encryption_errors_total', `error="${error}"`);
  /** Both nodes report this encryption state in status. */
  const bothReport = (what: string, ok: (s: NonNullable<NodeDatapath['status']>['encryption']) => boolean, timeoutMs = 90_000) =>
    eventually(what, async () => (await Promise.all([n1, n2].map(ndp))).every((d) => d.status?.encryption && ok(d.status.encryption)), timeoutMs, 250);
  /** Pod traffic both ways between the nodes while the underlay is captured. */
  const capturedExchange = async () => {
    const cap = new Capture(`${sb.prefix}-lan`, 'br0');
    await cap.ready();
    expect(await tryTcp('client', pod('server').ip, 8080)).toBe('connected');
    const reply = await sb.run<{ error?: string; reply?: string }>(pod('client'), ['udp-ask', pod('server').ip, '5353', '0']);
    await sb.run(pod('client'), ['udp-send', pod('server').ip, '5353', String(PAYLOAD_BYTES)]);
    const stream = await sb.run<{ sent: number; localDigest: string; remoteDigest: string }>(pod('client'), ['tcp-stream', pod('server').ip, '8080', String(256 * 1024), '16384'], 60_000);
    return { ...(await cap.stop()), reply, stream };
  };
  const noClearPodTraffic = (c: { lines: string[]; raw: Buffer }) => {
    // Pod addresses only ever inside the encrypted packets: no header, no payload in clear.
    expect(c.lines.filter((l) => / 10\.244\./.test(l))).toEqual([]);
    expect(c.raw.includes(Buffer.from(MARKER))).toBe(false);
    expect(c.raw.includes(Buffer.alloc(200, 0x61))).toBe(false);
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wen', nodes: 2 });
    [n1, n2] = sb.nodes as [SandboxNode, SandboxNode];
    await sb.core.createNamespacedSecret({ namespace: SECRET.namespace, body: secretBody(KEY1) });
    await sb.createDatapathConfig({ features: { encryption: { enabled: true, mode: 'ipsec' } } });
    await sb.startControlPlane();
    await sb.addPod(n1, 'client', { app: 'client' });
    await sb.addPod(n2, 'server', { app: 'server' });
    await sb.addPod(n1, 'client-b', { app: 'client' });
    await sb.addPod(n2, 'server-b', { app: 'server' });
    await sb.serve(pod('server'), ['serve-tcp', '8080', MARKER]);
    await sb.serve(pod('server'), ['serve-udp', '5353', MARKER]);
    await sb.serve(pod('server'), ['serve-echo', '8081']);
    await sb.serve(pod('client-b'), ['serve-echo', '8081']);
    await sb.settled(60_000);
    await bothReport('IPsec active with key 1 on both nodes', (e) => e!.active && e!.sendingKey === 1);
  }, 600_000);

  afterAll(async () => {
    await sb?.stop();
    await cluster?.stop();
  }, 60_000);

  it('IPsec: pod traffic between nodes crosses the underlay only as ESP, and arrives intact', async () => {
    const c = await capturedExchange();
    expect(c.reply).toMatchObject({ reply: `${MARKER}:hi` });
    expect(c.stream.remoteDigest).toBe(c.stream.localDigest);
    const esp = c.lines.filter((l) => /\bESP\(spi=0x[0-9a-f]+/.test(l));
    expect(esp.length).toBeGreaterThan(10);
    // Tunnels run between the node addresses, both ways.
    expect(esp.some((l) => l.includes(`${n1.ip} > ${n2.ip}`))).toBe(true);
    expect(esp.some((l) => l.includes(`${n2.ip} > ${n1.ip}`))).toBe(true);
    noClearPodTraffic(c);
    expect(await metric(n1, 'weir_encryption_packets_total', 'direction="encrypt"')).toBeGreaterThan(0);
    expect(await metric(n2, 'weir_encryption_packets_total', 'direction="decrypt"')).toBeGreaterThan(0);
    expect(await metric(n1, 'weir_encryption_key_generation')).toBe(1);
    const d = await ndp(n1);
    expect(d.status?.conditions?.find((x) => x.type === 'Encrypted')).toMatchObject({ status: 'True', reason: 'Active' });
  }, 180_000);

  it('IPsec: a receiver whose key does not match drops the packets and counts them; the agent repairs its state', async () => {
    // n2's state for what n1 sends, replaced by one with the same SPI and another key (what a node
    // with a different key would hold).
    const ns2 = `${sb.prefix}-n2`;
    const ip2 = (args: string[]) => sb.lab.exec(ns2, 'ip', args);
    const state = ip2(['xfrm', 'state', 'list', 'src', n1.ip, 'dst', n2.ip]);
    const spi = /spi (0x[0-9a-f]+)/.exec(state)![1];
    // Read from the kernel, not the agent's /metrics: the agent is stopped while it counts.
    const protoErrors = () => Number(/XfrmInStateProtoError\s+(\d+)/.exec(sb.lab.exec(ns2, 'cat', ['/proc/net/xfrm_stat']))?.[1] ?? 0);
    const before = protoErrors();
    const forged = `0x${'ab'.repeat(36)}`;
    // n2's agent is held still while the state is forged and judged: its pass every few seconds
    // would put the right state back between the delete and the add, or before the probe.
    const agent2 = n2.agent!;
    agent2.kill('SIGSTOP');
    try {
      ip2(['xfrm', 'state', 'delete', 'src', n1.ip, 'dst', n2.ip, 'proto', 'esp', 'spi', spi]);
      ip2(['xfrm', 'state', 'add', 'src', n1.ip, 'dst', n2.ip, 'proto', 'esp', 'spi', spi, 'reqid', String(0x5745), 'mode', 'tunnel', 'aead', 'rfc4106(gcm(aes))', forged, '128']);
      expect(await tryTcp('client', pod('server').ip, 8080, 2000)).toBe('timeout');
      expect(protoErrors()).toBeGreaterThan(before);
    } finally {
      agent2.kill('SIGCONT');
    }
    // Running again, the agent finds the state's key is not the pair key and replaces it.
    await eventually('n1 reaches n2 again', async () => (await tryTcp('client', pod('server').ip, 8080, 2000)) === 'connected', 60_000, 500);
    expect(ip2(['xfrm', 'state', 'list', 'src', n1.ip, 'dst', n2.ip])).not.toContain(forged);
  }, 180_000);

  it('IPsec: a new key rolls out node by node under live streams without losing a packet', async () => {
    const counters = async () => ({
      noStates: (await xfrmErrors(n1, 'XfrmInNoStates')) + (await xfrmErrors(n2, 'XfrmInNoStates')),
      blocked: (await xfrmErrors(n1, 'XfrmOutPolBlock')) + (await xfrmErrors(n2, 'XfrmOutPolBlock')),
      integrity: (await xfrmErrors(n1, 'XfrmInStateProtoError')) + (await xfrmErrors(n2, 'XfrmInStateProtoError')),
      mismatch: (await xfrmErrors(n1, 'XfrmInTmplMismatch')) + (await xfrmErrors(n2, 'XfrmInTmplMismatch')),
      refused: (await metric(n1, 'weir_datapath_packets_total', 'reason="no_encryption"')) + (await metric(n2, 'weir_datapath_packets_total', 'reason="no_encryption"')),
    });
    const before = await counters();
    // Streams both ways (n1 -> n2 and n2 -> n1), each echoing every byte back.
    const flows = [
      sb.run<TcpFlowResult>(pod('client'), ['tcp-flow', pod('server').ip, '8081', '45'], 120_000),
      sb.run<TcpFlowResult>(pod('server-b'), ['tcp-flow', pod('client-b').ip, '8081', '45'], 120_000),
    ];
    await new Promise((r) => setTimeout(r, 3000));
    await sb.core.replaceNamespacedSecret({ ...SECRET, body: secretBody(KEY2) });
    // Both keys are accepted while nodes move; then every node sends with 2 and 1 is gone. The
    // middle state is seen on the way to the end state (a wait for it alone could miss it).
    const acceptedBoth = new Set<string>();
    await eventually(
      'both nodes send with key 2 and accept only it',
      async () => {
        const all = await Promise.all([n1, n2].map(ndp));
        for (const d of all) if ((d.status?.encryption?.installedKeys ?? []).includes(1) && (d.status?.encryption?.installedKeys ?? []).includes(2)) acceptedBoth.add(d.metadata!.name!);
        return all.every((d) => d.status?.encryption?.sendingKey === 2 && JSON.stringify(d.status.encryption.installedKeys) === '[2]');
      },
      150_000,
      100,
    );
    expect([...acceptedBoth].sort()).toEqual([n1.name, n2.name].sort());
    for (const f of await Promise.all(flows)) {
      expect(f).toMatchObject({ error: null, intact: true });
      expect(f.sent).toBeGreaterThan(0);
    }
    // Nothing met a receiver without its key, a sender without a state, or the datapath's refusal.
    expect(await counters()).toEqual(before);
    expect(await metric(n1, 'weir_encryption_key_generation')).toBe(2);
    const spis = sb.lab.exec(`${sb.prefix}-n1`, 'ip', ['xfrm', 'state', 'list']).match(/spi 0x[0-9a-f]+/g) ?? [];
    // One generation left: a state each way.
    expect(spis).toHaveLength(2);
    const c = await capturedExchange();
    noClearPodTraffic(c);
  }, 300_000);

  it('IPsec: a node that reboots (a new boot id, its xfrm state gone) talks with its peer again within seconds, both ends on new keys with 64-bit sequence numbers', async () => {
    const states = (n: SandboxNode) => sb.lab.exec(n.ns, 'ip', ['xfrm', 'state', 'list']);
    const keysOf = (text: string): string[] => [...(text.match(/aead \S+ 0x[0-9a-f]+/g) ?? [])].sort();
    const before = keysOf(states(n1));
    expect(before).toHaveLength(2);
    // A reboot as the cluster sees it: the kernel's states gone, a new boot id in the Node's status.
    sb.lab.exec(n2.ns, 'ip', ['xfrm', 'state', 'flush']);
    await sb.core.patchNodeStatus({ name: n2.name, body: { status: { nodeInfo: { bootID: randomUUID() } } } }, merge);
    // The surviving node replaces both states with the pair in place once the new boot id reaches
    // it: new keys, same SPIs, ESN. (Before, it kept the old ones until a key rotation.)
    const after = await eventually(
      'n1 holds new pair keys for n2',
      () => {
        const text = states(n1);
        const keys = keysOf(text);
        return keys.length === 2 && keys.every((k) => !before.includes(k)) ? text : undefined;
      },
      90_000,
      500,
    );
    expect(after.match(/flag esn/g)).toHaveLength(2);
    // And the two talk again, both ways, on those keys.
    await eventually('n1 reaches n2 again', async () => (await tryTcp('client', pod('server').ip, 8080, 2000)) === 'connected', 60_000, 500);
    await eventually('n2 reaches n1 again', async () => (await tryTcp('server-b', pod('client-b').ip, 8081, 2000)) === 'connected', 60_000, 500);
    expect(keysOf(states(n1))).toEqual(keysOf(after));
    const c = await capturedExchange();
    expect(c.stream.remoteDigest).toBe(c.stream.localDigest);
    noClearPodTraffic(c);
  }, 240_000);

  it('WireGuard: the same cluster moves to one WireGuard device per node; the underlay sees only its UDP', async () => {
    await sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { encryption: { mode: 'wireguard' } } } } }, merge);
    await bothReport('WireGuard active with a public key on both nodes', (e) => e!.mode === 'wireguard' && e!.active && !!e!.publicKey && e!.peers === 1);
    const [d1, d2] = await Promise.all([n1, n2].map(ndp));
    expect(d1.spec?.encryption?.peers[0]?.publicKey).toBe(d2.status?.encryption?.publicKey);
    expect(d1.status?.encryption?.publicKey).not.toBe(d2.status?.encryption?.publicKey);
    // IPsec is gone from the nodes.
    expect(sb.lab.exec(`${sb.prefix}-n1`, 'ip', ['xfrm', 'state', 'list']).trim()).toBe('');
    await eventually('pods reach each other over WireGuard', async () => (await tryTcp('client', pod('server').ip, 8080, 2000)) === 'connected', 60_000, 500);
    const c = await capturedExchange();
    expect(c.stream.remoteDigest).toBe(c.stream.localDigest);
    const wg = c.lines.filter((l) => l.includes(`${n1.ip}.51871 > ${n2.ip}.51871`) || l.includes(`${n2.ip}.51871 > ${n1.ip}.51871`));
    expect(wg.length).toBeGreaterThan(10);
    noClearPodTraffic(c);
    expect(await metric(n1, 'weir_encryption_packets_total', 'direction="encrypt"')).toBeGreaterThan(0);
    expect(await metric(n2, 'weir_encryption_packets_total', 'direction="decrypt"')).toBeGreaterThan(0);
  }, 240_000);
});
