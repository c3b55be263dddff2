// New connections through a ClusterIP at 100, 1,000 and 10,000 Services, for four datapaths on
// one sandbox node, all fed by the same API objects: the real kube-proxy in iptables and in
// nftables mode, Weir's nftables fallback, and Weir's socket LB (replace). The client is
// bench/tools/connrate.c: blocking connect() loops closed with RST, against a server that only
// accepts, so the figures are the connect path (SYN to established), not an application. The
// targets are 16 services spread over the whole set. One run; nothing passes or fails on it.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatapathConfigResource, NodeDatapathResource, gvr, type NodeDatapath } from '../api/v1alpha1/index.js';
import { formatIp4, parseIp4 } from '../common/maps/layout.js';
import { LocalCluster } from '../sandbox/cluster.js';
import { SandboxKubeProxies } from '../sandbox/kubeproxy.js';
import { PodProcess, runInPod } from '../sandbox/pods.js';
import { merge, Sandbox, type SandboxPod } from '../sandbox/sandbox.js';
import { eventually } from '../sandbox/wait.js';
import { repoRoot, report, type Row } from './common.js';

const COUNTS = process.env.WEIR_BENCH_SERVICES?.split(',').map(Number) ?? [100, 1_000, 10_000];
const SECONDS = Number(process.env.WEIR_BENCH_SECONDS ?? 5);
const THREADS = 4;
const TARGETS = 16;
const vip = (i: number): string => formatIp4(parseIp4('10.96.128.0') + i);

interface ConnRate {
  connections: number;
  cps: number;
  p50_us: number;
  p99_us: number;
  errors: number;
}

function buildConnrate(): string {
  const out = join(repoRoot, 'build', 'bench', 'connrate');
  mkdirSync(join(repoRoot, 'build', 'bench'), { recursive: true });
  execFileSync('clang', ['-O2', '-Wall', '-pthread', '-o', out, join(repoRoot, 'bench', 'tools', 'connrate.c')]);
  return out;
}

