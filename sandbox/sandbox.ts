// The multi-node sandbox: each node a network namespace on a shared LAN bridge, pods networked
// inside it by the CNI bridge plugin, Node and Pod objects in the real API server (written as a
// kubelet would), the real operator and one real agent process per node. The agents stay in this
// namespace (to reach the API server on loopback) and act on their node's namespace by path.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomUUID } from 'node:crypto';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { KernelDatapath } from '../agent/datapath/kernel.js';
import { ChildCgroup } from './cgroup.js';
import { proxyCgroupFor } from '../agent/l7/supervisor.js';
import { CniNetwork, type CniPod } from './cni.js';
import type { LocalCluster } from './cluster.js';
import { Lab, NETNS_DIR } from './netns.js';
import { repoRoot } from './paths.js';
import { PodProcess, runInPod } from './pods.js';
import { eventually } from './wait.js';
import { API_VERSION, DatapathConfigResource, NodeDatapathResource, gvr, resolveSpec, type NodeDatapath, type ResolvedNodeDatapathSpec } from '../api/v1alpha1/index.js';

const WEIR = join(repoRoot, 'dist', 'cli', 'weir.js');
/** What a kubelet reports of its node that no sandbox node has: fixed, honest placeholders. */
const SANDBOX_NODE_INFO = { architecture: 'amd64', operatingSystem: 'linux', osImage: 'weir sandbox', containerRuntimeVersion: 'none', kubeletVersion: 'none', kubeProxyVersion: 'none' };
const LAN_PREFIX = '192.168.77';
/** The second segment's, with `segments: 2`. */
const LAN2_PREFIX = '192.168.78';
export const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface SandboxNode {
  name: string;
  ns: string;
  nsPath: string;
  ip: string;
  podCidr: string;
  cgroup: ChildCgroup;
  pinRoot: string;
  metricsPort: number;
  cni: CniNetwork;
  /** Where this node's weir-cni reaches its agent, and where the agent keeps what CNI told it. */
  cniSocket: string;
  cniStateDir: string;
  agent?: ChildProcess;
}

export interface SandboxPod {
  name: string;
  namespace: string;
  node: SandboxNode;
  ip: string;
  net: CniPod;
  labels: Record<string, string>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** What `weir down` needs to remove a sandbox a previous process made. */
export interface SandboxState {
  prefix: string;
  logDir: string;
  nodes: Array<{ name: string; ns: string; ip: string; pinRoot: string; cgroup: string; metricsPort: number }>;
  pids: number[];
}

export interface SandboxOptions {
  /** Names of namespaces, cgroups and pins start with it: 1-8 of [a-z0-9-]. */
  prefix: string;
  nodes: number;
  /** Node memory capacity, as a kubelet would report it. */
  memory?: string;
  /** Processes outlive this one (`weir up`). */
  detached?: boolean;
  logDir?: string;
  /**
   * 2: odd nodes on one L3 segment, even nodes on another, the LAN namespace routing between
   * them (and, as a native-routing underlay must, routing each node's pod CIDR to that node). Nodes
   * know only the other segment, not pod CIDRs: only Weir's routes or its tunnel carry pod traffic.
   */
  segments?: 1 | 2;
}

export class Sandbox {
  readonly nodes: SandboxNode[] = [];
  readonly pods = new Map<string, SandboxPod>();
  /** Outside clients on the LAN: ext (allowed) and ext2 (in the prefilter's deny CIDR). */
  readonly outside: Array<{ ns: string; ip: string }> = [];
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly discovery: DiscoveryV1Api;
  readonly logDir: string;
  /** Runtime state of the node agents' CNI ends (sockets, pod registries). */
  private get runDir(): string {
    return Sandbox.runDirOf(this.prefix);
  }
  private static runDirOf(prefix: string): string {
    return `/run/${prefix}-weir`;
  }
  private operator?: ChildProcess;
  private readonly processes: PodProcess[] = [];
  readonly prefix: string;
  private readonly detached: boolean;

