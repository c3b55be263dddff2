// Services against the real kube-proxy, in one two-node sandbox: the parity table (every case run
// with real traffic against kube-proxy alone, in iptables and in nftables mode, and against Weir
// in replace mode after `kube-proxy --cleanup`, printed side by side); Weir's modes next to a
// running kube-proxy (coexist, replace finding its rules, off); and the nftables fallback
// switching on and off under traffic.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BpfMap } from 'libbpfjs';
import { TypedMap } from '../../agent/maps/typed.js';
import { lb4BackendsMap, lb4ServicesMap } from '../../common/maps/lb.js';
import { repoRoot } from '../harness/paths.js';
import type { TcpFlowResult } from '../../sandbox/pods.js';
import { TestCluster } from '../harness/cluster.js';
import { describePrivileged } from '../harness/privileged.js';
import { eventually } from '../harness/wait.js';
import { SandboxKubeProxies, type KubeProxyMode } from '../../sandbox/kubeproxy.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { DatapathConfigResource, NodeDatapathResource, gvr, type NodeDatapath } from '../../api/v1alpha1/index.js';
import type { V1Service } from '@kubernetes/client-node';
import { PARITY_DIFFERENCES, type Column } from './services-parity.js';

type From = 'c1' | 'c2' | 'ext' | 'ext2';
type Outcomes = Record<string, number>;

/** What a case's probes saw, in words both columns are compared on. */
function describeOutcomes(o: Outcomes, clientIp: string, nodeIps: readonly string[]): string {
  const names = new Set<string>();
  const sources = new Set<string>();
  const failures = new Set<string>();
  for (const k of Object.keys(o)) {
    const m = /^([\w-]+:\d+) (\S+)$/.exec(k);
    if (!m) {
      failures.add(k);
      continue;
    }
    names.add(m[1]);
    // Masquerade shows as the node's address on the path to the backend (its LAN or bridge address).
    sources.add(m[2] === clientIp ? 'client' : nodeIps.includes(m[2]) || /^10\.244\.\d+\.1$/.test(m[2]) ? 'node' : m[2]);
  }
  const parts = [];
  if (names.size) parts.push(`${[...names].sort().join('+')} (source ${[...sources].sort().join('/')})`);
  if (failures.size) parts.push([...failures].sort().join('+'));
  return parts.join(', ');
}

