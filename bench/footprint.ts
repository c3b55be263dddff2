// What the agent and the operator cost on real nodes, for the chart's requests and limits: two
// kubelet nodes (sandbox/kubelet/), Weir installed by `helm install` with default values, then a
// workload (pods, Services and policies, added while sampling). Each container's memory and CPU
// are read from its own cgroup (v1 memory and cpuacct, as the kubelet's cAdvisor reads them)
// every second: startup (install to every agent Ready) and steady state are reported apart.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaries } from '../sandbox/cluster.js';
import { KubeletCluster } from '../sandbox/kubelet/cluster.js';
import { repoRoot, report, type Row } from './common.js';

const WORKLOAD = 'localhost/weir-test/workload:dev';

interface Container {
  component: string;
  node: string;
  memory: string;
  cpu: string;
}

/** The directory named `id` under `top` (a container's cgroup under the node's kubepods). */
function findDir(top: string, id: string, depth = 0): string | undefined {
  if (depth > 6 || !existsSync(top)) return undefined;
  for (const e of readdirSync(top, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    if (e.name === id) return join(top, e.name);
    const found = findDir(join(top, e.name), id, depth + 1);
    if (found) return found;
  }
  return undefined;
}

function containers(c: KubeletCluster): Container[] {
  const pods = JSON.parse(execFileSync('kubectl', ['--kubeconfig', c.api.kubeconfigPath, '-n', 'weir-system', 'get', 'pods', '-o', 'json'], { encoding: 'utf8' })) as {
    items: Array<{ metadata: { labels: Record<string, string> }; spec: { nodeName: string }; status: { containerStatuses?: Array<{ name: string; containerID?: string }> } }>;
  };
  const out: Container[] = [];
  for (const p of pods.items) {
    for (const cs of p.status.containerStatuses ?? []) {
      const id = cs.containerID?.replace(/^containerd:\/\//, '');
      if (!id) continue;
      const cgroup = `${c.lab.prefix}-${p.spec.nodeName}`;
      const memory = findDir(join('/sys/fs/cgroup/memory', cgroup), id);
      const cpu = findDir(join('/sys/fs/cgroup/cpuacct', cgroup), id);
      if (memory && cpu) out.push({ component: p.metadata.labels['app.kubernetes.io/component'] ?? cs.name, node: p.spec.nodeName, memory, cpu });
    }
  }
  return out;
}

interface Sample {
  t: number;
  /** The working set, as the kubelet counts it against a limit: usage less inactive file pages. */
  memory: number;
  /** Of it, anonymous memory (the process's heap) and kernel memory (BPF maps are charged here). */
  rss: number;
  kernel: number;
  cpuNs: number;
}

function memoryOf(dir: string): { memory: number; rss: number; kernel: number } {
  const stat = Object.fromEntries(
    readFileSync(join(dir, 'memory.stat'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string]),
  );
  const usage = Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8'));
  return { memory: usage - Number(stat.total_inactive_file ?? 0), rss: Number(stat.total_rss ?? 0), kernel: Number(readFileSync(join(dir, 'memory.kmem.usage_in_bytes'), 'utf8')) };
}

export async function benchFootprint(): Promise<Row[]> {
  const c = await KubeletCluster.start({ prefix: 'wbf', nodes: 2, dir: join(tmpdir(), 'weir-bench-footprint') });
  const helm = binaries(['helm']).helm;
  const samples = new Map<string, { c: Container; s: Sample[] }>();
  const sample = (): void => {
    for (const k of containers(c)) {
      const key = `${k.component}@${k.node}:${k.memory}`;
      const entry = samples.get(key) ?? { c: k, s: [] };
      try {
        entry.s.push({ t: Date.now(), ...memoryOf(k.memory), cpuNs: Number(readFileSync(join(k.cpu, 'cpuacct.usage'), 'utf8')) });
        samples.set(key, entry);
      } catch {
        // Gone between listing and reading.
      }
    }
  };
  try {
    const t0 = Date.now();
    execFileSync(helm, ['install', 'weir', 'charts/weir', '-n', 'weir-system', '--create-namespace', '--kubeconfig', c.api.kubeconfigPath], { cwd: repoRoot });
    const timer = setInterval(sample, 1000);
    await c.kubectl(['-n', 'weir-system', 'rollout', 'status', 'daemonset/weir-agent', '--timeout=300s'], 320_000);
    const ready = Date.now();
    // A workload: 40 pods, 20 Services, 20 policies, added while the samples run.
    const file = join(tmpdir(), 'weir-bench-footprint.yaml');
    writeFileSync(file, workload(20));
    await c.kubectl(['apply', '-f', file]);
    await c.kubectl(['-n', 'load', 'wait', '--for=condition=Ready', 'pods', '--all', '--timeout=300s'], 320_000);
    await new Promise((r) => setTimeout(r, 60_000));
    clearInterval(timer);

    const rows: Row[] = [];
    for (const { c: k, s } of [...samples.values()].sort((a, b) => `${a.c.component}${a.c.node}`.localeCompare(`${b.c.component}${b.c.node}`))) {
      const phase = (from: number, to: number) => s.filter((x) => x.t >= from && x.t <= to);
      const cpuM = (xs: Sample[]) => xs.slice(1).map((x, i) => ((x.cpuNs - xs[i].cpuNs) / 1e6 / (x.t - xs[i].t)) * 1000);
      const mib = (b: number) => (b / 2 ** 20).toFixed(0);
      const start = phase(t0, ready);
      const steady = phase(ready, Date.now());
      const peakCpu = Math.max(0, ...cpuM(s));
      const steadyCpu = cpuM(steady);
      rows.push({
        component: k.component,
        node: k.node,
        'working set steady MiB': mib(steady.at(-1)?.memory ?? 0),
        'of it heap (rss) MiB': mib(steady.at(-1)?.rss ?? 0),
        'of it kernel (BPF maps) MiB': mib(steady.at(-1)?.kernel ?? 0),
        'working set peak MiB': mib(Math.max(0, ...s.map((x) => x.memory))),
        'cpu steady mean m': steadyCpu.length ? (steadyCpu.reduce((a, b) => a + b, 0) / steadyCpu.length).toFixed(0) : '',
        'cpu peak m': peakCpu.toFixed(0),
        'startup samples': start.length,
      });
    }
    rows.push({ component: 'install to agents Ready', node: '', 'startup samples': `${((ready - t0) / 1000).toFixed(0)} s` });
    report('footprint', 'footprint on real nodes (helm install, default values; 40 pods, 20 Services, 20 policies)', rows);
    return rows;
  } finally {
    await c.stop();
  }
}

function workload(n: number): string {
  const docs = ['apiVersion: v1\nkind: Namespace\nmetadata: {name: load}\n'];
  for (let i = 0; i < n; i++) {
    docs.push(`apiVersion: apps/v1
kind: Deployment
metadata: {name: app${i}, namespace: load}
spec:
  replicas: 2
  selector: {matchLabels: {app: app${i}}}
  template:
    metadata: {labels: {app: app${i}, tier: t${i % 4}}}
    spec:
      containers: [{name: c, image: ${WORKLOAD}, imagePullPolicy: Never, args: [serve-who, app${i}, "8080"]}]
`);
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: app${i}, namespace: load}
spec:
  selector: {app: app${i}}
  ports: [{port: 80, targetPort: 8080}]
`);
    docs.push(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app${i}, namespace: load}
spec:
  podSelector: {matchLabels: {app: app${i}}}
  ingress: [{from: [{podSelector: {matchLabels: {tier: t${(i + 1) % 4}}}}], ports: [{port: 8080}]}]
`);
  }
  return docs.join('---\n');
}
