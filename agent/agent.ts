// The node agent: watches its NodeDatapath and the cluster state every node needs (Services,
// EndpointSlices, Pods, Namespaces, Identities, Nodes), and reconciles the kernel to it
// level-based, with one key: the node. The kernel keeps its last state whenever the API server
// is away; the informers resync with backoff and the next reconcile catches up.
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { cgroup2Root } from '../common/cgroup.js';
import { hostPort } from '../common/config.js';
import { condition, type Condition } from '../common/conditions.js';
import { ResilientInformer } from '../common/informer.js';
import { ClusterCaches } from '../common/caches.js';
import { CniRegistry } from './cni/registry.js';
import { EventRecorder } from '../common/events.js';
import { serveCni } from './cni/server.js';
import type { Logger } from '../common/log.js';
import { Controller, controllerMetrics, type ReconcileResult } from '../common/runtime/controller.js';
import { HostNetwork, type DatapathBackend, type NodeNetwork } from './datapath/backend.js';
import type { PodInterface } from './datapath/interfaces.js';
import { KernelDatapath } from './datapath/kernel.js';
import { cgroupLinks, type WantedLink } from './datapath/links.js';
import { endpointEntries, endpointIfEntries } from './desired/endpoints.js';
import { IdAllocator } from './desired/ids.js';
import { nodeAddresses } from '../common/kube.js';
import { ipcacheEntries } from './desired/ipcache.js';
import { policyMapContents } from './desired/policy.js';
import { backendIdKey, lbEntries, revNatIdKey, serviceFrontends, withoutSctp } from './desired/services.js';
import { ConfigFlags, DEFAULT_CONFIG } from '../common/maps/config.js';
import { cidrKey } from '../common/maps/ipcache.js';
import { agentMetrics, type AgentMetrics } from './metrics.js';
import {
  NodeDatapathResource,
  resolveFeatures,
  resolveSpec,
  type NodeDatapath as NodeDatapathObject,
  type NodeDatapathStatus,
  type NodeEncryptionStatus,
  type NodeOverlayStatus,
  type NodeServicesStatus,
  type NodeNetfilterStatus,
  type ResizeGate,
  type ResizePhase,
  type ResolvedFeatures,
  type ResolvedNodeDatapathSpec,
} from '../api/v1alpha1/index.js';
import { WeirApi } from '../common/weirapi.js';
import { ResizeRefused } from './datapath/resize.js';
import { NodeEncryptionSync, type EncryptionOutcome } from './encryption/encryption.js';
import { syncMtu } from './cni/install.js';
import { absentAs, isMissingTable, NetnsCommands } from './network/ipcmd.js';
import { OVERLAY_DEVICE } from './network/overlay.js';
import { ownPodCidrs, peersOf } from './network/routes.js';
import { ownCgroupIn, ProxySupervisor, proxyCgroupFor } from './l7/supervisor.js';
import { healthChecks, HealthServers } from './services/health.js';
import { KubeProxyWatch } from './services/kubeproxy.js';
import { planServices, SOCKET_LB_HOOKS, type ServicePlan, type SocketHook } from './services/plan.js';

export const AGENT_FIELD_MANAGER = 'weir-agent';
/** The mark bpf/lib/proxy.h hands packets to the proxy with is routed by this rule and table. */
const PROXY_RULE_PREF = 89;
const PROXY_TABLE = 2004;
const LOOPBACK_IFINDEX = 1;
/** The L7 proxy's /metrics, on every address of the node (as the agent's own :9962). */
export const L7_METRICS_PORT = 9964;
const KEY = 'node';
const TRAFFIC_MAPS = new Set(['weir_ct4_tcp', 'weir_ct4_any', 'weir_lb4_affinity', 'weir_lb4_sock_revnat', 'weir_sock4', 'weir_nat4']);

export interface AgentOptions {
  nodeName: string;
  pinRoot: string;
  objectDir: string;
  netns: string | null;
  cgroupPath: string;
  devices: string[];
  xdpMode: 'driver' | 'generic';
  /** TC attach kind: tcx links (6.6+), cls_bpf filters, or whichever the kernel has (default). */
  tcAttach?: 'auto' | 'tcx' | 'legacy';
  resyncMs: number;
  conntrackGcMs: number;
  /**
   * weir-cni's socket (cni/weir-cni.c) and where the pods it reported are kept; without them the
   * agent enforces only the pods NodeDatapath names.
   */
  /** confDir: the runtime's CNI configuration, where the pod MTU is kept (absent: left alone). */
  cni?: { socket: string; stateDir: string; confDir?: string };
  /** Socket hooks treated as missing (the fallback tried on a kernel that has them). */
  unavailableHooks?: readonly SocketHook[];
  /** The host the agent's own /metrics listens on; the L7 proxy's /metrics takes the same. Default: all. */
  metricsHost?: string;
}

export interface AgentParts {
  /** Default: the kernel, pinned under opts.pinRoot. */
  backend?: DatapathBackend;
  /** Default: the node's interfaces in opts.netns. */
  network?: NodeNetwork;
  /** Default: the agent's own informers (started and stopped with it). */
  sources?: ClusterCaches;
  /** Default: the node's xfrm and WireGuard configuration in opts.netns. */
  encryption?: NodeEncryptionSync;
  /**
   * Runs each reconcile; default: at once. Agents sharing one process (hollow nodes) take turns
   * through it, as agents on separate nodes would each have their own CPU.
   */
  turn?: <T>(reconcile: () => Promise<T>) => Promise<T>;
}

/** What one reconcile pass works from. */
interface Pass {
  ndp: NodeDatapathObject;
  spec: ResolvedNodeDatapathSpec;
  features: ResolvedFeatures;
  /** What stands in the way of the desired state, for status. */
  problems: string[];
  /** Who serves Services on this node this pass. */
  services: ServicePlan;
}

