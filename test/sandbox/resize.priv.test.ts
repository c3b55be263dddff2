// The drain-aware resize rollout end to end: long-lived flows (ClusterIP, NodePort from outside,
// pod to pod across nodes, and a socket fast-path connection) keep flowing byte-exact with no
// stall over a second while conntrack and LB maps grow 4x and shrink back on every node, one
// node at a time. Then: a shrink below the live entries is refused; an agent killed mid-resize
// recovers; a rollout pauses on a node whose agent is down and resumes when it returns.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BpfMap } from 'libbpfjs';
import { ct4Key, CtPath, CtScope, ctEntry } from '../../common/maps/conntrack.js';
import { sock4Key } from '../../common/maps/sockmap.js';
import { LocalCluster } from '../../sandbox/cluster.js';
import type { PodProcess, TcpFlowResult } from '../../sandbox/pods.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { describePrivileged } from '../harness/privileged.js';
import { eventually } from '../harness/wait.js';
import { DatapathConfigResource, gvr } from '../../api/v1alpha1/index.js';

const VIP = '10.96.20.10';
const NODE_PORT = 30090;
const SMALL = { ctTCPMax: 16384, ctAnyMax: 4096, natMax: 4096, lbMax: 1024, endpointMax: 1024, policyMax: 4096, prefilterMax: 1024 };
const BIG = { ...SMALL, ctTCPMax: SMALL.ctTCPMax * 4, lbMax: SMALL.lbMax * 4 };

interface Rollout {
  phase?: string;
  nodesUpdated?: number;
  nodesFailed?: Array<{ node: string; reason: string }>;
  inProgress?: string[];
}