  private constructor(
    readonly cluster: LocalCluster,
    readonly lab: Lab,
    private readonly opts: SandboxOptions,
  ) {
    this.prefix = opts.prefix;
    this.detached = opts.detached ?? false;
    const kc = cluster.kubeConfig();
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
    this.logDir = opts.logDir ?? join(tmpdir(), `${opts.prefix}-logs`);
    rmSync(this.logDir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
  }

  static async start(cluster: LocalCluster, opts: SandboxOptions): Promise<Sandbox> {
    const sb = new Sandbox(cluster, new Lab(opts.prefix), opts);
    try {
      await sb.build(opts.nodes, opts.memory ?? '4Gi');
    } catch (err) {
      await sb.stop();
      throw err;
    }
    return sb;
  }

  private async build(count: number, memory: string): Promise<void> {
    // A killed run's CNI state (sockets, the pods its agents were told about) goes first.
    rmSync(this.runDir, { recursive: true, force: true });
    const lan = this.lab.addNamespace('lan');
    const segments = this.opts.segments ?? 1;
    const prefixes = [LAN_PREFIX, LAN2_PREFIX].slice(0, segments);
    for (const [i, prefix] of prefixes.entries()) this.lab.addBridge(lan, `br${i}`, segments > 1 ? `${prefix}.1/24` : undefined);
    if (segments > 1) this.lab.exec(lan, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    for (let i = 1; i <= count; i++) {
      const name = `${this.prefix}-n${i}`;
      const ns = this.lab.addNamespace(`n${i}`);
      const seg = segments > 1 && i % 2 === 0 ? 1 : 0;
      this.lab.addVeth({ ns, name: 'eth0' }, { ns: lan, name: `n${i}` });
      this.lab.enslave(lan, `n${i}`, `br${seg}`);
      const ip = `${prefixes[seg]}.${10 + i}`;
      this.lab.addAddress(ns, 'eth0', `${ip}/24`);
      // The other segment through the router; pod CIDRs are Weir's to route.
      if (segments > 1) this.lab.addRoute(ns, `${prefixes[1 - seg]}.0/24`, `${prefixes[seg]}.1`);
      this.lab.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      const podCidr = `10.244.${i}.0/24`;
      const pinRoot = `/sys/fs/bpf/${this.prefix}/${name}`;
      const cniSocket = join(this.runDir, name, 'cni.sock');
      this.nodes.push({
        name,
        ns,
        nsPath: this.lab.netnsPath(ns),
        ip,
        podCidr,
        cgroup: new ChildCgroup(`${this.prefix}-${name}`),
        pinRoot,
        metricsPort: await freePort(),
        // The node's pods are chained through weir-cni: none starts before its agent enforces it.
        cni: new CniNetwork(this.lab, ns, { name: this.prefix, bridge: 'cni0', subnet: podCidr, weirSocket: cniSocket }),
        cniSocket,
        cniStateDir: join(this.runDir, name, 'cni'),
      });
    }
    // Nodes reach other nodes' pods by Weir's routes (or tunnel) alone. Across segments the
    // underlay routes each pod CIDR to its node, as a native-routing network must (docs/overlay.md).
    if (segments > 1) for (const n of this.nodes) this.lab.addRoute(lan, n.podCidr, n.ip);
    for (const [i, name] of ['ext', 'ext2'].entries()) {
      const ns = this.lab.addNamespace(name);
      this.lab.addVeth({ ns, name: 'eth0' }, { ns: lan, name });
      this.lab.enslave(lan, name, 'br0');
      const ip = `${LAN_PREFIX}.${200 + i}`;
      this.lab.addAddress(ns, 'eth0', `${ip}/24`);
      if (segments > 1) this.lab.addRoute(ns, `${LAN2_PREFIX}.0/24`, `${LAN_PREFIX}.1`);
      this.outside.push({ ns, ip });
    }
    for (const n of this.nodes) {
      await this.core.createNode({ body: { metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } }, spec: { podCIDR: n.podCidr } } });
      await this.core.patchNodeStatus(
        {
          name: n.name,
          body: {
            status: {
              capacity: { memory, cpu: '2' },
              allocatable: { memory, cpu: '2' },
              addresses: [{ type: 'InternalIP', address: n.ip }, { type: 'Hostname', address: n.name }],
              // A node namespace "boots" with the sandbox: its kernel state (xfrm, links) is new.
              nodeInfo: { ...SANDBOX_NODE_INFO, bootID: randomUUID(), machineID: n.name, systemUUID: randomUUID(), kernelVersion: release() },
            },
          },
        },
        merge,
      );
    }
  }

