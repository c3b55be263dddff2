// The operator: informers over everything that shapes a node's datapath, and a level-based
// "nodes" controller that recomputes one node's NodeDatapath from the caches and writes it with
// server-side apply only when its content changed. A "configs" controller keeps DatapathConfig
// status; a periodic pass collects identities no pod uses.
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Namespace,
  type V1Service,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { untilAborted } from '../common/abort.js';
import { EventRecorder } from '../common/events.js';
import { condition, type Condition } from '../common/conditions.js';
import { decide, slots, type MapSize, type NodeState, type ResizeAnswer, type ResizeGate } from './rollout/gate.js';
import { ResilientInformer } from '../common/informer.js';
import { kubeInformers } from '../common/kinds.js';
import { apiStatus } from '../common/kube.js';
import type { Logger } from '../common/log.js';
import { selectConfig, type DatapathConfigLike } from './config/select.js';
import { IdentityAllocator, type IdentityObject } from './identity/allocator.js';
import { identityKey, securityLabels } from './identity/labels.js';
import { buildNodeDatapath, contentHash, MAX_NODE_ENDPOINTS, type LocalEndpoint } from './nodedatapath/build.js';
import { compilePolicies, type NamedPort } from './policy/compile.js';
import { policyEntries as expandPolicy, PolicyDir } from '../agent/maps/policy.js';
import type { NormalizedPolicy, Protocol } from './policy/model.js';
import { fromK8sPolicy, fromWeirPolicy, type WeirNetworkPolicy } from './policy/translate.js';
import { Controller, controllerMetrics, type ReconcileResult } from './runtime/controller.js';
import { Derived } from './runtime/derived.js';
import { lbDemand } from './sizing/lbdemand.js';
import { checkDemand, computeMapSizes, type MapSizingSpec, type Overflow } from './sizing/sizes.js';
import { matchesSelector } from './policy/selector.js';
import { parseQuantity } from './sizing/quantity.js';

const GROUP = 'weir.dev';
const VERSION = 'v1alpha1';
const FIELD_MANAGER = 'weir-operator';
const HASH_ANNOTATION = 'weir.dev/content-hash';
/** etcd refuses objects over 1.5 MiB; stay well clear of it. */
const MAX_NODEDATAPATH_BYTES = 900 * 1024;

type DatapathConfig = DatapathConfigLike &
  KubernetesObject & {
    spec: {
      mapSizing?: MapSizingSpec;
      features?: Record<string, unknown>;
      rollout?: { maxUnavailable?: number | string; drainTimeoutSeconds?: number; nodeTimeoutSeconds?: number };
    };
    status?: { rollout?: { phase?: string } };
  };
type NodeDatapathObject = KubernetesObject & {
  spec?: { revision?: number; configName?: string; maps?: MapSize[]; resizeGate?: ResizeGate };
  status?: { observedRevision?: number; resize?: ResizeAnswer };
};

export interface OperatorOptions {
  workers: number;
  identityGcGraceMs?: number;
  identityGcIntervalMs?: number;
}

const configRef = (c: DatapathConfig) => ({ apiVersion: `${GROUP}/${VERSION}`, kind: 'DatapathConfig', name: c.metadata.name, uid: c.metadata.uid });
const asList = <T extends KubernetesObject>(p: Promise<unknown>): Promise<KubernetesListObject<T>> => p as Promise<KubernetesListObject<T>>;