/** The node as one pass sees it. */
interface NodeView {
  uid: string | undefined;
  /** The Node object's IPv4 addresses. */
  addrs: string[];
  /** Every address of the node's own (the host identity). */
  hostAddrs: string[];
  podIfs: ReadonlyMap<string, PodInterface>;
  /** Pods weir-cni reported that NodeDatapath does not name yet. */
  initIps: string[];
  /** The node's interfaces for the NIC programs (and the overlay's underlay). */
  nics: Array<{ ifname: string; ifindex: number }>;
}

/** The L7 proxy's routing rule and table (proxy off, or the agent uninstalled); only Weir's. */
export async function removeProxyRouting(netns: string | null): Promise<void> {
  const cmd = new NetnsCommands(netns);
  if ((await cmd.ip(['rule', 'show', 'pref', String(PROXY_RULE_PREF)])).includes(`lookup ${PROXY_TABLE}`)) await cmd.ip(['rule', 'del', 'pref', String(PROXY_RULE_PREF), 'lookup', String(PROXY_TABLE)]);
  await cmd.ip(['route', 'flush', 'table', String(PROXY_TABLE)]).catch(absentAs(isMissingTable, ''));
}

export class Agent {
  readonly kernel: DatapathBackend;
  private readonly network: NodeNetwork;
  private readonly sources: ClusterCaches;
  private readonly ownSources: boolean;
  private readonly api: WeirApi;
  private readonly nodeDatapaths: ResilientInformer<NodeDatapathObject>;
  private readonly controller: Controller;
  private readonly metrics: AgentMetrics;
  private readonly ids = { backends: new IdAllocator(1, 0xfffffffe), revNat: new IdAllocator(1, 0xffff) };
  private idsRestored = false;
  private sockmapAttached = false;
  private lastStatus = '';
  private resizeState: { revision: number; phase: ResizePhase; message: string } | undefined;
  private lastStatusAt = 0;
  private lastTrafficCounts = '';
  /** Set after the first complete reconcile: the datapath is programmed. */
  private programmedOnce = false;
  /** Consecutive reconciles that found pod interfaces missing: the recheck backs off with them. */
  private missingStreak = 0;
  private readonly cniRegistry: CniRegistry | undefined;
  /** Consecutive syncs in which a map could not take its entries, and when the next may run. */
  private writeFailureStreak = 0;
  private writesBlockedUntil = 0;
  private readonly events: EventRecorder;
  /** Pods (by address) whose interface the last reconcile left attached, and CNI ADDs waiting. */
  private attachedIps = new Set<string>();
  private readonly attachWaiters: Array<{ ip: string; resolve: () => void }> = [];
  readonly encryption: NodeEncryptionSync;
  private proxy?: ProxySupervisor;
  private readonly netCmd: NetnsCommands;
  /** The last pass's encryption report, kept in status by passes that stop before it. */
  private encryptionStatus?: NodeEncryptionStatus;
  /** What the last pass applied of the overlay: the operator's overlay rollout waits on it. */
  private overlayStatus?: NodeOverlayStatus;
  private readonly kubeProxy: KubeProxyWatch;
  private readonly health: HealthServers;
  /** Socket hooks whose attach failed: the kernel lacks them until the agent restarts (a reboot). */
  private readonly failedHooks = new Set<SocketHook>();
  /** kube-proxy's rules as last reported in an event. */
  private kubeProxyNoted = '';
  private servicesStatus?: NodeServicesStatus;
  /** The last conntrack garbage collection's failure, until one succeeds. */
  private gcProblem?: string;
  private netfilterStatus?: NodeNetfilterStatus;

  constructor(
    kc: KubeConfig,
    private readonly opts: AgentOptions,
    registry: Registry,
    private readonly log: Logger,
    parts: AgentParts = {},
  ) {
    this.kernel = parts.backend ?? new KernelDatapath({ pinRoot: opts.pinRoot, objectDir: opts.objectDir, netns: opts.netns, tcAttach: opts.tcAttach });
    this.network = parts.network ?? new HostNetwork(opts.netns);
    this.ownSources = !parts.sources;
    this.sources = parts.sources ?? new ClusterCaches(kc, log);
    this.api = new WeirApi(kc);
    this.nodeDatapaths = this.api.informer<NodeDatapathObject>(kc, NodeDatapathResource, log, { name: opts.nodeName });
    const turn = parts.turn ?? (<T>(f: () => Promise<T>) => f());
    this.controller = new Controller('datapath', (_k, signal) => turn(() => this.reconcile(signal)), log, controllerMetrics(registry));
    this.encryption = parts.encryption ?? new NodeEncryptionSync(opts.netns, kc, log, () => this.controller.enqueue(KEY));
    this.netCmd = new NetnsCommands(opts.netns);
    this.kubeProxy = new KubeProxyWatch(() => this.network.kubeProxyRules());
    this.health = new HealthServers({ netns: opts.netns, cli: process.argv[1] ?? 'weir' }, log, () => this.controller.enqueue(KEY));
    this.metrics = agentMetrics(registry, this.kernel, this.encryption);
    for (const i of this.informers) i.onEvent(() => this.controller.enqueue(KEY));
    this.cniRegistry = opts.cni ? new CniRegistry(opts.cni.stateDir) : undefined;
    this.events = new EventRecorder(kc.makeApiClient(CoreV1Api), `weir-agent-${opts.nodeName}`, log);
  }

  /** Records which pod interfaces are attached now, and answers the CNI ADDs waiting for them. */
  private noteAttached(wanted: readonly WantedLink[], failed: readonly string[], podIfs: ReadonlyMap<string, PodInterface>): void {
    const bad = new Set(failed);
    const perIf = new Map<number, number>();
    for (const w of wanted) if (w.name.startsWith('endpoint-') && !bad.has(w.name) && w.ifindex !== undefined) perIf.set(w.ifindex, (perIf.get(w.ifindex) ?? 0) + 1);
    // Both directions attached, or the pod is not enforced yet.
    this.attachedIps = new Set([...podIfs].filter(([, i]) => perIf.get(i.ifindex) === 2).map(([ip]) => ip));
    for (const w of this.attachWaiters.splice(0)) {
      if (this.attachedIps.has(w.ip)) w.resolve();
      else this.attachWaiters.push(w);
    }
  }