/** Services vip(from)..vip(to-1), each port 80 to the backend's 8080, with its EndpointSlice; 32 writes in flight. */
async function createServices(sb: Sandbox, from: number, to: number, backend: SandboxPod): Promise<void> {
  const one = async (i: number) => {
    const name = `s${i}`;
    await sb.core.createNamespacedService({ namespace: 'default', body: { metadata: { name }, spec: { clusterIP: vip(i), ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } } });
    await sb.discovery.createNamespacedEndpointSlice({
      namespace: 'default',
      body: {
        metadata: { name: `${name}-x`, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        ports: [{ port: 8080, protocol: 'TCP' }],
        endpoints: [{ addresses: [backend.ip], conditions: { ready: true }, nodeName: backend.node.name }],
      },
    });
  };
  for (let i = from; i < to; i += 32) await Promise.all(Array.from({ length: Math.min(32, to - i) }, (_, k) => one(i + k)));
}

export async function benchServices(): Promise<Row[]> {
  const connrate = buildConnrate();
  // Each connection leaves a netfilter conntrack entry (closing for 10 s) on the kube-proxy and
  // fallback paths: room for a run's worth.
  execFileSync('sysctl', ['-qw', 'net.netfilter.nf_conntrack_max=2097152']);
  const cluster = await LocalCluster.start();
  let sb: Sandbox | undefined;
  let proxies: SandboxKubeProxies | undefined;
  const rows: Row[] = [];
  try {
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wbs', nodes: 1 });
    const box = sb;
    const n1 = box.nodes[0];
    proxies = await SandboxKubeProxies.start(box);
    await box.createDatapathConfig({ features: { serviceLB: { mode: 'off' } } });
    await box.startControlPlane();
    const client = await box.addPod(n1, 'client', { app: 'client' });
    const server = await box.addPod(n1, 'server', { app: 'server' });
    await box.settled();
    const serverProc = await PodProcess.start(server.net.ns, ['serve', '8080'], { command: [connrate] });
    // Pod-to-pod replies on the node's bridge pass netfilter, as kube-proxy requires.
    execFileSync('ip', ['netns', 'exec', n1.ns, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
    const ndp = async () => (await box.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n1.name })) as NodeDatapath;
    const setLB = (serviceLB: Record<string, unknown>, fallback: boolean) =>
      box.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { serviceLB, iptablesFallback: { enabled: fallback } } } } }, merge);
    const restartAgent = async (args: string[]) => {
      await box.killAgent(n1, 'SIGTERM');
      box.startAgent(n1, {}, args);
      await box.agentReady(n1, 120_000);
    };
    const measure = async (n: number, datapath: string, targets: string[]) => {
      // Every target answers before the clock starts: the datapath has all n services.
      await eventually(`${datapath} serves ${n} services`, async () => {
        const r = await runInPod<ConnRate>(client.net.ns, ['1', '1', ...targets.slice(-1)], { cgroup: n1.cgroup.path, command: [connrate, 'client'], timeoutMs: 30_000 });
        return r.connections > 0 && r.errors === 0;
      }, 180_000, 500);
      const r = await runInPod<ConnRate>(client.net.ns, [String(SECONDS), String(THREADS), ...targets], { cgroup: n1.cgroup.path, command: [connrate, 'client'], timeoutMs: (SECONDS + 60) * 1000 });
      rows.push({ services: n, datapath, 'conn/s': r.cps, 'p50 µs': r.p50_us, 'p99 µs': r.p99_us, errors: r.errors });
      console.log(JSON.stringify(rows.at(-1)));
    };
    let made = 0;
    for (const n of COUNTS) {
      await createServices(box, made, n, server);
      made = n;
      const targets = Array.from({ length: TARGETS }, (_, k) => `${vip(Math.floor(((k + 1) * n) / TARGETS) - 1)}:80`);
      for (const mode of ['iptables', 'nftables'] as const) {
        await proxies.run(n1, mode);
        await measure(n, `kube-proxy ${mode}`, targets);
        await proxies.remove(n1);
      }
      await setLB({ mode: 'replace' }, true);
      await restartAgent(['--unavailable-hooks', 'connect4', 'sendmsg4']);
      await eventually('the fallback in effect', async () => (await ndp()).status?.services?.datapath === 'nftables', 120_000, 500);
      await measure(n, 'Weir nftables fallback', targets);
      await restartAgent([]);
      await eventually('eBPF in effect', async () => (await ndp()).status?.services?.datapath === 'ebpf', 120_000, 500);
      await measure(n, 'Weir replace (socket LB)', targets);
      await setLB({ mode: 'off' }, false);
      await eventually('Weir off', async () => (await ndp()).status?.services?.datapath === 'none', 120_000, 500);
    }
    // Whether NOTRACK for pod-to-pod flows would pay: with masquerade on, netfilter conntrack
    // tracks every forwarded flow beside Weir's own; a raw-priority NOTRACK for cluster
    // destinations would skip it. Pod to pod, no Service, both ways measured.
    await box.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { masquerade: { enabled: true } } } } }, merge);
    await eventually('masquerade on', async () => (await ndp()).status?.netfilter?.masquerade === true, 60_000, 500);
    const direct = [`${server.ip}:8080`];
    await measure(0, 'pod to pod, netfilter conntrack (masquerade on)', direct);
    execFileSync('nsenter', [`--net=${n1.nsPath}`, 'nft', '-f', '-'], {
      input: `table ip weir_bench_notrack {\n  chain pre {\n    type filter hook prerouting priority raw; policy accept;\n    ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 notrack\n  }\n}\n`,
    });
    await measure(0, 'pod to pod, NOTRACK for cluster destinations', direct);
    execFileSync('nsenter', [`--net=${n1.nsPath}`, 'nft', 'delete', 'table', 'ip', 'weir_bench_notrack']);
    serverProc.stop();
  } finally {
    await proxies?.stop();
    await sb?.stop();
    await cluster.stop();
  }
  report('services', `New connections through a ClusterIP (16 of N services), connect() then RST, ${THREADS} threads for ${SECONDS} s`, rows, ['services']);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchServices();
