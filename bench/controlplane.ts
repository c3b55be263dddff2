// Control plane at scale: time from `kubectl apply` of a policy to every affected node's maps
// updated, with 100 nodes, 10,000 services and 50,000 pods in a real API server, the real
// operator, the sandbox's real agents on 2 nodes, and 98 HOLLOW agents: the real agent control
// loop (informers, desired state, encoding, map diffs, status writes) over an in-memory map
// backend, in this process and sharing one set of cluster informers, as kubemark runs hollow
// kubelets. Also the operator's and agents' memory at that scale.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Agent } from '../agent/agent.js';
import { ClusterCaches } from '../common/caches.js';
import { MemoryDatapath, MemoryNetwork } from '../agent/datapath/memory.js';
import { formatIp4, parseIp4 } from '../common/maps/layout.js';
import { LocalCluster } from '../sandbox/cluster.js';
import { merge, Sandbox } from '../sandbox/sandbox.js';
import { eventually } from '../sandbox/wait.js';
import { report, type Row } from './common.js';
import type { Ndp, WatchInput, WatchMarks } from './ndpwatch.js';
import { API_VERSION, NodeDatapathResource, gvr } from '../api/v1alpha1/index.js';

const NODES = Number(process.env.WEIR_BENCH_NODES ?? 100);
const REAL = 2;
const SERVICES = Number(process.env.WEIR_BENCH_SERVICES_CP ?? 10_000);
const PODS = Number(process.env.WEIR_BENCH_PODS ?? 50_000);
const APPS = 1000;
const NS = 'scale';