  private spawnWeir(args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
    const out = openSync(join(this.logDir, log), 'a');
    const child = spawn(process.execPath, [WEIR, ...args, '--kubeconfig', this.cluster.kubeconfigPath, '--log-level', process.env.WEIR_SANDBOX_LOG_LEVEL ?? 'info'], {
      stdio: ['ignore', out, out],
      env: { ...process.env, ...env },
      detached: this.detached,
    });
    if (this.detached) child.unref();
    return child;
  }

  startOperator(): void {
    this.operator = this.spawnWeir(['operator', '--no-leader-election', '--http-address', '127.0.0.1:0'], 'operator.log');
  }

  async stopOperator(): Promise<void> {
    const op = this.operator;
    if (!op || op.exitCode !== null || op.signalCode !== null) return;
    const gone = new Promise((r) => op.once('exit', r));
    op.kill('SIGTERM');
    await gone;
    this.operator = undefined;
  }

  /** `env` reaches the agent process (e.g. WEIR_FAILPOINT for crash tests); `args` are extra flags. */
  startAgent(n: SandboxNode, env: Record<string, string> = {}, args: string[] = []): void {
    n.agent = this.spawnWeir(
      [
        'agent',
        '--node-name', n.name,
        '--netns', n.nsPath,
        '--cgroup', n.cgroup.path,
        '--bpffs-root', n.pinRoot,
        '--http-address', `127.0.0.1:${n.metricsPort}`,
        '--cni-socket', n.cniSocket,
        '--cni-state-dir', n.cniStateDir,
        '--cni-conf-dir', n.cni.confDir,
        ...args,
      ],
      `agent-${n.name}.log`,
      env,
    );
  }

  /** kill -9 (or another signal); resolves once the process is gone. */
  async killAgent(n: SandboxNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const a = n.agent;
    if (!a || a.exitCode !== null || a.signalCode !== null) return;
    const gone = new Promise((r) => a.once('exit', r));
    a.kill(signal);
    await gone;
    n.agent = undefined;
  }

  async agentReady(n: SandboxNode, timeoutMs = 60_000): Promise<void> {
    const log = join(this.logDir, `agent-${n.name}.log`);
    try {
      await eventually(
        `agent ${n.name} ready`,
        async () => {
          const a = n.agent;
          // A signal (a crash in native code, the OOM killer) leaves exitCode null: both are looked at.
          if (!a || a.exitCode !== null || a.signalCode !== null) throw new Error(`agent ${n.name} exited (${a?.exitCode ?? a?.signalCode ?? 'not started'})`);
          const r = await fetch(`http://127.0.0.1:${n.metricsPort}/readyz`);
          return r.ok;
        },
        timeoutMs,
      );
    } catch (e) {
      // The agent's own account of why, in the failure itself: a CI run keeps no log directory.
      throw new Error(`${e instanceof Error ? e.message : String(e)}; the end of ${log}:\n${logTail(log)}`, { cause: e instanceof Error ? e.cause ?? e : e });
    }
  }