export class Operator {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  readonly nodes: ResilientInformer<V1Node>;
  readonly pods: ResilientInformer<V1Pod>;
  readonly namespaces: ResilientInformer<V1Namespace>;
  readonly configs: ResilientInformer<DatapathConfig>;
  readonly weirPolicies: ResilientInformer<WeirNetworkPolicy & KubernetesObject>;
  readonly k8sPolicies: ResilientInformer<V1NetworkPolicy>;
  readonly identities: ResilientInformer<IdentityObject & KubernetesObject>;
  readonly nodeDatapaths: ResilientInformer<NodeDatapathObject>;
  readonly services: ResilientInformer<V1Service>;
  readonly endpointSlices: ResilientInformer<V1EndpointSlice>;
  private readonly events: EventRecorder;
  private readonly policyController: Controller;
  /** Both policy kinds, translated once per policy change rather than once per node. */
  private readonly policies: Derived<NormalizedPolicy[]>;
  /** LB entries the cluster's Services need; the same for every node. */
  private readonly lbEntries: Derived<number>;
  private readonly clusterAddresses: Derived<number>;
  private readonly podFacts: Derived<{ addresses: Map<number, string[]>; namedPorts: Map<number, NamedPort[]> }>;
  /** Maps whose demand exceeds their size, per node, from the last reconcile. */
  private readonly overflows = new Map<string, Overflow[]>();
  /** Nodes past MAX_NODE_ENDPOINTS, with the count last reported. */
  private readonly tooManyEndpoints = new Map<string, number>();
  private readonly allocator: IdentityAllocator;
  private readonly nodeController: Controller;
  private readonly configController: Controller;
  /** Revision and content hash of our own last write per node. */
  private readonly written = new Map<string, { revision: number; hash: string; maps: MapSize[]; gate?: ResizeGate }>();
  /** Each node's place in its config's resize rollout, as last decided. */
  private readonly rollout = new Map<string, { config: string; state: NodeState; reason?: string }>();

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
    registry: Registry,
    private readonly opts: OperatorOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    const crd =
      <T extends KubernetesObject>(plural: string) =>
      (): Promise<KubernetesListObject<T>> =>
        asList<T>(this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }));
    const inf = <T extends KubernetesObject>(name: string, path: string, list: () => Promise<KubernetesListObject<T>>) =>
      new ResilientInformer<T>(kc, { name, path, list }, log);
    const kube = kubeInformers(kc, log);
    this.nodes = kube.nodes;
    this.pods = kube.pods;
    this.namespaces = kube.namespaces;
    this.services = kube.services;
    this.endpointSlices = kube.endpointSlices;
    this.k8sPolicies = kube.networkPolicies;
    this.configs = inf('datapathconfigs', `/apis/${GROUP}/${VERSION}/datapathconfigs`, crd<DatapathConfig>('datapathconfigs'));
    this.weirPolicies = inf('networkpolicies.weir.dev', `/apis/${GROUP}/${VERSION}/networkpolicies`, () =>
      asList(this.custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, plural: 'networkpolicies' })),
    );
    this.identities = inf('identities', `/apis/${GROUP}/${VERSION}/identities`, crd<IdentityObject & KubernetesObject>('identities'));
    this.nodeDatapaths = inf('nodedatapaths', `/apis/${GROUP}/${VERSION}/nodedatapaths`, crd<NodeDatapathObject>('nodedatapaths'));
    this.allocator = new IdentityAllocator(this.custom, () => this.identities.list(), log);
    this.events = new EventRecorder(this.core, FIELD_MANAGER, log);
    this.identities.onEvent(() => this.allocator.invalidate());
    this.policies = new Derived(
      () => [...this.weirPolicies.list().map((p) => fromWeirPolicy(p)), ...this.k8sPolicies.list().map((p) => fromK8sPolicy(p))],
      [this.weirPolicies, this.k8sPolicies],
    );
    this.podFacts = new Derived(() => this.identityPodFacts(), [this.pods, this.namespaces, this.identities]);
    // Every IPv4 address the ipcache holds for pods and nodes: the same for every node.
    this.clusterAddresses = new Derived(
      () =>
        this.pods.list().filter((p) => !p.spec?.hostNetwork).reduce((n, p) => n + (p.status?.podIPs ?? []).filter((i) => !i.ip.includes(':')).length, 0) +
        this.nodes.list().reduce((n, node) => n + (node.status?.addresses ?? []).filter((a) => (a.type === 'InternalIP' || a.type === 'ExternalIP') && !a.address.includes(':')).length, 0),
      [this.pods, this.nodes],
    );
    this.lbEntries = new Derived(() => lbDemand(this.services.list(), this.endpointSlices.list()), [this.services, this.endpointSlices]);

    const metrics = controllerMetrics(registry);
    this.nodeController = new Controller('nodes', (k) => this.reconcileNode(k), log, metrics);
    this.configController = new Controller('configs', (k) => this.reconcileConfig(k), log, metrics);
    this.policyController = new Controller('policies', (k) => this.reconcilePolicy(k), log, metrics);
    const policiesIn = (ns: string): void =>
      this.weirPolicies
        .list()
        .filter((p) => p.metadata.namespace === ns)
        .forEach((p) => this.policyController.enqueue(`weir/${ns}/${p.metadata.name}`));
    this.weirPolicies.onEvent((_e, p) => this.policyController.enqueue(`weir/${p.metadata.namespace}/${p.metadata.name}`));
    this.k8sPolicies.onEvent((e, p) => e !== 'delete' && this.policyController.enqueue(`k8s/${p.metadata?.namespace}/${p.metadata?.name}`));

    const allNodes = (): void => this.nodes.list().forEach((n) => this.nodeController.enqueue(n.metadata!.name!));
    const allConfigs = (): void => this.configs.list().forEach((c) => this.configController.enqueue(c.metadata.name));
    this.nodes.onEvent((_e, n) => {
      this.nodeController.enqueue(n.metadata!.name!);
      allConfigs();
    });
    // Any pod's address or named ports enter other nodes' policy when a policy's ipBlock covers
    // pods or a rule names a port: then a pod change recomputes every node.
    const podsInPolicy = new Derived(
      () => this.policies.get().some((p) => [...p.ingress, ...p.egress].some((r) => (r.peers.kind === 'cidr' && r.peers.podAddresses) || r.ports.some((x) => x.name !== undefined))),
      [this.weirPolicies, this.k8sPolicies],
    );
    this.pods.onEvent((_e, p) => {
      if (podsInPolicy.get()) allNodes();
      else if (p.spec?.nodeName) this.nodeController.enqueue(p.spec.nodeName);
      if (p.metadata?.namespace) policiesIn(p.metadata.namespace);
    });
    // LB demand is the same for every node: a change re-checks every node's LB map size.
    for (const i of [this.services, this.endpointSlices] as Array<ResilientInformer<KubernetesObject>>) i.onEvent(allNodes);
    // Cluster-wide inputs: every node is recomputed, and only those whose content changes are written.
    for (const i of [this.namespaces, this.weirPolicies, this.k8sPolicies, this.identities]) i.onEvent(allNodes);
    this.configs.onEvent((_e, c) => {
      allNodes();
      this.configController.enqueue(c.metadata.name);
    });
    this.nodeDatapaths.onEvent((e, ndp) => {
      // Someone deleted or edited a NodeDatapath: put it back as it should be.
      if (e !== 'add') this.nodeController.enqueue(ndp.metadata!.name!);
      // Agents report progress in status: the governing config aggregates it.
      if (ndp.spec?.configName) this.configController.enqueue(ndp.spec.configName);
    });
  }

  private get informers(): Array<ResilientInformer<KubernetesObject>> {
    return [
      this.nodes,
      this.pods,
      this.namespaces,
      this.configs,
      this.weirPolicies,
      this.k8sPolicies,
      this.identities,
      this.nodeDatapaths,
      this.services,
      this.endpointSlices,
    ] as Array<ResilientInformer<KubernetesObject>>;
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }

  /** Runs until `signal` aborts (leadership lost or shutdown). */
  async run(signal: AbortSignal): Promise<void> {
    const informers = this.informers;
    await Promise.all(informers.map((i) => i.start()));
    // Acting on a cache that has not listed yet would write from a partial picture.
    await Promise.race([Promise.all(informers.map((i) => i.waitForSync())), untilAborted(signal)]);
    if (signal.aborted) {
      await Promise.all(informers.map((i) => i.stop()));
      return;
    }
    this.log.info('caches synced; starting controllers');
    const gc = setInterval(() => {
      this.collectIdentities().catch((err: unknown) => this.log.warn({ err }, 'identity collection failed'));
    }, this.opts.identityGcIntervalMs ?? 60_000);
    try {
      await Promise.all([this.nodeController.run(this.opts.workers, signal), this.configController.run(1, signal), this.policyController.run(1, signal)]);
    } finally {
      clearInterval(gc);
      await Promise.all(informers.map((i) => i.stop()));
    }
  }

  private localPods(node: string): V1Pod[] {
    return this.pods
      .list()
      .filter((p) => p.spec?.nodeName === node && !p.spec.hostNetwork && p.status?.podIP && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed');
  }

  /** Per identity, its pods' addresses and named container ports, cluster-wide (for policy). */
  private identityPodFacts(): { addresses: Map<number, string[]>; namedPorts: Map<number, NamedPort[]> } {
    const addresses = new Map<number, string[]>();
    const namedPorts = new Map<number, NamedPort[]>();
    for (const p of this.pods.list()) {
      if (p.spec?.hostNetwork || !p.spec?.nodeName || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      const id = this.allocator.lookup(this.podLabels(p));
      if (id === undefined) continue;
      const ips = (p.status?.podIPs ?? []).map((i) => i.ip).filter((ip) => !ip.includes(':'));
      addresses.set(id, [...(addresses.get(id) ?? []), ...ips]);
      const ports = (p.spec.containers ?? []).flatMap((c) => (c.ports ?? []).filter((cp) => cp.name).map((cp) => ({ name: cp.name!, port: cp.containerPort, protocol: (cp.protocol ?? 'TCP') as Protocol })));
      if (ports.length) namedPorts.set(id, [...(namedPorts.get(id) ?? []), ...ports]);
    }
    return { addresses, namedPorts };
  }

  private podLabels(p: V1Pod): Record<string, string> {
    const ns = p.metadata!.namespace!;
    return securityLabels(p.metadata?.labels, ns, this.namespaces.get(ns)?.metadata?.labels);
  }

  async reconcileNode(name: string): Promise<ReconcileResult> {
    this.allocator.settle();
    const node = this.nodes.get(name);
    if (!node) {
      await this.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'nodedatapaths', name }).catch((e: unknown) => {
        if (apiStatus(e) !== 404) throw e;
      });
      this.overflows.delete(name);
      this.tooManyEndpoints.delete(name);
      return;
    }
    const sel = selectConfig(node.metadata?.labels ?? {}, this.configs.list());
    if ('none' in sel) return;
    if ('error' in sel) {
      this.log.warn({ node: name, reason: sel.error }, 'no single DatapathConfig for node');
      return;
    }
    const config = sel.config;
    const capacity = node.status?.capacity ?? {};
    if (!capacity.memory) {
      this.log.warn({ node: name }, 'node reports no memory capacity yet');
      return { requeueAfterMs: 10_000 };
    }
    const sizes = computeMapSizes(config.spec.mapSizing ?? {}, {
      memoryBytes: parseQuantity(capacity.memory),
      cpus: capacity.cpu ? parseQuantity(capacity.cpu) : 1,
    });

    const endpoints: LocalEndpoint[] = [];
    for (const p of this.localPods(name)) {
      const identity = await this.allocator.ensure(this.podLabels(p), p.metadata!.namespace!);
      const ips = (p.status?.podIPs?.map((i) => i.ip) ?? [p.status!.podIP!]).filter((ip): ip is string => !!ip);
      endpoints.push({ namespace: p.metadata!.namespace!, name: p.metadata!.name!, ips, identity });
    }

    // A node past the NodeDatapath's bound would only get 422s from the API server: say why once
    // and keep the node on what it was last given.
    if (endpoints.length > MAX_NODE_ENDPOINTS) {
      const message = `${endpoints.length} pods with addresses on node ${name}, more than the ${MAX_NODE_ENDPOINTS} one NodeDatapath holds; the node keeps its last datapath state`;
      if (this.tooManyEndpoints.get(name) !== endpoints.length) {
        this.tooManyEndpoints.set(name, endpoints.length);
        this.log.error({ node: name, endpoints: endpoints.length, max: MAX_NODE_ENDPOINTS }, message);
        this.events.emit({ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid }, 'Warning', 'TooManyEndpoints', message);
      }
      return { requeueAfterMs: 60_000 };
    }
    this.tooManyEndpoints.delete(name);

    const features = (config.spec.features ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const l7 = features.l7Proxy;
    const compiled = compilePolicies(
      endpoints.map((e) => e.identity),
      this.allocator.all(),
      this.policies.get(),
      {
        defaultDeny: features.endpointPolicy?.defaultDeny === true,
        allowFromHost: features.endpointPolicy?.allowFromHost !== false,
        proxyPort: l7?.enabled === true ? ((l7.port as number | undefined) ?? 15001) : undefined,
        podAddresses: this.podFacts.get().addresses,
        namedPorts: this.podFacts.get().namedPorts,
      },
    );
    for (const w of compiled.warnings) this.log.warn({ node: name }, w);

    // What the node's trie will hold, counted as the agent expands it (agent/maps/policy.ts; the
    // map catalogue of issue 15 gives this expansion a home both can import).
    const policyEntries = compiled.policies.reduce((n, p) => n + expandPolicy(p.identity, PolicyDir.Ingress, p.ingress).length + expandPolicy(p.identity, PolicyDir.Egress, p.egress).length, 0);
    const denyCIDRs = (features.prefilter?.denyCIDRs as string[] | undefined) ?? [];
    const overflow = checkDemand(sizes, {
      lbEntries: this.lbEntries.get(),
      endpoints: endpoints.length,
      policyEntries,
      ipcacheEntries: this.clusterAddresses.get() + compiled.cidrIdentities.length,
      prefilterEntries: denyCIDRs.length,
    });
    const before = JSON.stringify(this.overflows.get(name) ?? []);
    if (JSON.stringify(overflow) !== before) {
      this.overflows.set(name, overflow);
      this.configController.enqueue(config.metadata.name);
      for (const o of overflow) {
        this.log.error({ node: name, map: o.map, needed: o.needed, maxEntries: o.maxEntries }, o.message);
        this.events.emit({ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid }, 'Warning', 'MapOverflow', o.message);
      }
    }

    const content = buildNodeDatapath({ configName: config.metadata.name, features: config.spec.features ?? {}, sizes, endpoints, compiled });
    const existing = this.nodeDatapaths.get(name);
    const mine = this.written.get(name);
    const decision = this.rolloutDecision(name, config, content.maps, existing, mine);
    content.maps = decision.maps;
    if (decision.gate) content.resizeGate = decision.gate;
    const prevState = this.rollout.get(name);
    this.rollout.set(name, { config: config.metadata.name, state: decision.state, reason: decision.reason });
    if (prevState?.state !== decision.state || prevState.reason !== decision.reason) this.configController.enqueue(config.metadata.name);
    if (decision.completed) {
      this.log.info({ node: name, revision: decision.completed.revision }, `node resized: ${decision.completed.message}`);
      this.events.emit(configRef(config), 'Normal', 'NodeResized', `${name}: ${decision.completed.message}`);
    }
    // Waiting for a slot, the agent's answer, or a timeout: look again shortly.
    const requeue = decision.state === 'updated' ? undefined : { requeueAfterMs: 2000 };
    const hash = contentHash(content);
    // The watch may not have delivered our last write yet: our own record covers the gap.
    const cachedRevision = existing?.spec?.revision ?? 0;
    const current = mine && mine.revision >= cachedRevision ? mine : { revision: cachedRevision, hash: existing?.metadata?.annotations?.[HASH_ANNOTATION] };
    if (current.hash === hash) return requeue;

    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'NodeDatapath',
      metadata: { name, annotations: { [HASH_ANNOTATION]: hash } },
      spec: { revision: current.revision + 1, ...content },
    };
    const bytes = Buffer.byteLength(JSON.stringify(body));
    if (bytes > MAX_NODEDATAPATH_BYTES) throw new Error(`NodeDatapath ${name} would be ${bytes} bytes, over the ${MAX_NODEDATAPATH_BYTES} byte bound`);
    await this.custom.patchClusterCustomObject(
      { group: GROUP, version: VERSION, plural: 'nodedatapaths', name, body, fieldManager: FIELD_MANAGER, force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    this.written.set(name, { revision: body.spec.revision, hash, maps: content.maps, gate: content.resizeGate });
    this.log.info({ node: name, revision: body.spec.revision, endpoints: endpoints.length, bytes }, 'wrote NodeDatapath');
    return requeue;
  }

  /**
   * The config's resize rollout as its nodes stand: phase, counts, the nodes in progress and
   * those that failed (which pause it). Events mark the phase changes.
   */
  private rolloutStatus(config: DatapathConfig, governed: readonly string[], generation: number) {
    const prevConditions = (config as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
    const states = governed.map((n) => ({ node: n, ...(this.rollout.get(n) ?? { state: 'updated' as NodeState, reason: undefined }) }));
    const failed = states.filter((s) => s.state === 'failed').map((s) => ({ node: s.node, reason: s.reason ?? '' }));
    const inProgress = states.filter((s) => s.state === 'in-progress').map((s) => s.node);
    const pending = states.filter((s) => s.state === 'pending').length;
    const updated = states.filter((s) => s.state === 'updated').length;
    const touched = governed.some((n) => (this.gateOf(n)?.revision ?? 0) > 0);
    const phase = failed.length ? 'Paused' : inProgress.length + pending ? 'Progressing' : touched ? 'Complete' : 'Idle';
    const prev = config.status?.rollout?.phase;
    const ref = configRef(config);
    if (phase !== prev) {
      if (phase === 'Progressing' && prev !== 'Paused') this.events.emit(ref, 'Normal', 'RolloutStarted', `resizing maps on ${inProgress.length + pending} node(s), ${slots(config.spec.rollout?.maxUnavailable, governed.length)} at a time`);
      if (phase === 'Progressing' && prev === 'Paused') this.events.emit(ref, 'Normal', 'RolloutResumed', `${inProgress.length + pending} node(s) to go`);
      if (phase === 'Paused') this.events.emit(ref, 'Warning', 'RolloutPaused', failed.map((f) => `${f.node}: ${f.reason}`).join('; '));
      if (phase === 'Complete') this.events.emit(ref, 'Normal', 'RolloutComplete', `maps resized on every node (${updated})`);
    }
    return {
      status: { targetRevision: generation, phase, nodesUpdated: updated, nodesPending: pending + inProgress.length, nodesFailed: failed, inProgress },
      condition: condition(
        prevConditions,
        'RolloutPaused',
        failed.length ? 'True' : 'False',
        failed.length ? 'NodeFailed' : 'NoFailure',
        failed.length ? failed.map((f) => `node ${f.node}: ${f.reason}; it keeps its old maps; edit the config to retry or supersede`).join('; ') : 'no node failed to resize',
        generation,
      ),
    };
  }

  /** Nodes whose effective config is `configName`. */
  private governedBy(configName: string): string[] {
    const configs = this.configs.list();
    return this.nodes
      .list()
      .filter((n) => {
        const sel = selectConfig(n.metadata?.labels ?? {}, configs);
        return 'config' in sel && sel.config.metadata.name === configName;
      })
      .map((n) => n.metadata!.name!);
  }

  /** The latest gate of a node: ours if the watch has not caught up with our write yet. */
  private gateOf(name: string): ResizeGate | undefined {
    const mine = this.written.get(name);
    const cached = this.nodeDatapaths.get(name);
    return mine && mine.revision >= (cached?.spec?.revision ?? 0) ? mine.gate : cached?.spec?.resizeGate;
  }

  /** A node holds a rollout slot while its gate is open and it has not answered Done. */
  private holdsSlot(name: string): boolean {
    const gate = this.gateOf(name);
    if (!gate?.open) return false;
    const answer = this.nodeDatapaths.get(name)?.status?.resize;
    return !(answer?.revision === gate.revision && answer.phase === 'Done');
  }

  private rolloutDecision(name: string, config: DatapathConfig, target: MapSize[], existing: NodeDatapathObject | undefined, mine: { revision: number; maps: MapSize[] } | undefined) {
    const r = config.spec.rollout ?? {};
    const cachedRevision = existing?.spec?.revision ?? 0;
    const maps = mine && mine.revision >= cachedRevision ? mine.maps : existing?.spec?.maps;
    const view = existing?.spec && maps ? { maps, gate: this.gateOf(name), programmed: existing.status?.observedRevision !== undefined, answer: existing.status?.resize } : undefined;
    // Admission is synchronous (no await between the count and the reservation), so concurrent
    // node reconciles cannot both take the last slot.
    const admit = (): boolean => {
      const governed = this.governedBy(config.metadata.name);
      if (governed.some((n) => this.rollout.get(n)?.state === 'failed')) return false;
      const busy = governed.filter((n) => n !== name && this.holdsSlot(n)).length;
      return busy < slots(r.maxUnavailable, governed.length);
    };
    return decide(target, view, { drainTimeoutSeconds: r.drainTimeoutSeconds ?? 30, nodeTimeoutSeconds: r.nodeTimeoutSeconds ?? 600 }, admit, new Date());
  }

  async reconcileConfig(name: string): Promise<ReconcileResult> {
    const config = this.configs.get(name);
    if (!config) return;
    const configs = this.configs.list();
    const governed: string[] = [];
    let conflict: string | undefined;
    for (const n of this.nodes.list()) {
      const sel = selectConfig(n.metadata?.labels ?? {}, configs);
      if ('config' in sel && sel.config.metadata.name === name) governed.push(n.metadata!.name!);
      if ('error' in sel && sel.error.includes(name)) conflict = `node ${n.metadata?.name}: ${sel.error}`;
    }
    const generation = config.metadata.generation ?? 0;
    const overflowing = governed.flatMap((n) => (this.overflows.get(n) ?? []).map((o) => `${n}: ${o.message}`));
    const programmed = governed.filter((n) => {
      const ndp = this.nodeDatapaths.get(n);
      return ndp?.spec?.revision !== undefined && (ndp.status?.observedRevision ?? 0) >= ndp.spec.revision;
    }).length;
    if (conflict) this.events.emit(configRef(config), 'Warning', 'Conflict', conflict);
    const rollout = this.rolloutStatus(config, governed, generation);
    const prevConditions = (config as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
    const conditions = [
      condition(prevConditions, 'Ready', conflict ? 'False' : 'True', conflict ? 'Conflict' : 'Applied', conflict ?? `in effect on ${governed.length} node(s)`, generation),
      condition(
        prevConditions,
        'MapCapacity',
        overflowing.length > 0 ? 'False' : 'True',
        overflowing.length > 0 ? 'DemandExceedsSize' : 'Sufficient',
        overflowing.length > 0 ? overflowing.join('; ') : 'every map holds its known demand',
        generation,
      ),
      condition(
        prevConditions,
        'Programmed',
        programmed === governed.length ? 'True' : 'False',
        programmed === governed.length ? 'AllNodesProgrammed' : 'Progressing',
        `${programmed}/${governed.length} node(s) run the latest NodeDatapath revision`,
        generation,
      ),
    ];
    await this.custom.patchClusterCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: 'datapathconfigs',
        name,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'DatapathConfig',
          metadata: { name },
          status: { observedGeneration: generation, nodes: governed.length, nodesProgrammed: programmed, conditions: [...conditions, rollout.condition], rollout: rollout.status },
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  /** weir.dev NetworkPolicy status: how many endpoints it selects, and whether it compiled cleanly. */
  /**
   * One policy's report: what it selects and whether the datapath enforces it as written. A
   * weir.dev policy carries it in status (Ready, Enforced); a networking.k8s.io policy has no
   * status, so what it cannot have enforced is said in Warning events on it. Keys: `weir/ns/name`
   * or `k8s/ns/name`.
   */
  async reconcilePolicy(key: string): Promise<ReconcileResult> {
    const [kind, namespace, name] = key.split('/') as ['weir' | 'k8s', string, string];
    const obj = kind === 'weir' ? this.weirPolicies.get(name, namespace) : this.k8sPolicies.get(name, namespace);
    if (!obj) return;
    const normalized = kind === 'weir' ? fromWeirPolicy(obj as WeirNetworkPolicy) : fromK8sPolicy(obj as V1NetworkPolicy);
    const notEnforced = normalized.warnings;
    const ref = {
      apiVersion: kind === 'weir' ? `${GROUP}/${VERSION}` : 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      name,
      namespace,
      uid: obj.metadata?.uid,
    };
    for (const w of notEnforced) this.events.emit(ref, 'Warning', 'NotEnforced', w);
    if (kind === 'k8s') return;

    const selected = this.pods
      .list()
      .filter((pod) => pod.metadata?.namespace === namespace && pod.spec?.nodeName && pod.status?.podIP && matchesSelector(normalized.endpointSelector, pod.metadata?.labels ?? {}));
    const generation = obj.metadata?.generation ?? 0;
    const prevConditions = (obj as { status?: { conditions?: Condition[] } }).status?.conditions ?? [];
    const full = notEnforced.length === 0;
    await this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: 'networkpolicies',
        name,
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'NetworkPolicy',
          metadata: { name, namespace },
          status: {
            observedGeneration: generation,
            selectedEndpoints: selected.length,
            conditions: [
              condition(prevConditions, 'Ready', 'True', full ? 'Compiled' : 'PartiallyEnforced', `selects ${selected.length} endpoint(s)`, generation),
              condition(prevConditions, 'Enforced', full ? 'True' : 'False', full ? 'Compiled' : 'NotFullyEnforced', full ? 'every rule is enforced as written' : notEnforced.join('; '), generation),
            ],
          },
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  private async collectIdentities(): Promise<void> {
    const used = new Set(this.pods.list().filter((p) => p.spec?.nodeName).map((p) => identityKey(this.podLabels(p))));
    await this.allocator.collect(used, this.opts.identityGcGraceMs ?? 5 * 60_000);
  }
}