  /** Resolves once a reconcile has attached the interface of the pod with address `ip`. */
  private enforced(ip: string, timeoutMs: number): Promise<void> {
    if (this.attachedIps.has(ip)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { ip, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.attachWaiters.splice(this.attachWaiters.indexOf(w), 1);
        reject(new Error(`the interface of ${ip} not attached after ${timeoutMs} ms (${this.programmedOnce ? 'interface not found' : 'datapath not programmed yet'})`));
      }, timeoutMs);
      this.attachWaiters.push(w);
    });
  }

  private get informers(): Array<ResilientInformer<KubernetesObject>> {
    return [this.nodeDatapaths, ...this.sources.all];
  }
  private get nodes() {
    return this.sources.nodes;
  }
  private get pods() {
    return this.sources.pods;
  }
  private get namespaces() {
    return this.sources.namespaces;
  }
  private get identities() {
    return this.sources.identities;
  }
  private get services() {
    return this.sources.services;
  }
  private get slices() {
    return this.sources.endpointSlices;
  }

  /** Null when ready; otherwise why not. */
  readiness(): string | null {
    const unsynced = this.informers.filter((i) => !i.synced).length;
    if (unsynced > 0) return `${unsynced} cache(s) not synced`;
    return this.programmedOnce ? null : 'datapath not programmed yet';
  }

  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.nodeDatapaths.start(), this.sources.start()]);
    this.controller.enqueue(KEY);
    const cni = this.opts.cni && this.cniRegistry
      ? serveCni(this.opts.cni.socket, { registry: this.cniRegistry, enforced: (i, t) => this.enforced(i, t), changed: () => this.controller.enqueue(KEY) }, this.log)
      : undefined;
    signal.addEventListener('abort', () => cni?.close(), { once: true });
    const gc = setInterval(() => void this.collectGarbage(), this.opts.conntrackGcMs);
    try {
      await this.controller.run(1, signal);
    } finally {
      clearInterval(gc);
      await this.nodeDatapaths.stop();
      if (this.ownSources) await this.sources.stop();
      await this.encryption.stop();
      await this.proxy?.stop();
      await this.health.stop();
      this.kernel.close();
    }
  }

  private async collectGarbage(): Promise<void> {
    if (!this.kernel.isLoaded) return;
    const before = this.gcProblem;
    try {
      for (const r of await this.kernel.collectConntrack()) {
        this.metrics.gcRuns.inc({ map: r.map });
        this.metrics.gcDeleted.inc({ map: r.map }, r.deleted);
      }
      this.gcProblem = undefined;
    } catch (err) {
      this.metrics.gcFailures.inc();
      this.gcProblem = `conntrack garbage collection failed (${err instanceof Error ? err.message : String(err)}): expired flows stay until the maps evict them; retried every ${this.opts.conntrackGcMs / 1000} s`;
      if (before !== this.gcProblem) this.log.warn({ err }, 'conntrack garbage collection failed');
    }
    // Said in status (Degraded) while it lasts: the next pass reports it.
    if (before !== this.gcProblem) this.controller.enqueue(KEY);
  }

  /** Backend ids and reverse-NAT indices as the pinned maps hold them, once per process. */
  private restoreIds(): void {
    if (this.idsRestored || !this.kernel.isLoaded) return;
    const n = this.kernel.lbNumbering();
    for (const b of n.backends) this.ids.backends.restore(backendIdKey(b.address, b.port, b.proto), b.id);
    for (const r of n.revNat) this.ids.revNat.restore(revNatIdKey(r.address, r.port), r.index);
    this.idsRestored = true;
  }

  /**
   * One pass, level-based, in named steps: recover the loaded datapath (and answer the resize
   * gate), look at the node, sync the maps, write the datapath config, attach, report.
   */
  private async reconcile(_signal: AbortSignal): Promise<ReconcileResult> {
    if (this.informers.some((i) => !i.synced) || !this.encryption.ready) return { requeueAfterMs: 500 };
    // A map write failed: cluster events meanwhile wait for the backoff's retry.
    if (Date.now() < this.writesBlockedUntil) return { requeueAfterMs: this.writesBlockedUntil - Date.now() };
    const ndp = this.nodeDatapaths.get(this.opts.nodeName);
    if (!ndp?.spec) {
      this.log.info({ node: this.opts.nodeName }, 'no NodeDatapath for this node yet');
      return { requeueAfterMs: this.opts.resyncMs };
    }
    const features = resolveFeatures(ndp.spec.features);
    const pass: Pass = { ndp, spec: resolveSpec(ndp.spec), features, problems: this.gcProblem ? [this.gcProblem] : [], services: await this.planServices(features) };
    pass.problems.push(...pass.services.problems);
    await this.recover(pass);
    const node = await this.observeNode(pass);
    const failed = await this.syncMaps(pass, node);
    const overlay = await this.overlay(pass, node);
    await this.nodeRules(pass, node);
    const encryption = await this.encrypt(pass, node);
    const proxyCgroup = await this.l7(pass);
    this.syncConfig(pass, node, failed.policyChanged, encryption, proxyCgroup, overlay);
    const attached = await this.attach(pass, node, overlay);
    await this.report(pass, attached, failed.maps);
    return this.nextPass(attached.missing.length > 0);
  }

  /**
   * Who serves Services here: the config's mode, the socket hooks this node has, kube-proxy's
   * rules if present (reported once in an event, never touched).
   */
  private async planServices(features: ResolvedFeatures): Promise<ServicePlan> {
    const lb = features.serviceLB;
    const { found: kubeProxy, problem: kubeProxyProblem } = await this.kubeProxy.current();
    const plan = planServices({
      mode: lb.mode,
      socketLB: lb.socketLB,
      fallbackEnabled: features.iptablesFallback.enabled,
      missingHooks: [...new Set([...(this.opts.unavailableHooks ?? []), ...this.failedHooks])],
      kubeProxy,
    });
    const seen = kubeProxy.join(', ');
    if (`${lb.mode} ${seen}` !== this.kubeProxyNoted) {
      this.kubeProxyNoted = `${lb.mode} ${seen}`;
      if (seen && lb.mode === 'replace') {
        const node = this.nodes.get(this.opts.nodeName);
        this.events.emit({ apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName, uid: node?.metadata?.uid }, 'Warning', 'KubeProxyFound', `kube-proxy's rules are on this node (${seen}) while serviceLB.mode is replace: Weir translates first and leaves them be; remove kube-proxy (kube-proxy --cleanup) or use mode coexist`);
      }
    }
    if (kubeProxyProblem) plan.problems.push(kubeProxyProblem);
    this.servicesStatus = plan.status;
    this.metrics.servicesDatapath.reset();
    this.metrics.servicesDatapath.set({ datapath: plan.status.datapath, mode: plan.status.mode }, 1);
    this.metrics.servicesDegraded.set(plan.status.degraded?.length ?? 0);
    return plan;
  }

  /** The datapath loaded at the NodeDatapath's sizes (pinned state adopted), and the resize gate answered. */
  private async recover(pass: Pass): Promise<void> {
    const sizes = new Map(pass.spec.maps.map((m) => [m.name, m.maxEntries]));
    const answered = pass.ndp.status?.resize;
    this.resizeState ??= answered?.revision !== undefined ? { revision: answered.revision, phase: answered.phase ?? 'Done', message: answered.message ?? '' } : { revision: 0, phase: 'Idle', message: '' };
    try {
      await this.kernel.ensureLoaded(sizes, this.log);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await this.writeStatus(pass.ndp, { programmed: false, reason: 'LoadFailed', message, problems: [message] });
      throw err;
    }
    this.restoreIds();
    this.kernel.refreshPending(sizes);
    await this.maybeResize(pass.spec.resizeGate, sizes);
  }

  /** The node as it stands: its addresses, its pods' interfaces, and pods weir-cni reported first. */
  private async observeNode(pass: Pass): Promise<NodeView> {
    const node = this.nodes.get(this.opts.nodeName);
    const addrs = nodeAddresses(node);
    // The node reaches its pods from any of its own addresses (a CNI bridge's gateway among
    // them): all of them are the host identity.
    const hostAddrs = [...new Set([...addrs, ...(await this.network.hostAddresses())])];
    const podIfs = await this.network.podInterfaces();
    const specIps = new Set(pass.spec.endpoints.flatMap((e) => e.ips));
    const cniPods = this.cniRegistry?.list() ?? [];
    // A pod whose namespace is gone without a DEL (a runtime crash) is forgotten.
    for (const e of cniPods) if (e.netns && !existsSync(e.netns)) this.cniRegistry?.remove(e.containerId);
    const initIps = cniPods.map((e) => e.ip).filter((ip) => !specIps.has(ip) && podIfs.has(ip));
    return { uid: node?.metadata?.uid, addrs, hostAddrs, podIfs, initIps, nics: await this.network.nics(this.opts.devices, addrs) };
  }

  /** Every map to its desired contents; a map that cannot take them is reported, the rest applied. */
  private async syncMaps(pass: Pass, node: NodeView): Promise<{ maps: number; policyChanged: boolean }> {
    const { spec, features, problems } = pass;
    const enforce = features.endpointPolicy.enabled;
    let counts: Awaited<ReturnType<KernelDatapath['syncMaps']>>;
    try {
      const plan = pass.services;
      const all = plan.frontends === 'none'
        ? []
        : serviceFrontends(
            this.services.list(),
            this.slices.list(),
            {
              nodeAddresses: node.addrs,
              nodeName: this.opts.nodeName,
              sessionAffinity: features.serviceLB.sessionAffinity,
              nodePortRange: features.serviceLB.nodePortRange,
              mode: plan.frontends === 'all' ? 'replace' : 'coexist',
              tunnel: { addresses: new Set([...node.addrs, ...this.nodes.list().flatMap(nodeAddresses)]), port: features.overlay.vxlanPort },
            },
            problems,
          );
      const frontends = plan.frontends === 'all' && !plan.nftables ? withoutSctp(all, problems) : all;
      // The nftables fallback holds the frontends, or (not needed) is emptied if it exists.
      await this.network.syncServiceTable(plan.nftables ? frontends : null).catch((err: unknown) => {
        problems.push(`nftables service table: ${err instanceof Error ? err.message : String(err)}`);
      });
      // healthCheckNodePort is kube-proxy's to answer unless Weir replaces it.
      this.health.sync(plan.frontends === 'all' ? healthChecks(this.services.list(), this.slices.list(), this.opts.nodeName) : []);
      problems.push(...this.health.problems);
      const lb = lbEntries(frontends, this.ids);
      const endpoints = endpointEntries(spec, node.hostAddrs, (ip) => node.podIfs.get(ip)?.ifindex, enforce, node.initIps);
      counts = await this.kernel.syncMaps({
        endpoints,
        endpointIfs: endpointIfEntries(endpoints),
        ipcache: ipcacheEntries({ nodeName: this.opts.nodeName, spec, pods: this.pods.list(), namespaces: this.namespaces.list(), identities: this.identities.list(), nodes: this.nodes.list(), hostAddresses: node.hostAddrs, initAddresses: node.initIps, remotePodCidrs: spec.encryption !== undefined || features.overlay.mode === 'vxlan' }, problems),
        policy: enforce ? policyMapContents(spec) : [],
        prefilter: features.prefilter.enabled ? features.prefilter.denyCIDRs.filter((c) => !c.includes(':')).map((c) => ({ key: cidrKey(c), value: { flags: 0 } })) : [],
        services: lb.services,
        backends: lb.backends,
        revNat: lb.revNat,
        sourceRanges: lb.sourceRanges,
      });
    } catch (err) {
      // The node cannot apply its state: say so, keep what the kernel holds, retry with backoff.
      const message = `revision ${spec.revision} not applied: ${err instanceof Error ? err.message : String(err)}`;
      await this.writeStatus(pass.ndp, { programmed: false, reason: 'SyncFailed', message, problems: [...problems, message] });
      throw err;
    }
    // A map that could not take its entries: the rest is applied; the node says which map, once
    // in an event and for as long as it lasts in status and a metric, and retries with backoff.
    const failed = counts.filter((c) => c.error !== undefined);
    for (const c of failed) {
      const message = `map ${c.map} could not take every entry it should hold (${c.error}); the rest of revision ${spec.revision} is applied; raise its size in DatapathConfig spec.mapSizing`;
      problems.push(message);
      this.metrics.mapWriteFailures.inc({ map: c.map });
      this.events.emit({ apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName, uid: node.uid }, 'Warning', 'MapWriteFailed', message);
    }
    this.writeFailureStreak = failed.length > 0 ? this.writeFailureStreak + 1 : 0;
    for (const c of counts) {
      if (c.added) this.metrics.mapSyncOps.inc({ map: c.map, op: 'add' }, c.added);
      if (c.changed) this.metrics.mapSyncOps.inc({ map: c.map, op: 'update' }, c.changed);
      if (c.deleted) this.metrics.mapSyncOps.inc({ map: c.map, op: 'delete' }, c.deleted);
    }
    // Any change to what policy decides makes established flows re-check once.
    const policyChanged = counts.some((c) => (c.map === 'weir_policy' || c.map === 'weir_endpoints4' || c.map === 'weir_ipcache') && c.added + c.changed + c.deleted > 0);
    return { maps: failed.length, policyChanged };
  }

  /**
   * How this node reaches other nodes' pods: the overlay device (while the operator asks for it,
   * so this node accepts VXLAN from peers while a mode change rolls out) and Weir's routes to
   * every peer's pod CIDR, native or into the tunnel. Returns the device's index for its programs.
   */
  private async overlay(pass: Pass, node: NodeView): Promise<number | undefined> {
    const { features, problems } = pass;
    const nic = node.nics[0];
    const out = await this.network.syncOverlay({
      mode: features.overlay.mode,
      // Absent: an operator from before the field, whose rollouts expect every node to listen.
      receive: pass.spec.overlay?.receive ?? true,
      vxlanPort: features.overlay.vxlanPort,
      peers: peersOf(this.nodes.list(), this.opts.nodeName, problems),
      podCidrs: ownPodCidrs(this.nodes.get(this.opts.nodeName)),
      ...(node.addrs[0] ? { nodeAddress: node.addrs[0] } : {}),
      ...(nic ? { underlayDev: nic.ifname } : {}),
    });
    problems.push(...out.problems);
    if (out.changed) this.log.info({ sysctls: out.changed }, 'reverse-path filtering off for the tunnel (docs/overlay.md)');
    const confDir = this.opts.cni?.confDir;
    if (confDir && out.podMtu !== undefined && existsSync(confDir)) {
      try {
        const file = syncMtu(confDir, out.podMtu);
        if (file) this.log.info({ file, mtu: out.podMtu }, 'new pods get the overlay MTU');
      } catch (err) {
        problems.push(`pod MTU ${out.podMtu} not written to the CNI configuration: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.overlayStatus = {
      mode: out.mode,
      routes: out.routes,
      ...(out.podMtu !== undefined ? { podMTU: out.podMtu } : {}),
      receiving: out.receiving,
      ...(out.mode !== features.overlay.mode ? { message: `overlay mode ${features.overlay.mode} not in effect: ${out.problems.join('; ')}` } : {}),
    };
    return out.ifindex;
  }

  /** Weir's own netfilter rules: masquerade of pod traffic leaving the cluster, the FORWARD accept. */
  private async nodeRules(pass: Pass, node: NodeView): Promise<void> {
    const { features } = pass;
    const nodes = this.nodes.list();
    const cluster = [...nodes.flatMap((n) => ownPodCidrs(n)), ...nodes.flatMap((n) => nodeAddresses(n)), ...node.hostAddrs, ...features.masquerade.nonMasqueradeCIDRs];
    const out = await this.network.syncNodeRules({
      masquerade: features.masquerade.enabled,
      podCidrs: ownPodCidrs(this.nodes.get(this.opts.nodeName)),
      cluster: [...new Set(cluster)].sort(),
      nodePortMax: features.serviceLB.nodePortRange.max,
    });
    pass.problems.push(...out.problems);
    this.netfilterStatus = { masquerade: out.masquerade, forwardAccept: out.forwardAccept };
  }

  /**
   * The node's encryption (xfrm or WireGuard) to its spec: before the config, so the datapath
   * marks traffic only for states that exist. A failure to apply is reported, never sent in clear
   * in strict mode.
   */
  private async encrypt(pass: Pass, node: NodeView): Promise<EncryptionOutcome> {
    const spec = pass.spec.encryption;
    const local = { name: this.opts.nodeName, address: node.addrs[0] ?? '', podCIDRs: ownPodCidrs(this.nodes.get(this.opts.nodeName)) };
    let out: EncryptionOutcome;
    try {
      out = await this.encryption.sync(spec, local);
    } catch (err) {
      const message = `encryption not applied: ${err instanceof Error ? err.message : String(err)}`;
      out = { mark: 0, required: spec?.strict ?? false, problems: [message], ...(spec ? { status: { mode: spec.mode, active: false, message } } : {}) };
    }
    if (out.status && !out.status.active && out.status.message !== this.encryptionStatus?.message) this.log.warn({ reason: out.status.message }, 'this node cannot encrypt');
    this.encryptionStatus = out.status;
    pass.problems.push(...out.problems);
    return out;
  }

  /**
   * The L7 proxy, when the config turns it on: running in the node's namespace with the node's L7
   * rules, and the node's routing delivering what the datapath hands it (mark 0xa00 to table
   * 2004, local). Returns the proxy's cgroup id for the datapath (0: no proxy).
   */
  private async l7(pass: Pass): Promise<bigint> {
    const { features, spec, problems } = pass;
    if (!features.l7Proxy.enabled) {
      if (this.proxy) {
        await this.proxy.stop();
        this.proxy = undefined;
        await this.proxyRouting(false).catch((err: unknown) => problems.push(`l7 proxy routing not removed: ${String(err)}`));
      }
      return 0n;
    }
    this.proxy ??= new ProxySupervisor(
      { netns: this.opts.netns, cgroup: proxyCgroupFor(this.opts.cgroupPath, ownCgroupIn(cgroup2Root())), pinRoot: this.opts.pinRoot, port: features.l7Proxy.port, metricsAddress: `${hostPort(this.opts.metricsHost ?? '0.0.0.0', L7_METRICS_PORT)}`, cli: process.argv[1] ?? 'weir' },
      this.log,
      () => this.controller.enqueue(KEY),
    );
    try {
      await this.proxyRouting(true);
    } catch (err) {
      problems.push(`l7 proxy routing not installed: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.proxy.ensure({ rules: spec.l7Rules, peerSets: spec.peerSets, endpoints: spec.endpoints.flatMap((e) => e.ips.map((ip) => ({ ip, identity: e.identity }))) });
    // Until it listens, what the datapath hands it is dropped and counted (never passed unchecked).
    if (!this.proxy.ready) {
      const why = this.proxy.failure;
      problems.push(`l7 proxy ${why ? `not running (${why})` : 'not listening yet'}: flows with HTTP rules are dropped meanwhile`);
    }
    return this.proxy.cgroupId;
  }

  /**
   * What delivers handed-over packets to the proxy: the mark's rule and table (a local route for
   * every address), and non-local binds (the proxy's upstream connections keep their client's
   * address, so the receiver's policy sees the client's identity).
   */
  private async proxyRouting(on: boolean): Promise<void> {
    if (!on) return removeProxyRouting(this.opts.netns);
    const rules = await this.netCmd.ip(['rule', 'show', 'pref', String(PROXY_RULE_PREF)]);
    if (!rules.includes(`lookup ${PROXY_TABLE}`)) await this.netCmd.ip(['rule', 'add', 'pref', String(PROXY_RULE_PREF), 'fwmark', '0xa00/0xf00', 'lookup', String(PROXY_TABLE)]);
    await this.netCmd.ip(['route', 'replace', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(PROXY_TABLE)]);
    // Early demux would find the proxy's transparent sockets (which hold pod addresses) for
    // packets the node forwards to those pods, and forwarding drops a packet with a socket: off, so
    // they reach the pod's hooks, which hand them to the proxy.
    await this.netCmd.exec('sysctl', ['-qw', 'net.ipv4.ip_nonlocal_bind=1', 'net.ipv4.conf.lo.rp_filter=0', 'net.ipv4.ip_early_demux=0']);
  }

  /**
   * The node-wide datapath config: feature flags, the policy generation, the node's address, the
   * encryption mark, the proxy's cgroup, the tunnel device (the only one whose identity mark counts).
   */
  private syncConfig(pass: Pass, node: NodeView, policyChanged: boolean, encryption: EncryptionOutcome, proxyCgroupId: bigint, tunnelIfindex = 0): void {
    const { features } = pass;
    const cfg = this.kernel.readConfig();
    const flags =
      (features.prefilter.enabled && features.prefilter.dropInvalidDestination ? ConfigFlags.PrefilterValidDst : 0) |
      (features.socketEnforcement.enabled ? ConfigFlags.SockmapFastpath : 0) |
      (features.endpointPolicy.enabled && features.endpointPolicy.auditMode ? ConfigFlags.PolicyAudit : 0) |
      (encryption.required ? ConfigFlags.EncryptRequired : 0);
    const encryptMark = encryption.mark;
    const policyGen = ((cfg?.policyGen ?? 0) + (policyChanged || !cfg || cfg.ctTcpEstablishedS === 0 || (cfg.flags & ConfigFlags.PolicyAudit) !== (flags & ConfigFlags.PolicyAudit) ? 1 : 0)) >>> 0;
    const nodeIp4 = node.addrs[0] ?? '0.0.0.0';
    if (!cfg || cfg.flags !== flags || cfg.policyGen !== policyGen || cfg.nodeIp4 !== nodeIp4 || cfg.encryptMark !== encryptMark || cfg.proxyCgroupId !== proxyCgroupId || cfg.tunnelIfindex !== tunnelIfindex || cfg.ctTcpEstablishedS === 0)
      this.kernel.writeConfig({ ...DEFAULT_CONFIG, flags, policyGen, nodeIp4, encryptMark, proxyCgroupId, tunnelIfindex });
  }

  /** Every program where it belongs: pod interfaces, node interfaces, the cgroup, the sockhash. */
  private async attach(pass: Pass, node: NodeView, overlayIfindex: number | undefined): Promise<{ wanted: WantedLink[]; missing: string[]; programmed: boolean }> {
    const { spec, features, problems } = pass;
    const wanted: WantedLink[] = [];
    const missing: string[] = [];
    const endpointLinks = (ifindex: number, ifname: string, note = ''): WantedLink[] => [
      { name: `endpoint-${ifindex}-ingress`, program: 'tc_from_endpoint', kind: 'tcx-ingress', ifindex, describe: `tcx ingress ${ifname}${note}` },
      { name: `endpoint-${ifindex}-egress`, program: 'tc_to_endpoint', kind: 'tcx-egress', ifindex, describe: `tcx egress ${ifname}${note}` },
    ];
    for (const e of spec.endpoints)
      for (const ip of e.ips) {
        const i = node.podIfs.get(ip);
        if (i) wanted.push(...endpointLinks(i.ifindex, i.ifname));
        else missing.push(`${e.namespace}/${e.name} (${ip})`);
      }
    for (const ip of node.initIps) {
      const i = node.podIfs.get(ip)!;
      wanted.push(...endpointLinks(i.ifindex, i.ifname, ' (init)'));
    }
    const { nics } = node;
    if (nics.length === 0) problems.push(`no node interface found (devices ${JSON.stringify(this.opts.devices)}, addresses ${node.addrs.join(', ') || 'none'})`);
    for (const n of nics) {
      if (features.prefilter.enabled)
        wanted.push({ name: `nic-${n.ifindex}-xdp`, program: 'xdp_prefilter', kind: 'xdp', ifindex: n.ifindex, xdpMode: this.opts.xdpMode, describe: `xdp ${n.ifname}` });
      if (pass.services.nicPrograms)
        wanted.push(
          { name: `nic-${n.ifindex}-ingress`, program: 'tc_from_netdev', kind: 'tcx-ingress', ifindex: n.ifindex, describe: `tcx ingress ${n.ifname}` },
          { name: `nic-${n.ifindex}-egress`, program: 'tc_to_netdev', kind: 'tcx-egress', ifindex: n.ifindex, describe: `tcx egress ${n.ifname}` },
        );
    }
    // The overlay device: what leaves gets its peer and VNI, what arrives is checked and keeps its identity.
    if (overlayIfindex !== undefined)
      wanted.push(
        { name: 'overlay-ingress', program: 'tc_from_overlay', kind: 'tcx-ingress', ifindex: overlayIfindex, describe: `tcx ingress ${OVERLAY_DEVICE}` },
        { name: 'overlay-egress', program: 'tc_to_overlay', kind: 'tcx-egress', ifindex: overlayIfindex, describe: `tcx egress ${OVERLAY_DEVICE}` },
      );
    // Loopback's ingress, where what the hooks hand the L7 proxy is assigned to its socket.
    if (features.l7Proxy.enabled) wanted.push({ name: 'proxy-lo-ingress', program: 'tc_to_proxy', kind: 'tcx-ingress', ifindex: LOOPBACK_IFINDEX, describe: 'tcx ingress lo (L7 proxy)' });
    const sockProgs = [
      ...pass.services.socketPrograms,
      ...(features.socketEnforcement.enabled ? ['sock_ops_fastpath'] : []),
    ];
    wanted.push(...cgroupLinks(this.opts.cgroupPath, sockProgs));
    const report = this.kernel.reconcileLinks(wanted);
    for (const [op, list] of [['created', report.created], ['adopted', report.adopted], ['removed', report.removed], ['failed', report.failed]] as const)
      if (list.length) this.metrics.linkOps.inc({ op }, list.length);
    if (report.created.length + report.adopted.length + report.removed.length > 0)
      this.log.info({ created: report.created, adopted: report.adopted, removed: report.removed }, 'attachments reconciled');
    for (const f of report.failed) problems.push(`attach ${f.name}: ${f.error}`);
    // A socket hook this kernel refuses: the next pass plans Services without it.
    const failedPrograms = new Set(report.failed.map((f) => wanted.find((w) => w.name === f.name)?.program));
    for (const hook of SOCKET_LB_HOOKS)
      if (failedPrograms.has(`sock_${hook}`) && !this.failedHooks.has(hook)) {
        this.failedHooks.add(hook);
        this.controller.enqueue(KEY);
      }
    this.noteAttached(wanted, report.failed.map((f) => f.name), node.podIfs);
    if (features.socketEnforcement.enabled && !this.sockmapAttached && this.kernel.isLoaded) {
      this.kernel.attachSockmap();
      this.sockmapAttached = true;
    }
    for (const p of this.kernel.resizePending) problems.push(`map ${p.map} has ${p.pinned} entries, NodeDatapath wants ${p.wanted}: waiting for the resize rollout`);
    return { wanted, missing, programmed: report.failed.length === 0 && nics.length > 0 };
  }

  /** NodeDatapath status: what this pass programmed and what stands in the way. */
  private async report(pass: Pass, attached: { wanted: WantedLink[]; missing: string[]; programmed: boolean }, failedMaps: number): Promise<void> {
    const { programmed, wanted, missing } = attached;
    await this.writeStatus(pass.ndp, {
      programmed,
      reason: programmed ? (failedMaps ? 'MapWriteFailed' : missing.length ? 'EndpointsPending' : 'Programmed') : 'AttachFailed',
      message: programmed ? `revision ${pass.spec.revision}: ${wanted.length} attachments, ${pass.spec.endpoints.length} endpoints` : pass.problems.join('; '),
      problems: pass.problems,
      missing,
      wanted,
    });
    if (programmed) this.programmedOnce = true;
  }

  /** When to look again without an API event. */
  private nextPass(missing: boolean): ReconcileResult {
    // Interfaces appear without an API event (CNI runs before the pod's IP is published), so
    // look again soon, backing off (0.5 s doubling to the resync period) for an interface that
    // stays away: each look recomputes the node's whole desired state.
    this.missingStreak = missing ? this.missingStreak + 1 : 0;
    if (this.writeFailureStreak > 0) {
      // Retried with backoff (1 s doubling to 16 s, under weir-cni's ADD timeout), not at every
      // cluster event meanwhile.
      const backoffMs = Math.min(16_000, 1000 * 2 ** Math.min(this.writeFailureStreak - 1, 4));
      this.writesBlockedUntil = Date.now() + backoffMs;
      return { requeueAfterMs: backoffMs };
    }
    return { requeueAfterMs: missing ? Math.min(this.opts.resyncMs, 500 * 2 ** Math.min(this.missingStreak - 1, 10)) : this.opts.resyncMs };
  }

  /**
   * Map sizes change only through the operator's gate: open, for a revision this node has not
   * answered yet. The answer (Done, Refused, Failed) goes to status.resize.
   */
  private async maybeResize(gate: ResizeGate | undefined, sizes: ReadonlyMap<string, number>): Promise<void> {
    const state = this.resizeState ?? { revision: 0, phase: 'Idle', message: '' };
    const revision = gate?.revision ?? 0;
    if (!gate?.open || revision <= state.revision) return;
    if (this.kernel.resizePending.length === 0) {
      this.resizeState = { revision, phase: 'Done', message: this.kernel.recovered ? `maps at the requested sizes (an interrupted resize was ${this.kernel.recovered})` : 'maps already at the requested sizes' };
      return;
    }
    const changes = this.kernel.resizePending.map((p) => `${p.map} ${p.pinned} -> ${p.wanted}`);
    this.log.info({ revision, changes }, 'resizing maps');
    try {
      const r = await this.kernel.resize(sizes, (gate.drainTimeoutSeconds ?? 30) * 1000, this.log);
      this.sockmapAttached = false;
      this.metrics.resizes.inc({ result: 'done' });
      this.metrics.resizeDrain.observe(r.drainMs / 1000);
      const copied = Object.entries(r.copied).map(([m, n]) => `${m} ${n}`).join(', ');
      this.resizeState = { revision, phase: 'Done', message: `${changes.join('; ')}; copied ${copied || 'nothing'}${r.fastPathRetired ? `; ${r.fastPathRetired} fast-path sockets' flows retired` : ''}; new flows held ${Math.round(r.drainMs)} ms, total ${Math.round(r.totalMs)} ms` };
      this.log.info({ revision, copyMs: Math.round(r.copyMs), drainMs: Math.round(r.drainMs), totalMs: Math.round(r.totalMs), copied: r.copied, fastPathRetired: r.fastPathRetired }, 'maps resized');
    } catch (err) {
      const refused = err instanceof ResizeRefused;
      this.metrics.resizes.inc({ result: refused ? 'refused' : 'failed' });
      const message = err instanceof Error ? err.message : String(err);
      this.resizeState = { revision, phase: refused ? 'Refused' : 'Failed', message };
      this.log.error({ revision, err }, refused ? 'resize refused' : 'resize failed; the old maps stay in use');
    }
  }

  private async writeStatus(
    ndp: NodeDatapathObject,
    s: { programmed: boolean; reason: string; message: string; problems: string[]; missing?: string[]; wanted?: WantedLink[] },
  ): Promise<void> {
    const prev: Condition[] = ndp.status?.conditions ?? [];
    const revision = ndp.spec?.revision ?? 0;
    const missing = s.missing ?? [];
    const resizeProblem = this.resizeState && (this.resizeState.phase === 'Refused' || this.resizeState.phase === 'Failed') ? this.resizeState : undefined;
    const problems = resizeProblem ? [...s.problems, `resize ${resizeProblem.phase.toLowerCase()}: ${resizeProblem.message}`] : s.problems;
    const degraded = problems.length > 0 || missing.length > 0;
    const degradedReason = missing.length ? 'EndpointInterfaceMissing' : resizeProblem ? `Resize${resizeProblem.phase}` : this.kernel.resizePending.length ? 'ResizePending' : s.reason;
    const degradedMessage = [...problems, ...(missing.length ? [`no interface yet for ${missing.join(', ')}`] : [])].join('; ');
    const ready = s.programmed && !degraded;
    const enc = ndp.spec?.encryption ? this.encryptionStatus : undefined;
    const conditions = [
      condition(prev, 'Programmed', s.programmed ? 'True' : 'False', s.reason, s.message),
      // Not ready: say why, the same words as Degraded when the datapath is programmed but not whole.
      condition(prev, 'Ready', ready ? 'True' : 'False', ready ? 'Ready' : s.programmed ? degradedReason : s.reason, ready ? 'datapath programmed and every endpoint attached' : s.programmed ? degradedMessage : s.message),
      condition(prev, 'Degraded', degraded ? 'True' : 'False', degraded ? degradedReason : 'AsExpected', degraded ? degradedMessage : 'no problems'),
      ...(enc ? [condition(prev, 'Encrypted', enc.active ? 'True' : 'False', enc.active ? 'Active' : 'CannotEncrypt', enc.message ?? `${enc.mode} to ${enc.peers ?? 0} peer(s)`)] : []),
    ];
    const byProgram = new Map<string, string[]>();
    for (const w of s.wanted ?? []) byProgram.set(w.program, [...(byProgram.get(w.program) ?? []), w.describe]);
    const programs = this.kernel.isLoaded
      ? [...byProgram].map(([name, attachments]) => ({ name, id: this.kernel.programId(name), attachments })).sort((a, b) => a.name.localeCompare(b.name))
      : [];
    const status: NodeDatapathStatus = {
      observedRevision: s.programmed ? revision : ndp.status?.observedRevision,
      endpoints: (ndp.spec?.endpoints?.length ?? 0) - new Set(missing.map((m) => m.split(' ')[0])).size,
      conditions,
      programs,
      // Rounded in status, so a few entries more or less do not make a write; metrics keep it exact.
      maps: this.kernel.isLoaded ? this.kernel.mapStatus().map((m) => ({ ...m, pressure: Math.round(m.pressure * 1e4) / 1e4 })) : [],
      ...(this.resizeState && this.resizeState.revision > 0 ? { resize: this.resizeState } : {}),
      ...(enc ? { encryption: enc } : {}),
      ...(this.overlayStatus ? { overlay: this.overlayStatus } : {}),
      ...(this.servicesStatus ? { services: { ...this.servicesStatus, ...(this.health.serving?.length ? { healthCheckNodePorts: this.health.serving } : {}) } } : {}),
      ...(this.netfilterStatus ? { netfilter: this.netfilterStatus } : {}),
    };
    // Entries of maps the agent writes change only with desired state: a change is written at
    // once. Traffic-driven maps (conntrack, affinity, sockets) change all the time: their counts
    // are refreshed at most once a minute (live figures are the metrics, scraped at any time).
    const fingerprint = JSON.stringify({
      ...status,
      maps: status.maps?.map((m) => (TRAFFIC_MAPS.has(m.name) ? [m.name, m.maxEntries] : [m.name, m.maxEntries, m.entries])),
      conditions: conditions.map((c) => [c.type, c.status, c.reason, c.message]),
    });
    const trafficChanged = JSON.stringify(status.maps?.filter((m) => TRAFFIC_MAPS.has(m.name)).map((m) => m.entries)) !== this.lastTrafficCounts;
    if (fingerprint === this.lastStatus && !(trafficChanged && Date.now() - this.lastStatusAt > 60_000)) return;
    await this.api.applyStatus(NodeDatapathResource, { metadata: { name: this.opts.nodeName }, status }, AGENT_FIELD_MANAGER);
    this.lastStatus = fingerprint;
    this.lastStatusAt = Date.now();
    this.lastTrafficCounts = JSON.stringify(status.maps?.filter((m) => TRAFFIC_MAPS.has(m.name)).map((m) => m.entries));
  }
}