/** At most `width` of the hollow agents reconcile at once: one process stands in for 98 nodes' CPUs. */
function turns(width: number): <T>(f: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(f: () => Promise<T>): Promise<T> => {
    // A finishing reconcile hands its slot straight to the next in line.
    if (running >= width) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      return await f();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** Runs fn over items, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  const limit = turns(width);
  await Promise.all(items.map((t) => limit(() => fn(t))));
}

const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const mib = (b: number): number => Math.round(b / 1048576);

export async function benchControlPlane(): Promise<Row[]> {
  const log = pino({ level: 'warn' });
  const cluster = await LocalCluster.start({ startTimeoutMs: 120_000 });
  let sb: Sandbox | undefined;
  const hollow: Array<{ stop: () => void; done: Promise<void> }> = [];
  let sources: ClusterCaches | undefined;
  const rows: Row[] = [];
  try {
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wbcp', nodes: REAL, memory: '16Gi' });
    const names = [...sb.nodes.map((n) => n.name), ...Array.from({ length: NODES - REAL }, (_, i) => `hollow-${i + 1}`)];
    const t0 = performance.now();
    await pool(names.slice(REAL), 32, async (name) => {
      await sb?.core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name, 'weir.dev/hollow': 'true' } } } });
      await sb?.core.patchNodeStatus(
        { name, body: { status: { capacity: { memory: '16Gi', cpu: '8' }, addresses: [{ type: 'InternalIP', address: formatIp4(parseIp4('192.168.128.0') + names.indexOf(name)) }] } } },
        merge,
      );
    });
    await sb.core.createNamespace({ body: { metadata: { name: NS } } });
    const podIp = (i: number): string => formatIp4(parseIp4('10.128.0.0') + i + 1);
    // Pods live on the hollow nodes: the real ones have no CNI interfaces for them. The real
    // agents still carry every pod in their ipcache and every service in their LB maps.
    const nodeOfPod = (i: number): number => REAL + Math.floor((i * (NODES - REAL)) / PODS);
    const podsOf = new Map<string, string[]>();
    for (let i = 0; i < PODS; i++) {
      const node = names[nodeOfPod(i)];
      const ips = podsOf.get(node) ?? [];
      ips.push(podIp(i));
      podsOf.set(node, ips);
    }
    await pool(
      Array.from({ length: PODS }, (_, i) => i),
      64,
      async (i) => {
        const name = `p-${i}`;
        const nodeName = names[nodeOfPod(i)];
        await sb?.core.createNamespacedPod({ namespace: NS, body: { metadata: { name, labels: { app: `app-${i % APPS}` } }, spec: { nodeName, containers: [{ name: 'c', image: 'none' }] } } });
        await sb?.core.patchNamespacedPodStatus({ name, namespace: NS, body: { status: { phase: 'Running', podIP: podIp(i), podIPs: [{ ip: podIp(i) }] } } }, merge);
      },
    );
    await pool(
      Array.from({ length: SERVICES }, (_, i) => i),
      64,
      async (i) => {
        await sb?.core.createNamespacedService({ namespace: NS, body: { metadata: { name: `s-${i}` }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } } });
        await sb?.discovery.createNamespacedEndpointSlice({
          namespace: NS,
          body: {
            metadata: { name: `s-${i}-a`, labels: { 'kubernetes.io/service-name': `s-${i}` } },
            addressType: 'IPv4',
            ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
            endpoints: [0, 1].map((k) => ({ addresses: [podIp((i + k * APPS) % PODS)], conditions: { ready: true } })),
          },
        });
      },
    );
    const createMs = performance.now() - t0;
    await sb.createDatapathConfig({ mapSizing: { ctTCPMax: 65536, ctAnyMax: 16384, natMax: 16384, lbMax: 131072, endpointMax: 131072, policyMax: 65536, prefilterMax: 1024 } });

    // Operator, real agents, hollow agents.
    const t1 = performance.now();
    sb.startOperator();
    for (const n of sb.nodes) sb.startAgent(n);
    sources = new ClusterCaches(cluster.kubeConfig(), log);
    const turn = turns(2);
    // Events drive reconciles; the periodic resync is a safety net that, 98 times over in one
    // process, would keep it busy (a real node pays it once, on its own CPU).
    for (const name of names.slice(REAL)) {
      const ctl = new AbortController();
      const agent = new Agent(
        cluster.kubeConfig(),
        { nodeName: name, pinRoot: '', objectDir: '', netns: null, cgroupPath: '', devices: [], xdpMode: 'driver', resyncMs: 600_000, conntrackGcMs: 3_600_000 },
        new Registry(),
        log,
        { backend: new MemoryDatapath(), network: new MemoryNetwork(podsOf.get(name) ?? []), sources, turn },
      );
      hollow.push({ stop: () => ctl.abort(), done: agent.run(ctl.signal) });
    }
    const list = async (): Promise<Ndp[]> => ((await sb?.custom.listClusterCustomObject({ ...gvr(NodeDatapathResource), })) as { items: Ndp[] }).items;
    await eventually(
      'every node programmed',
      async () => {
        const all = await list();
        return all.length === NODES && all.every((d) => d.status?.observedRevision === d.spec.revision);
      },
      600_000,
      1000,
    );
    const convergeMs = performance.now() - t1;
    // The real nodes' own pods, once their agents run (weir-cni holds a pod until it is enforced).
    for (const [k, n] of sb.nodes.entries()) await sb.addPod(n, `real-${k}`, { app: 'app-1' }, NS);
    await sb.settled(120_000);

    // The measured change: a policy selecting one app. Its pods sit on about half the hollow
    // nodes, and each real node runs one of them in a real network namespace.
    const affected = new Set([...sb.nodes.map((n) => n.name), ...Array.from({ length: PODS }, (_, i) => i).filter((i) => i % APPS === 1).map((i) => names[nodeOfPod(i)])]);
    const before = Object.fromEntries((await list()).map((d) => [d.metadata.name, d.spec.revision]));
    const input: WatchInput = { kubeconfigPath: cluster.kubeconfigPath, affected: [...affected], real: sb.nodes.map((n) => n.name), before, timeoutMs: 600_000 };
    const stopwatch = new Worker(new URL('./ndpwatch.js', import.meta.url), { workerData: input });
    const result = new Promise<WatchMarks>((resolve, reject) => {
      stopwatch.once('message', resolve);
      stopwatch.once('error', reject);
    });
    const start = Date.now();
    stopwatch.postMessage(start);
    execFileSync('kubectl', ['--kubeconfig', cluster.kubeconfigPath, 'apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: API_VERSION,
        kind: 'NetworkPolicy',
        metadata: { name: 'app-1', namespace: NS },
        spec: { endpointSelector: { matchLabels: { app: 'app-1' } }, ingress: [{ fromEndpoints: [{ matchLabels: { app: 'app-2' } }], toPorts: [{ ports: [{ port: 8080, protocol: 'TCP' }] }] }] },
      }),
    });
    const marks = await result;
    await stopwatch.terminate();
    if (marks.all === undefined) throw new Error(`affected nodes not all programmed within 10 minutes: ${JSON.stringify(marks)}`);

    const state = sb.state();
    const operatorPid = state.pids[0] ?? 0;
    const agentPids = state.pids.slice(1, 1 + REAL);
    rows.push(
      { measure: `create ${NODES - REAL} hollow Nodes, ${PODS} Pods, ${SERVICES} Services + EndpointSlices`, value: Math.round(createMs / 1000), unit: 's' },
      { measure: `first convergence: every one of ${NODES} NodeDatapaths programmed`, value: Math.round(convergeMs / 1000), unit: 's' },
      { measure: `kubectl apply of a policy -> operator wrote all ${affected.size} affected NodeDatapaths`, value: Math.round(marks.written ?? 0), unit: 'ms' },
      { measure: `kubectl apply of a policy -> both real nodes programmed (kernel maps)`, value: Math.round(marks.real ?? 0), unit: 'ms' },
      { measure: `kubectl apply of a policy -> all ${affected.size} affected nodes programmed (hollow ones take turns, 2 at a time)`, value: Math.round(marks.all ?? 0), unit: 'ms' },
      { measure: 'operator RSS', value: mib(rssOf(operatorPid)), unit: 'MiB' },
      ...agentPids.map((pid, i) => ({ measure: `real agent RSS (${sb?.nodes[i]?.name})`, value: mib(rssOf(pid)), unit: 'MiB' })),
      { measure: `hollow agents' process RSS (${NODES - REAL} agents, shared informers; in-memory maps)`, value: mib(process.memoryUsage().rss), unit: 'MiB' },
    );
  } finally {
    for (const h of hollow) h.stop();
    await Promise.all(hollow.map((h) => h.done.catch(() => undefined)));
    await sources?.stop();
    await sb?.stop();
    await cluster.stop();
  }
  report('controlplane', `Control plane: ${NODES} nodes (${REAL} real, ${NODES - REAL} hollow = the real agent loop over in-memory maps), ${SERVICES} services, ${PODS} pods`, rows);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await benchControlPlane();