describePrivileged('services: parity with kube-proxy, the modes beside it, the nftables fallback', () => {
  let cluster: TestCluster;
  let sb: Sandbox;
  let proxies: SandboxKubeProxies;
  let n1: SandboxNode;
  let n2: SandboxNode;
  const pod = (name: string): SandboxPod => sb.pods.get(name)!;
  const ndp = async (n: SandboxNode) => (await sb.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })) as NodeDatapath;
  const setServiceLB = (serviceLB: Record<string, unknown>, iptablesFallback?: boolean) =>
    sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { serviceLB, ...(iptablesFallback === undefined ? {} : { iptablesFallback: { enabled: iptablesFallback } }) } } } }, merge);
  const servicesReported = (want: (s: NonNullable<NonNullable<NodeDatapath['status']>['services']>) => boolean, what: string) =>
    eventually(`both nodes report ${what}`, async () => (await Promise.all([n1, n2].map(ndp))).every((d) => d.status?.services && want(d.status.services)), 60_000, 250);

  const servesHealth = (s: NonNullable<NonNullable<NodeDatapath['status']>['services']>) => (s.healthCheckNodePorts ?? []).includes(HC_PORT);

  const clientIp = (from: From) => (from === 'ext' || from === 'ext2' ? sb.outside[from === 'ext' ? 0 : 1].ip : pod(from).ip);
  const probe = async (from: From, proto: 'TCP' | 'UDP', target: string, n: number, opts: { timeoutMs?: number; gapMs?: number } = {}): Promise<string> => {
    const args = ['svc-probe', proto, target, String(n), String(opts.timeoutMs ?? 1500), String(opts.gapMs ?? 0)];
    const o = from === 'ext' || from === 'ext2' ? await sb.runOutside<Outcomes>(from === 'ext' ? 0 : 1, args, 120_000) : await sb.run<Outcomes>(pod(from), args, 120_000);
    return describeOutcomes(o, clientIp(from), sb.nodes.map((x) => x.ip));
  };
  const httpStatus = (from: 'ext', url: string) =>
    sb.runOutside<{ status: number | string }>(from === 'ext' ? 0 : 1, ['http-status', url, '1500']).then((r) => String(r.status));

  /** An EndpointSlice as the EndpointSlice controller writes it, with each endpoint's conditions. */
  const slice = async (service: string, ports: Array<{ name?: string; port: number; protocol?: string }>, eps: Array<{ pod: string; ready?: boolean; serving?: boolean; terminating?: boolean }>) => {
    const body = {
      metadata: { name: `${service}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      ports,
      endpoints: eps.map((e) => ({
        addresses: [pod(e.pod).ip],
        conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
        nodeName: pod(e.pod).node.name,
        targetRef: { kind: 'Pod', name: e.pod, namespace: 'default' },
      })),
    };
    await sb.discovery.createNamespacedEndpointSlice({ namespace: 'default', body });
  };
  const service = async (name: string, spec: V1Service['spec'], status?: V1Service['status']) => {
    await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name }, spec } });
    if (status) await sb.core.patchNamespacedServiceStatus({ name, namespace: 'default', body: { status } }, merge);
  };

  const WEB = [{ pod: 'web-a' }, { pod: 'web-b' }, { pod: 'web-c' }];
  const HTTP = [{ port: 8080, protocol: 'TCP' }];
  const NP = (port: number, nodePort: number) => [{ port, targetPort: 8080, nodePort, protocol: 'TCP' }];
  const EXTERNAL_IP = '192.168.77.100';
  const LB_IP = '192.168.77.101';
  const HC_PORT = 30213;

  /**
   * The table: each case's traffic, and what Kubernetes says it should do. A column's result that
   * differs from `want` fails the test unless services-parity.ts names the difference and why.
   */
  const CASES: Array<{ name: string; want: string; run: () => Promise<string> }> = [
    { name: 'ClusterIP TCP', want: 'web-a:8080+web-b:8080+web-c:8080 (source client)', run: () => probe('c1', 'TCP', '10.96.50.1:80', 40) },
    { name: 'ClusterIP UDP', want: 'web-a:8080+web-b:8080+web-c:8080 (source client)', run: () => probe('c1', 'UDP', '10.96.50.2:53', 40) },
    { name: 'several ports: second port', want: 'web-a:8081 (source client)', run: () => probe('c2', 'TCP', '10.96.50.3:81', 10) },
    { name: 'several ports: named targets', want: 'web-a:8080 (source client)', run: async () => (await probe('c2', 'TCP', '10.96.50.3:80', 5)) },
    { name: 'NodePort, backend on the receiving node', want: 'web-a:8080 (source node)', run: () => probe('ext', 'TCP', `${n1.ip}:30102`, 5) },
    { name: 'NodePort, backend on another node', want: 'web-a:8080 (source node)', run: () => probe('ext', 'TCP', `${n2.ip}:30102`, 5) },
    { name: 'externalTrafficPolicy Local, node with the endpoint', want: 'web-a:8080 (source client)', run: () => probe('ext', 'TCP', `${n1.ip}:30103`, 5) },
    { name: 'externalTrafficPolicy Local, node without one', want: 'timeout', run: () => probe('ext', 'TCP', `${n2.ip}:30103`, 2) },
    { name: 'internalTrafficPolicy Local, from n1', want: 'web-a:8080 (source client)', run: () => probe('c1', 'TCP', '10.96.50.6:80', 10) },
    { name: 'internalTrafficPolicy Local, from n2', want: 'web-b:8080+web-c:8080 (source client)', run: () => probe('c2', 'TCP', '10.96.50.6:80', 30) },
    { name: 'internalTrafficPolicy Local, no local endpoint', want: 'timeout', run: () => probe('c2', 'TCP', '10.96.50.14:80', 2) },
    { name: 'sessionAffinity ClientIP', want: '1 backend', run: async () => `${(await probe('c1', 'TCP', '10.96.50.7:80', 30)).split(' ')[0].split('+').length} backend` },
    {
      // Gaps past the 1 s timeout (Weir's clock for it ticks in whole seconds): 3 backends, so 9
      // connections all choosing one by chance is 1 in 6,561.
      name: 'sessionAffinity timeout (1 s) expires',
      want: 'more than 1 backend',
      run: async () => ((await probe('c2', 'TCP', '10.96.50.7:80', 9, { gapMs: 2100 })).split(' ')[0].split('+').length > 1 ? 'more than 1 backend' : '1 backend'),
    },
    { name: 'not-ready endpoint left out', want: 'web-a:8080 (source client)', run: () => probe('c1', 'TCP', '10.96.50.8:80', 20) },
    { name: 'terminating endpoint used when none is ready', want: 'web-a:8080 (source client)', run: () => probe('c1', 'TCP', '10.96.50.9:80', 20) },
    { name: 'terminating endpoint unused while one is ready', want: 'web-b:8080 (source client)', run: () => probe('c1', 'TCP', '10.96.50.10:80', 20) },
    { name: 'no endpoints, TCP', want: 'refused', run: () => probe('c1', 'TCP', '10.96.50.11:80', 1) },
    // One attempt each: the kernel rate-limits the ICMP errors a reject sends to one host.
    { name: 'no endpoints, UDP', want: 'refused', run: () => probe('c1', 'UDP', '10.96.50.11:53', 1) },
    { name: 'external IP from outside', want: 'web-a:8080+web-b:8080+web-c:8080 (source node)', run: () => probe('ext', 'TCP', `${EXTERNAL_IP}:80`, 40) },
    { name: 'loadBalancerSourceRanges, source inside', want: 'web-a:8080 (source node)', run: () => probe('ext', 'TCP', `${LB_IP}:80`, 3) },
    { name: 'loadBalancerSourceRanges, source outside', want: 'timeout', run: () => probe('ext2', 'TCP', `${LB_IP}:80`, 2) },
    { name: 'healthCheckNodePort, node with a local endpoint', want: '200', run: () => httpStatus('ext', `http://${n1.ip}:${HC_PORT}/healthz`) },
    { name: 'healthCheckNodePort, node without', want: '503', run: () => httpStatus('ext', `http://${n2.ip}:${HC_PORT}/healthz`) },
  ];
  const columns = new Map<Column, Map<string, string>>();
  const runColumn = async (col: Column) => {
    const results = await Promise.all(CASES.map(async (c) => [c.name, await c.run().catch((e: Error) => `error: ${e.message.split('\n')[0]}`)] as const));
    columns.set(col, new Map(results));
  };
  const expectColumn = (col: Column) => {
    const got = columns.get(col)!;
    const wrong = CASES.filter((c) => got.get(c.name) !== c.want && PARITY_DIFFERENCES[col]?.[c.name]?.result !== got.get(c.name)).map((c) => `${c.name}: got "${got.get(c.name)}", want "${c.want}"`);
    expect(wrong).toEqual([]);
    // A written-down difference that no longer shows must be struck from the list.
    const stale = Object.entries(PARITY_DIFFERENCES[col] ?? {}).filter(([name, d]) => got.get(name) !== d.result).map(([name]) => name);
    expect(stale).toEqual([]);
  };
  /** Agents restarted with `args` (the kernel keeps the datapath meanwhile), ready again. */
  const restartAgents = async (args: string[]) => {
    for (const n of [n1, n2]) {
      await sb.killAgent(n, 'SIGTERM');
      sb.startAgent(n, {}, args);
    }
    for (const n of [n1, n2]) await sb.agentReady(n);
  };
  const inNode = (n: SandboxNode, cmd: string, args: string[]) => execFileSync('nsenter', [`--net=${n.nsPath}`, cmd, ...args], { encoding: 'utf8' });
  const nftTables = (n: SandboxNode) => inNode(n, 'nft', ['list', 'tables']);
  const condition = async (n: SandboxNode, type: string) => (await ndp(n)).status?.conditions?.find((c) => c.type === type);
  const programsOf = async (n: SandboxNode) => ((await ndp(n)).status?.programs ?? []).map((p) => p.name);
  /** Weir's frontends on a node, each with its backends' addresses, from the pinned LB maps. */
  const weirFrontends = (n: SandboxNode): Map<string, string[]> => {
    const svcs = BpfMap.openPinned(join(n.pinRoot, lb4ServicesMap.name));
    const bes = BpfMap.openPinned(join(n.pinRoot, lb4BackendsMap.name));
    try {
      const backends = new Map([...new TypedMap(lb4BackendsMap, bes).entries()].map(({ key, value }) => [key.id, `${value.address}:${value.port}`]));
      const out = new Map<string, string[]>();
      for (const { key: k, value: v } of new TypedMap(lb4ServicesMap, svcs).entries()) {
        const fe = `${k.address}:${k.dport}/${k.proto}`;
        const list = out.get(fe) ?? [];
        out.set(fe, list);
        if (k.backendSlot > 0) list.push(backends.get(v.backendId) ?? `missing ${v.backendId}`);
      }
      for (const l of out.values()) l.sort();
      return out;
    } finally {
      svcs.close();
      bes.close();
    }
  };
  const kubeProxyEverywhere = async (mode: KubeProxyMode) => {
    for (const n of [n1, n2]) await proxies.run(n, mode);
  };
  const kubeProxyNowhere = async () => {
    for (const n of [n1, n2]) await proxies.remove(n);
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wsv', nodes: 2 });
    [n1, n2] = sb.nodes as [SandboxNode, SandboxNode];
    proxies = await SandboxKubeProxies.start(sb);
    await sb.createDatapathConfig({ features: { serviceLB: { mode: 'off' } } });
    await sb.startControlPlane();
    await sb.addPod(n1, 'c1', { app: 'client' });
    await sb.addPod(n2, 'c2', { app: 'client' });
    await sb.addPod(n1, 'web-a', { app: 'web' });
    await sb.addPod(n2, 'web-b', { app: 'web' });
    await sb.addPod(n2, 'web-c', { app: 'web' });
    for (const w of ['web-a', 'web-b', 'web-c']) await sb.serve(pod(w), ['serve-who', w, '8080', '8081']);
    // Nodes have a default route, as real ones do: a packet to a service address kube-proxy does
    // not translate is routed (and then rejected or dropped by its rules), not unroutable.
    for (const n of [n1, n2]) execFileSync('ip', ['-n', n.ns, 'route', 'add', 'default', 'dev', 'eth0']);
    // The outside clients reach the external and load-balancer addresses through n1, as a router
    // announcing them to n1 would send them.
    for (const ns of sb.outside.map((o) => o.ns)) for (const a of [EXTERNAL_IP, LB_IP]) execFileSync('ip', ['-n', ns, 'route', 'add', `${a}/32`, 'via', n1.ip]);

    await service('tcp', { clusterIP: '10.96.50.1', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('tcp', HTTP, WEB);
    await service('udp', { clusterIP: '10.96.50.2', ports: [{ port: 53, targetPort: 8080, protocol: 'UDP' }] });
    await slice('udp', [{ port: 8080, protocol: 'UDP' }], WEB);
    await service('multi', { clusterIP: '10.96.50.3', ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }, { name: 'alt', port: 81, targetPort: 8081, protocol: 'TCP' }] });
    await slice('multi', [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'alt', port: 8081, protocol: 'TCP' }], [{ pod: 'web-a' }]);
    await service('np', { type: 'NodePort', clusterIP: '10.96.50.4', ports: NP(80, 30102) });
    await slice('np', HTTP, [{ pod: 'web-a' }]);
    await service('etp', { type: 'NodePort', clusterIP: '10.96.50.5', externalTrafficPolicy: 'Local', ports: NP(80, 30103) });
    await slice('etp', HTTP, [{ pod: 'web-a' }]);
    await service('itp', { clusterIP: '10.96.50.6', internalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('itp', HTTP, WEB);
    await service('itp-none', { clusterIP: '10.96.50.14', internalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('itp-none', HTTP, [{ pod: 'web-a' }]);
    await service('affinity', { clusterIP: '10.96.50.7', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 1 } }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('affinity', HTTP, WEB);
    await service('notready', { clusterIP: '10.96.50.8', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('notready', HTTP, [{ pod: 'web-a' }, { pod: 'web-b', ready: false }]);
    await service('draining', { clusterIP: '10.96.50.9', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('draining', HTTP, [{ pod: 'web-a', ready: false, serving: true, terminating: true }, { pod: 'web-b', ready: false, serving: false, terminating: true }]);
    await service('draining-ready', { clusterIP: '10.96.50.10', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('draining-ready', HTTP, [{ pod: 'web-a', ready: false, serving: true, terminating: true }, { pod: 'web-b' }]);
    await service('empty', { clusterIP: '10.96.50.11', ports: [{ name: 'tcp', port: 80, protocol: 'TCP' }, { name: 'udp', port: 53, protocol: 'UDP' }] });
    await service('extip', { clusterIP: '10.96.50.12', externalIPs: [EXTERNAL_IP], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] });
    await slice('extip', HTTP, WEB);
    await service(
      'lb',
      { type: 'LoadBalancer', clusterIP: '10.96.50.13', loadBalancerSourceRanges: [`${sb.outside[0].ip}/32`], ports: NP(80, 30104) },
      { loadBalancer: { ingress: [{ ip: LB_IP }] } },
    );
    await slice('lb', HTTP, [{ pod: 'web-a' }]);
    await service('hc', { type: 'LoadBalancer', clusterIP: '10.96.50.15', externalTrafficPolicy: 'Local', healthCheckNodePort: HC_PORT, ports: NP(80, 30105) });
    await slice('hc', HTTP, [{ pod: 'web-a' }]);
    await service('echo', { clusterIP: '10.96.50.20', ports: [{ port: 7000, protocol: 'TCP' }] });
    await slice('echo', [{ port: 7000, protocol: 'TCP' }], [{ pod: 'web-b' }]);
    await sb.serve(pod('web-b'), ['serve-echo', '7000']);
    await sb.settled();
  }, 240_000);

  afterAll(async () => {
    await proxies?.stop();
    await sb?.stop();
    await cluster?.stop();
  });

  it('kube-proxy alone (iptables mode): every case as Kubernetes defines it', async () => {
    await kubeProxyEverywhere('iptables');
    await servicesReported((s) => s.mode === 'off' && s.datapath === 'none' && (s.kubeProxy ?? []).includes('iptables nat KUBE-SERVICES'), 'kube-proxy iptables found, Weir off');
    await runColumn('kube-proxy iptables');
    expectColumn('kube-proxy iptables');
  }, 180_000);

  it('kube-proxy alone (nftables mode)', async () => {
    await kubeProxyNowhere();
    await kubeProxyEverywhere('nftables');
    await runColumn('kube-proxy nftables');
    expectColumn('kube-proxy nftables');
  }, 180_000);

  it('Weir replace after kube-proxy --cleanup: the same table, printed beside kube-proxy', async () => {
    await kubeProxyNowhere();
    await setServiceLB({ mode: 'replace' });
    await servicesReported((s) => s.mode === 'replace' && s.datapath === 'ebpf' && !s.kubeProxy && servesHealth(s), 'Weir replace alone, its health-check port served');
    await runColumn('Weir replace');
    const cols = [...columns.keys()];
    const width = Math.max(...CASES.map((c) => c.name.length));
    const colWidth = Math.max(...[...columns.values()].flatMap((m) => [...m.values()].map((v) => v.length)), ...cols.map((c) => c.length));
    const lines = [`${'case'.padEnd(width)} | ${cols.map((c) => c.padEnd(colWidth)).join(' | ')}`];
    for (const c of CASES) lines.push(`${c.name.padEnd(width)} | ${cols.map((col) => (columns.get(col)!.get(c.name) ?? '').padEnd(colWidth)).join(' | ')}`);
    console.log(`services parity (one sandbox, real traffic):\n${lines.join('\n')}`);
    expectColumn('Weir replace');
  }, 180_000);

  it('without the socket hooks and with iptablesFallback disabled, a node says ClusterIP is not served', async () => {
    await restartAgents(['--unavailable-hooks', 'connect4', 'sendmsg4']);
    await servicesReported((s) => s.datapath === 'ebpf' && (s.degraded ?? []).some((d) => d.includes('iptablesFallback is disabled')), 'the missing hooks, fallback disabled');
    const degraded = await condition(n1, 'Degraded');
    expect(degraded).toMatchObject({ status: 'True' });
    expect(degraded?.message).toContain('this kernel has no cgroup connect4/sendmsg4 hook and iptablesFallback is disabled: ClusterIP');
    expect(await programsOf(n1)).not.toContain('sock_connect4');
    expect(await sb.metric(n1, 'weir_services_degraded_features')).toBe(1);
    expect(await probe('c1', 'TCP', '10.96.50.1:80', 2)).toBe('timeout');
  }, 120_000);

  it('the nftables fallback serves the parity table (one verdict-map lookup a packet)', async () => {
    await setServiceLB({ mode: 'replace' }, true);
    await servicesReported((s) => s.datapath === 'nftables' && servesHealth(s), 'the nftables fallback');
    const status = (await ndp(n1)).status!;
    expect(status.services?.degraded).toEqual(expect.arrayContaining([expect.stringContaining('egress policy judges traffic to a ClusterIP')]));
    expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(await sb.metric(n1, 'weir_services_datapath', 'datapath="nftables"')).toBe(1);
    expect(nftTables(n1)).toContain('table ip weir_services');
    await runColumn('Weir nftables fallback');
    expectColumn('Weir nftables fallback');
  }, 180_000);

  it('moves between eBPF and the fallback under traffic: flows started on either path stay intact', async () => {
    // A flow translated by netfilter, then the hooks come back (the agent restarts as after a reboot).
    const viaNft = sb.run<TcpFlowResult>(pod('c1'), ['tcp-flow', '10.96.50.20', '7000', '16'], 40_000);
    await new Promise((r) => setTimeout(r, 3000));
    await restartAgents([]);
    await servicesReported((s) => s.datapath === 'ebpf', 'eBPF again');
    // The table stays, its maps empty, while flows it translated may live (see syncFallback).
    expect(inNode(n1, 'nft', ['list', 'map', 'ip', 'weir_services', 'frontends'])).not.toContain('elements');
    expect(await programsOf(n1)).toContain('sock_connect4');
    expect(await probe('c2', 'TCP', '10.96.50.1:80', 30)).toBe('web-a:8080+web-b:8080+web-c:8080 (source client)');
    // A flow the socket LB translated, then the hooks go away again.
    const viaSocket = sb.run<TcpFlowResult>(pod('c2'), ['tcp-flow', '10.96.50.20', '7000', '10'], 40_000);
    await new Promise((r) => setTimeout(r, 3000));
    await restartAgents(['--unavailable-hooks', 'connect4', 'sendmsg4']);
    await servicesReported((s) => s.datapath === 'nftables', 'the fallback again');
    expect(await probe('c2', 'TCP', '10.96.50.1:80', 30)).toBe('web-a:8080+web-b:8080+web-c:8080 (source client)');
    const [nftFlow, socketFlow] = await Promise.all([viaNft, viaSocket]);
    expect({ nftFlow, socketFlow }).toMatchObject({ nftFlow: { error: null, intact: true }, socketFlow: { error: null, intact: true } });
  }, 180_000);

  it('weir agent --uninstall removes the fallback table, and no rule of kube-proxy', async () => {
    await kubeProxyEverywhere('nftables');
    await sb.killAgent(n1, 'SIGTERM');
    execFileSync(process.execPath, [join(repoRoot, 'dist', 'cli', 'weir.js'), 'agent', '--uninstall', '--node-name', n1.name, '--bpffs-root', n1.pinRoot, '--netns', n1.nsPath, '--log-level', 'warn']);
    const tables = nftTables(n1);
    expect(tables).not.toContain('weir_services');
    expect(tables).toContain('table ip kube-proxy');
    // kube-proxy alone serves n1 now.
    expect(await probe('ext', 'TCP', `${n1.ip}:30102`, 3)).toBe('web-a:8080 (source node)');
    await kubeProxyNowhere();
    sb.startAgent(n1);
    await sb.agentReady(n1);
    await restartAgents([]);
  }, 180_000);

  it('coexist: kube-proxy owns node ports and external addresses, Weir resolves ClusterIP at connect() with the same backends', async () => {
    await kubeProxyEverywhere('iptables');
    await setServiceLB({ mode: 'coexist' }, false);
    await servicesReported((s) => s.mode === 'coexist' && s.datapath === 'ebpf' && (s.kubeProxy ?? []).includes('iptables nat KUBE-SERVICES'), 'coexist beside kube-proxy');
    expect(await condition(n1, 'Ready')).toMatchObject({ status: 'True' });
    const programs = await programsOf(n1);
    expect(programs).toContain('sock_connect4');
    expect(programs).not.toContain('tc_from_netdev');
    // Weir's frontends: ClusterIPs only; and each with exactly kube-proxy's endpoints on that node.
    for (const n of [n1, n2]) {
      const weir = weirFrontends(n);
      expect([...weir.keys()].filter((fe) => !fe.startsWith('10.96.'))).toEqual([]);
      const save = inNode(n, 'iptables-save', ['-t', 'nat']);
      const kp = new Map<string, string[]>();
      for (const m of save.matchAll(/-A KUBE-SEP-\S+ .*--comment "?default\/([\w-]+)(?::[\w-]+)?"? .*-j DNAT .*--to-destination (\S+)/g)) kp.set(m[1], [...(kp.get(m[1]) ?? []), m[2]].sort());
      for (const [name, ip] of [['tcp', '10.96.50.1:80/6'], ['udp', '10.96.50.2:53/17'], ['np', '10.96.50.4:80/6'], ['affinity', '10.96.50.7:80/6'], ['notready', '10.96.50.8:80/6'], ['draining-ready', '10.96.50.10:80/6'], ['extip', '10.96.50.12:80/6'], ['lb', '10.96.50.13:80/6']] as const)
        expect([name, weir.get(ip)]).toEqual([name, kp.get(name)]);
    }
    // ClusterIP never reaches kube-proxy's rules: the socket LB translated it at connect().
    const hits = () => Number(/^\s*(\d+)\s+\d+\s+KUBE-SVC-\S+\s.*10\.96\.50\.1\s/m.exec(inNode(n1, 'iptables', ['-t', 'nat', '-L', 'KUBE-SERVICES', '-v', '-n', '-x']))?.[1] ?? NaN);
    const before = hits();
    expect(await probe('c1', 'TCP', '10.96.50.1:80', 30)).toBe('web-a:8080+web-b:8080+web-c:8080 (source client)');
    expect(hits()).toBe(before);
    // Node ports are kube-proxy's: masqueraded even to the receiving node's own backend.
    expect(await probe('ext', 'TCP', `${n1.ip}:30102`, 3)).toBe('web-a:8080 (source node)');
  }, 180_000);

  it('replace beside a running kube-proxy: reported in status and an event, its rules left alone, Weir first', async () => {
    // As users migrate: kube-proxy runs and holds the health-check ports (restarted while Weir, in
    // coexist, holds none, so it binds them at its start), then Weir is switched to replace.
    await servicesReported((s) => s.mode === 'coexist' && !servesHealth(s), 'coexist, no health-check port held by Weir');
    await kubeProxyNowhere();
    await kubeProxyEverywhere('iptables');
    await eventually('kube-proxy answers the health check', async () => (await httpStatus('ext', `http://${n1.ip}:${HC_PORT}/healthz`)) === '200', 30_000);
    await setServiceLB({ mode: 'replace' }, false);
    await servicesReported((s) => s.mode === 'replace' && s.datapath === 'ebpf' && (s.kubeProxy ?? []).length > 0, 'replace finding kube-proxy');
    const events = await eventually(
      'a KubeProxyFound event',
      // (An earlier one named kube-proxy's nftables table, when it ran in that mode.)
      async () => (await sb.core.listNamespacedEvent({ namespace: 'default' })).items.find((e) => e.reason === 'KubeProxyFound' && e.involvedObject.name === n1.name && e.message?.includes('iptables nat KUBE-SERVICES')),
      30_000,
    );
    expect(events.message).toContain('iptables nat KUBE-SERVICES');
    expect(events.type).toBe('Warning');
    // Weir's NIC program answers before kube-proxy's PREROUTING: the local backend sees the client.
    await eventually('n1 NodePort served by Weir', async () => (await probe('ext', 'TCP', `${n1.ip}:30102`, 1)) === 'web-a:8080 (source client)', 30_000);
    expect(inNode(n1, 'iptables', ['-t', 'nat', '-S', 'KUBE-SERVICES', '1'])).toContain('KUBE-SERVICES');
    // The health-check port is one socket: kube-proxy bound it first, and answers; Weir says it
    // cannot serve it, and keeps trying.
    expect(await httpStatus('ext', `http://${n1.ip}:${HC_PORT}/healthz`)).toBe('200');
    const degraded = await eventually('n1 names the port it cannot take', async () => {
      const c = await condition(n1, 'Degraded');
      return c?.message.includes(`healthCheckNodePort ${HC_PORT} cannot be served (EADDRINUSE)`) ? c : undefined;
    }, 30_000);
    expect(degraded.status).toBe('True');
    expect((await ndp(n1)).status?.services?.healthCheckNodePorts ?? []).not.toContain(HC_PORT);
  }, 120_000);

  it('the migration: kube-proxy removed after Weir replace started, Weir takes the health-check ports it could not bind', async () => {
    await kubeProxyNowhere();
    await servicesReported((s) => !s.kubeProxy && servesHealth(s), 'the health-check port served by Weir');
    expect(await httpStatus('ext', `http://${n1.ip}:${HC_PORT}/healthz`)).toBe('200');
    expect(await httpStatus('ext', `http://${n2.ip}:${HC_PORT}/healthz`)).toBe('503');
    expect((await condition(n1, 'Degraded'))?.message ?? '').not.toContain('healthCheckNodePort');
  }, 120_000);

  it('the reverse order: kube-proxy started beside Weir replace leaves Weir answering the health checks', async () => {
    await kubeProxyEverywhere('iptables');
    await servicesReported((s) => (s.kubeProxy ?? []).length > 0 && servesHealth(s), 'kube-proxy found, Weir still serving health checks');
    expect(await httpStatus('ext', `http://${n1.ip}:${HC_PORT}/healthz`)).toBe('200');
    expect(await httpStatus('ext', `http://${n2.ip}:${HC_PORT}/healthz`)).toBe('503');
  }, 120_000);

  it('off: Weir handles no Service and kube-proxy serves them all', async () => {
    await setServiceLB({ mode: 'off' });
    await servicesReported((s) => s.mode === 'off' && s.datapath === 'none', 'off');
    const programs = await programsOf(n1);
    expect(programs).not.toContain('sock_connect4');
    expect(programs).not.toContain('tc_from_netdev');
    expect(weirFrontends(n1).size).toBe(0);
    expect(await probe('c1', 'TCP', '10.96.50.1:80', 30)).toBe('web-a:8080+web-b:8080+web-c:8080 (source client)');
    expect(await probe('ext', 'TCP', `${n1.ip}:30102`, 3)).toBe('web-a:8080 (source node)');
  }, 120_000);
});