describePrivileged('drain-aware map resize', () => {
  let cluster: LocalCluster;
  let sb: Sandbox;
  let n1: SandboxNode;
  let n2: SandboxNode;
  const pods: Record<string, SandboxPod> = {};

  const setSizes = (mapSizing: Record<string, number>, rollout: Record<string, unknown> = {}) =>
    sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { mapSizing, rollout } } }, merge);
  const rollout = async (): Promise<Rollout> =>
    ((await sb.custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as { status?: { rollout?: Rollout } }).status?.rollout ?? {};
  const pinnedSize = (n: SandboxNode, map: string): number => {
    const m = BpfMap.openPinned(join(n.pinRoot, map));
    const size = m.maxEntries;
    m.close();
    return size;
  };
  /** Conntrack path bits of the client's flows to web-1:8080 on n1 (the socket fast-path pair). */
  const fastPairPaths = async (): Promise<number[]> => {
    const ct = BpfMap.openPinned(join(n1.pinRoot, 'weir_ct4_tcp'));
    const all = await ct.lookupAll();
    ct.close();
    return all
      .map((e) => ({ k: ct4Key.decode(e.key), v: ctEntry.decode(e.value) }))
      .filter(({ k }) => k.saddr === pods.client?.ip && k.daddr === pods.web1?.ip && k.dport === 8080 && k.scope === CtScope.Egress)
      .map(({ v }) => v.path);
  };
  const fastPairSockets = (): number => {
    const m = BpfMap.openPinned(join(n1.pinRoot, 'weir_sock4'));
    const n = [...m.keys()].map((k) => sock4Key.decode(k)).filter((k) => k.sip === pods.client?.ip && k.dip === pods.web1?.ip).length;
    m.close();
    return n;
  };
  const complete = async (size: number, timeoutMs = 60_000) => {
    await eventually(
      `rollout complete at ct_tcp ${size}`,
      async () => (await rollout()).phase === 'Complete' && sb.nodes.every((n) => pinnedSize(n, 'weir_ct4_tcp') === size),
      timeoutMs,
    );
  };

  beforeAll(async () => {
    cluster = await LocalCluster.start();
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wrs', nodes: 2 });
    [n1, n2] = sb.nodes as [SandboxNode, SandboxNode];
    await sb.createDatapathConfig({ mapSizing: SMALL, rollout: { maxUnavailable: 1, nodeTimeoutSeconds: 10 } });
    await sb.startControlPlane();
    pods.client = await sb.addPod(n1, 'client', { app: 'client' });
    pods.web1 = await sb.addPod(n1, 'web-1', { app: 'web' });
    pods.web2 = await sb.addPod(n2, 'web-2', { app: 'web' });
    for (const p of [pods.web1, pods.web2]) if (p) await sb.serve(p, ['serve-echo', '8080']);
    await sb.core.createNamespacedService({
      namespace: 'default',
      body: { metadata: { name: 'web' }, spec: { type: 'NodePort', clusterIP: VIP, ports: [{ name: 'echo', port: 80, targetPort: 8080, nodePort: NODE_PORT, protocol: 'TCP' }] } },
    });
    await sb.setEndpoints('web', 'default', [{ name: 'echo', port: 8080, protocol: 'TCP' }], [pods.web1, pods.web2]);
    await sb.settled();
  }, 300_000);

  afterAll(async () => {
    await sb?.stop();
    await cluster?.stop();
  }, 60_000);

  it('grows conntrack and LB maps 4x and shrinks them back under live flows, which never notice', async () => {
    const client = pods.client;
    const flows: Array<{ what: string; p: PodProcess }> = [
      { what: 'ClusterIP', p: await sb.serve(client, ['tcp-flow', VIP, '80', '25']) },
      { what: 'pod to pod across nodes', p: await sb.serve(client, ['tcp-flow', pods.web2?.ip ?? '', '8080', '25']) },
      { what: 'socket fast path (same node)', p: await sb.serve(client, ['tcp-flow', pods.web1?.ip ?? '', '8080', '25']) },
    ];
    const outside = sb.runOutside<TcpFlowResult>(0, ['tcp-flow', n2.ip, String(NODE_PORT), '25'], 60_000);

    await new Promise((r) => setTimeout(r, 1000));
    // The same-node pair runs on the socket fast path: its sockets are in the sockhash and both
    // directions' payload was redirected, none took the stack.
    const bothFast = CtPath.TxFast | CtPath.RxFast;
    const stack = CtPath.TxStack | CtPath.RxStack;
    expect(fastPairSockets()).toBeGreaterThan(0);
    expect((await fastPairPaths()).some((p) => (p & bothFast) === bothFast && (p & stack) === 0)).toBe(true);
    await setSizes(BIG);
    await complete(BIG.ctTCPMax);
    // The new conntrack map replaced one the fast path's sk_msg program reads: the pair is
    // retired (it leaves for the stack at the next policy change), but its directions stay on
    // the fast path, where its receivers' queues hold redirected bytes, and it kept flowing (below).
    const after = await fastPairPaths();
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((p) => (p & CtPath.Retired) !== 0 && (p & stack) === 0)).toBe(true);
    for (const n of sb.nodes) expect(pinnedSize(n, 'weir_lb4_services')).toBe(BIG.lbMax);
    // The flows' conntrack entries live on in the new maps.
    const entries = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', join(n1.pinRoot, 'weir_ct4_tcp')], { encoding: 'utf8' })) as Array<{ key: string[] }>;
    const keys = entries.map((e) => ct4Key.decode(Buffer.from(e.key.map((b) => parseInt(b, 16)))));
    expect(keys.some((k) => k.saddr === pods.client?.ip && k.daddr === pods.web2?.ip && k.dport === 8080)).toBe(true);

    await setSizes(SMALL);
    await complete(SMALL.ctTCPMax);

    const results = await Promise.all([...flows.map(async (f) => ({ what: f.what, r: await f.p.result<TcpFlowResult>() })), outside.then((r) => ({ what: 'NodePort from outside', r }))]);
    for (const { what, r } of results) {
      expect({ what, error: r.error, intact: r.intact }).toEqual({ what, error: null, intact: true });
      expect({ what, stallUnderOneSecond: r.maxGapMs < 1000 }).toEqual({ what, stallUnderOneSecond: true });
      expect(r.sent).toBeGreaterThan(1_000_000);
    }
  }, 120_000);

  it('refuses a shrink below the live entries, keeping the maps, and a new edit supersedes it', async () => {
    // 5,000 long-lived entries in n1's conntrack: more than a 4,096-entry table holds.
    const ct = BpfMap.openPinned(join(n1.pinRoot, 'weir_ct4_tcp'));
    const far = Math.floor(Number(process.hrtime.bigint() / 1_000_000_000n)) + 3600;
    const fake = Array.from({ length: 5000 }, (_, i) => ({
      key: ct4Key.encode({ saddr: '10.99.0.1', daddr: '10.99.0.2', sport: 1 + i, dport: 9, proto: 6, scope: 1, pad: 0 }),
      value: ctEntry.encode({ expires: far, srcIdentity: 0, backendId: 0, revNat: 0, flags: 1, policyGen: 0, txTcpFlags: 0x10, rxTcpFlags: 0x10, proxyPort: 0, path: 0 }),
    }));
    await ct.updateBatch(fake);
    await setSizes({ ...SMALL, ctTCPMax: 4096 });
    const paused = await eventually('rollout paused', async () => {
      const r = await rollout();
      return r.phase === 'Paused' ? r : undefined;
    }, 30_000);
    expect(paused.nodesFailed).toEqual([{ node: n1.name, reason: expect.stringContaining('do not fit in 4096') }]);
    expect(pinnedSize(n1, 'weir_ct4_tcp')).toBe(SMALL.ctTCPMax);
    expect(await sb.run(pods.client, ['tcp-try', pods.web2?.ip ?? '', '8080', '2000'])).toBe('connected');
    await ct.deleteBatch(fake.map((f) => f.key));
    ct.close();
    await setSizes(SMALL);
    await complete(SMALL.ctTCPMax);
  }, 90_000);

  const fill = async (n: SandboxNode, count: number, base: string): Promise<Buffer[]> => {
    const ct = BpfMap.openPinned(join(n.pinRoot, 'weir_ct4_tcp'));
    const far = Math.floor(Number(process.hrtime.bigint() / 1_000_000_000n)) + 3600;
    const fake = Array.from({ length: count }, (_, i) => ({
      key: ct4Key.encode({ saddr: base, daddr: '10.98.0.2', sport: 1 + (i % 60000), dport: 9 + Math.floor(i / 60000), proto: 6, scope: 1, pad: 0 }),
      value: ctEntry.encode({ expires: far, srcIdentity: 0, backendId: 0, revNat: 0, flags: 1, policyGen: 0, txTcpFlags: 0x10, rxTcpFlags: 0x10, proxyPort: 0, path: 0 }),
    }));
    await ct.updateBatch(fake);
    ct.close();
    return fake.map((f) => f.key);
  };
  const countCt = (n: SandboxNode): number => {
    const ct = BpfMap.openPinned(join(n.pinRoot, 'weir_ct4_tcp'));
    const c = ct.count();
    ct.close();
    return c;
  };

  it('recovers an agent killed while copying (rolls back, then resizes), with nothing lost', async () => {
    const keys = await Promise.all(sb.nodes.map((n) => fill(n, 12_000, '10.98.0.1')));
    const flow = await sb.serve(pods.client, ['tcp-flow', pods.web2?.ip ?? '', '8080', '10']);
    await setSizes(BIG);
    // Kill the agent that starts first, once its new conntrack map is staged (copy under way).
    const victim = await eventually('a copy under way', () => sb.nodes.find((n) => existsSync(join(n.pinRoot, 'resize', 'weir_ct4_tcp'))), 30_000, 1);
    await sb.killAgent(victim);
    sb.startAgent(victim);
    await complete(BIG.ctTCPMax, 90_000);
    expect(existsSync(join(victim.pinRoot, 'resize'))).toBe(false);
    for (const n of sb.nodes) expect(countCt(n)).toBeGreaterThanOrEqual(12_000);
    const r = await flow.result<TcpFlowResult>();
    expect({ error: r.error, intact: r.intact, stall: r.maxGapMs < 1000 }).toEqual({ error: null, intact: true, stall: true });
    for (const [i, n] of sb.nodes.entries()) {
      const ct = BpfMap.openPinned(join(n.pinRoot, 'weir_ct4_tcp'));
      await ct.deleteBatch(keys[i] ?? []);
      ct.close();
    }
  }, 150_000);

  it('recovers an agent killed between switching programs and moving pins (rolls forward)', async () => {
    await Promise.all(sb.nodes.map((n) => fill(n, 3_000, '10.97.0.1')));
    const flow = await sb.serve(pods.client, ['tcp-flow', pods.web2?.ip ?? '', '8080', '10']);
    // n1's agent dies right after its links switched to programs on the new maps.
    await sb.killAgent(n1);
    sb.startAgent(n1, { WEIR_FAILPOINT: 'resize-after-switch' });
    await sb.agentReady(n1);
    await setSizes(SMALL);
    await eventually('n1 agent crashed at the failpoint', () => n1.agent?.exitCode !== null || n1.agent?.signalCode === 'SIGKILL', 60_000);
    expect(existsSync(join(n1.pinRoot, 'resize', 'weir_ct4_tcp'))).toBe(true);
    n1.agent = undefined;
    sb.startAgent(n1);
    await complete(SMALL.ctTCPMax, 90_000);
    expect(existsSync(join(n1.pinRoot, 'resize'))).toBe(false);
    expect(countCt(n1)).toBeGreaterThanOrEqual(3_000);
    const log = execFileSync('cat', [join(sb.logDir, `agent-${n1.name}.log`)], { encoding: 'utf8' });
    expect(log).toContain('finished it on the new maps');
    const r = await flow.result<TcpFlowResult>();
    expect({ error: r.error, intact: r.intact, stall: r.maxGapMs < 1000 }).toEqual({ error: null, intact: true, stall: true });
  }, 150_000);

  it('pauses on a node whose agent is down and resumes when it comes back', async () => {
    await sb.killAgent(n2);
    await setSizes(BIG);
    const paused = await eventually('rollout paused on the node without agent', async () => {
      const r = await rollout();
      return r.phase === 'Paused' ? r : undefined;
    }, 60_000);
    expect(paused.nodesFailed?.map((f) => f.node)).toEqual([n2.name]);
    expect(paused.nodesFailed?.[0]?.reason).toContain('no answer');
    sb.startAgent(n2);
    await complete(BIG.ctTCPMax, 90_000);
    const events = await sb.core.listEventForAllNamespaces({ fieldSelector: 'involvedObject.kind=DatapathConfig' });
    const reasons = new Set(events.items.map((e) => e.reason));
    for (const r of ['RolloutStarted', 'NodeResized', 'RolloutPaused', 'RolloutComplete']) expect(reasons).toContain(r);
  }, 150_000);
});