  /** The node's NodeDatapath once its agent reports the current revision programmed. */
  async programmed(n: SandboxNode, timeoutMs = 30_000): Promise<NodeDatapathView> {
    return eventually(
      `${n.name} programmed`,
      async () => {
        const d = (await this.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })) as NodeDatapath;
        const ready = d.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True' && d.spec && d.status?.observedRevision === d.spec.revision) return { ...d, spec: resolveSpec(d.spec) };
        // Not yet: what the node says, for the timeout's cause.
        throw new Error(`revision ${d.status?.observedRevision ?? '-'} of ${d.spec?.revision ?? '-'} programmed; Ready ${ready?.status ?? '-'} (${ready?.reason ?? '-'}): ${ready?.message ?? ''}`);
      },
      timeoutMs,
    );
  }

  /** Operator and agents running, each node programmed: the order a real cluster has before pods. */
  /** `readyTimeoutMs`: an emulated VM reading node_modules over 9p for the first time needs more. */
  async startControlPlane(readyTimeoutMs = 60_000): Promise<void> {
    this.startOperator();
    for (const n of this.nodes) this.startAgent(n);
    for (const n of this.nodes) await this.agentReady(n, readyTimeoutMs);
    for (const n of this.nodes) await this.programmed(n, Math.max(30_000, readyTimeoutMs / 2));
  }

  /**
   * Every pod has left the init identity: each node's NodeDatapath names all its pods and the
   * agent has programmed that revision. Pods start enforced (weir-cni) and denied everything until
   * then, so traffic tests wait for this.
   */
  async settled(timeoutMs = 30_000): Promise<void> {
    for (const n of this.nodes) {
      const want = [...this.pods.values()].filter((p) => p.node === n).map((p) => p.name);
      await eventually(
        `${n.name} names its ${want.length} pods`,
        async () => {
          const d = await this.programmed(n, timeoutMs);
          const named = new Set(d.spec.endpoints.map((e) => e.name));
          return want.every((w) => named.has(w)) ? true : undefined;
        },
        timeoutMs,
      );
    }
  }

  /**
   * A pod as a kubelet with a CNI plugin would run it: its network namespace made by CNI, its
   * status (address, ready container) written. `ports` are its container ports (named ports).
   */
  async addPod(
    node: SandboxNode,
    name: string,
    labels: Record<string, string>,
    namespace = 'default',
    ports: Array<{ name: string; containerPort: number; protocol: 'TCP' | 'UDP' | 'SCTP' }> = [],
  ): Promise<SandboxPod> {
    const net = await node.cni.addPod(name);
    const image = 'registry.invalid/none';
    await this.core.createNamespacedPod({ namespace, body: { metadata: { name, labels }, spec: { nodeName: node.name, containers: [{ name: 'c', image, ports }] } } });
    const now = new Date();
    const ready = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now }));
    await this.core.patchNamespacedPodStatus(
      {
        name,
        namespace,
        body: {
          status: {
            phase: 'Running',
            podIP: net.ip,
            podIPs: [{ ip: net.ip }],
            conditions: ready,
            containerStatuses: [{ name: 'c', image, imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } }],
          },
        },
      },
      merge,
    );
    const pod = { name, namespace, node, ip: net.ip, net, labels };
    this.pods.set(name, pod);
    return pod;
  }

  async deletePod(pod: SandboxPod): Promise<void> {
    await this.core.deleteNamespacedPod({ name: pod.name, namespace: pod.namespace, gracePeriodSeconds: 0 });
    pod.node.cni.delPod(pod.net);
    spawnSync('ip', ['netns', 'del', pod.net.ns]);
    this.pods.delete(pod.name);
  }

  /** A client run inside the pod (its namespace and its node's cgroup). */
  run<T>(pod: SandboxPod, args: string[], timeoutMs?: number): Promise<T> {
    return runInPod<T>(pod.net.ns, args, { cgroup: pod.node.cgroup.path, timeoutMs });
  }

  async serve(pod: SandboxPod, args: string[]): Promise<PodProcess> {
    const p = await PodProcess.start(pod.net.ns, args, { cgroup: pod.node.cgroup.path, detached: this.detached });
    this.processes.push(p);
    return p;
  }

  runOutside<T>(which: number, args: string[], timeoutMs?: number): Promise<T> {
    return runInPod<T>(this.outside[which]?.ns ?? '', args, { timeoutMs });
  }

  /** Creates the cluster's DatapathConfig `name` with this spec. */
  async createDatapathConfig(spec: Record<string, unknown>, name = 'default'): Promise<void> {
    await this.custom.createClusterCustomObject({
      ...gvr(DatapathConfigResource), body: { apiVersion: API_VERSION, kind: 'DatapathConfig', metadata: { name }, spec },
    });
  }

  /** An EndpointSlice for a Service, as the EndpointSlice controller would write it. */
  async setEndpoints(service: string, namespace: string, ports: Array<{ name?: string; port: number; protocol?: string }>, pods: readonly SandboxPod[]): Promise<void> {
    const body = {
      metadata: { name: `${service}-weir`, namespace, labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      ports,
      endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true }, nodeName: p.node.name, targetRef: { kind: 'Pod', name: p.name, namespace } })),
    };
    try {
      await this.discovery.replaceNamespacedEndpointSlice({ name: body.metadata.name, namespace, body });
    } catch {
      await this.discovery.createNamespacedEndpointSlice({ namespace, body });
    }
  }

  async metrics(n: SandboxNode): Promise<string> {
    return (await fetch(`http://127.0.0.1:${n.metricsPort}/metrics`)).text();
  }

  /** One metric of a node's agent, summed over its series whose labels include `labels` (0 when it has none). */
  async metric(n: SandboxNode, name: string, labels = ''): Promise<number> {
    return (await this.metrics(n))
      .split('\n')
      .filter((l) => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{') && l.includes(labels))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  state(): SandboxState {
    return {
      prefix: this.prefix,
      logDir: this.logDir,
      nodes: this.nodes.map((n) => ({ name: n.name, ns: n.ns, ip: n.ip, pinRoot: n.pinRoot, cgroup: n.cgroup.path, metricsPort: n.metricsPort })),
      pids: [this.operator?.pid, ...this.nodes.map((n) => n.agent?.pid), ...this.processes.map((p) => p.pid)].filter((p): p is number => p !== undefined),
    };
  }

  /**
   * Removes everything a sandbox made, from its recorded state (possibly another process's):
   * its processes, every agent's links and pins, cgroups, CNI state and namespaces.
   */
  static teardown(state: SandboxState): void {
    for (const pid of state.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const n of state.nodes) {
      // In the node's namespace while it exists: TC filters (kernels without tcx) live there.
      const netns = join(NETNS_DIR, n.ns);
      new KernelDatapath({ pinRoot: n.pinRoot, objectDir: '', netns: existsSync(netns) ? netns : null }).uninstall();
      ChildCgroup.remove(n.cgroup);
      // The L7 proxy's cgroup sits beside the node's (agent/l7/supervisor.ts): an agent killed
      // with SIGKILL could not remove it, nor stop a proxy still in it.
      ChildCgroup.kill(proxyCgroupFor(n.cgroup));
    }
    rmSync(`/sys/fs/bpf/${state.prefix}`, { recursive: true, force: true });
    rmSync(`/run/${state.prefix}-cni`, { recursive: true, force: true });
    rmSync(Sandbox.runDirOf(state.prefix), { recursive: true, force: true });
    Lab.sweep(state.prefix);
  }

  async stop(): Promise<void> {
    for (const p of this.processes.splice(0)) p.stop();
    for (const n of this.nodes) if (n.agent) await this.killAgent(n);
    Sandbox.teardown(this.state());
    this.operator?.kill('SIGKILL');
  }
}

/** A programmed NodeDatapath, its spec with every list present. */
export type NodeDatapathView = NodeDatapath & { spec: ResolvedNodeDatapathSpec };

/** The last lines of a process's log, for a failure message. */
function logTail(path: string, lines = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(unreadable: ${e instanceof Error ? e.message : String(e)})`;
  }
}
