// The operator: informers over everything that shapes a node's datapath, and a level-based
// "nodes" controller that recomputes one node's NodeDatapath from the caches and writes it with
// server-side apply only when its content changed. A "configs" controller keeps DatapathConfig
// status; a periodic pass collects identities no pod uses.
import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { ResilientInformer } from '../common/informer.js';
import type { Logger } from '../common/log.js';
import { selectConfig, type DatapathConfigLike } from './config/select.js';
import { IdentityAllocator, type IdentityObject } from './identity/allocator.js';
import { identityKey, securityLabels } from './identity/labels.js';
import { buildNodeDatapath, contentHash, type LocalEndpoint } from './nodedatapath/build.js';
import { compilePolicies } from './policy/compile.js';
import type { NormalizedPolicy } from './policy/model.js';
import { fromK8sPolicy, fromWeirPolicy, type WeirNetworkPolicy } from './policy/translate.js';
import { Controller, controllerMetrics, type ReconcileResult } from './runtime/controller.js';
import { checkDemand, computeMapSizes, type MapSizingSpec } from './sizing/sizes.js';
import { parseQuantity } from './sizing/quantity.js';

const GROUP = 'weir.dev';
const VERSION = 'v1alpha1';
const FIELD_MANAGER = 'weir-operator';
const HASH_ANNOTATION = 'weir.dev/content-hash';
/** etcd refuses objects over 1.5 MiB; stay well clear of it. */
const MAX_NODEDATAPATH_BYTES = 900 * 1024;

type DatapathConfig = DatapathConfigLike & KubernetesObject & { spec: { mapSizing?: MapSizingSpec; features?: Record<string, unknown> } };
type NodeDatapathObject = KubernetesObject & { spec?: { revision?: number } };

export interface OperatorOptions {
  workers: number;
  identityGcGraceMs?: number;
  identityGcIntervalMs?: number;
}

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
  private readonly allocator: IdentityAllocator;
  private readonly nodeController: Controller;
  private readonly configController: Controller;
  /** Revision and content hash of our own last write per node. */
  private readonly written = new Map<string, { revision: number; hash: string }>();

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
    registry: Registry,
    private readonly opts: OperatorOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    const net = kc.makeApiClient(NetworkingV1Api);
    const crd =
      <T extends KubernetesObject>(plural: string) =>
      (): Promise<KubernetesListObject<T>> =>
        asList<T>(this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }));
    const inf = <T extends KubernetesObject>(name: string, path: string, list: () => Promise<KubernetesListObject<T>>) =>
      new ResilientInformer<T>(kc, { name, path, list }, log);
    this.nodes = inf('nodes', '/api/v1/nodes', () => this.core.listNode());
    this.pods = inf('pods', '/api/v1/pods', () => this.core.listPodForAllNamespaces());
    this.namespaces = inf('namespaces', '/api/v1/namespaces', () => this.core.listNamespace());
    this.configs = inf('datapathconfigs', `/apis/${GROUP}/${VERSION}/datapathconfigs`, crd<DatapathConfig>('datapathconfigs'));
    this.weirPolicies = inf('networkpolicies.weir.dev', `/apis/${GROUP}/${VERSION}/networkpolicies`, () =>
      asList(this.custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, plural: 'networkpolicies' })),
    );
    this.k8sPolicies = inf('networkpolicies', '/apis/networking.k8s.io/v1/networkpolicies', () => net.listNetworkPolicyForAllNamespaces());
    this.identities = inf('identities', `/apis/${GROUP}/${VERSION}/identities`, crd<IdentityObject & KubernetesObject>('identities'));
    this.nodeDatapaths = inf('nodedatapaths', `/apis/${GROUP}/${VERSION}/nodedatapaths`, crd<NodeDatapathObject>('nodedatapaths'));
    this.allocator = new IdentityAllocator(this.custom, () => this.identities.list(), log);

    const metrics = controllerMetrics(registry);
    this.nodeController = new Controller('nodes', (k) => this.reconcileNode(k), log, metrics);
    this.configController = new Controller('configs', (k) => this.reconcileConfig(k), log, metrics);

    const allNodes = (): void => this.nodes.list().forEach((n) => this.nodeController.enqueue(n.metadata!.name!));
    const allConfigs = (): void => this.configs.list().forEach((c) => this.configController.enqueue(c.metadata.name));
    this.nodes.onEvent((_e, n) => {
      this.nodeController.enqueue(n.metadata!.name!);
      allConfigs();
    });
    this.pods.onEvent((_e, p) => {
      if (p.spec?.nodeName) this.nodeController.enqueue(p.spec.nodeName);
    });
    // Cluster-wide inputs: every node is recomputed, and only those whose content changes are written.
    for (const i of [this.namespaces, this.weirPolicies, this.k8sPolicies, this.identities]) i.onEvent(allNodes);
    this.configs.onEvent((_e, c) => {
      allNodes();
      this.configController.enqueue(c.metadata.name);
    });
    this.nodeDatapaths.onEvent((e, ndp) => {
      // Someone deleted or edited a NodeDatapath: put it back as it should be.
      if (e !== 'add') this.nodeController.enqueue(ndp.metadata!.name!);
    });
  }

  get synced(): boolean {
    return [this.nodes, this.pods, this.namespaces, this.configs, this.weirPolicies, this.k8sPolicies, this.identities, this.nodeDatapaths].every((i) => i.synced);
  }

  /** Runs until `signal` aborts (leadership lost or shutdown). */
  async run(signal: AbortSignal): Promise<void> {
    const informers = [this.nodes, this.pods, this.namespaces, this.configs, this.weirPolicies, this.k8sPolicies, this.identities, this.nodeDatapaths];
    await Promise.all(informers.map((i) => i.start()));
    // Acting on a cache that has not listed yet would write from a partial picture.
    await Promise.race([Promise.all(informers.map((i) => i.waitForSync())), new Promise((r) => signal.addEventListener('abort', r, { once: true }))]);
    if (signal.aborted) {
      await Promise.all(informers.map((i) => i.stop()));
      return;
    }
    this.log.info('caches synced; starting controllers');
    const gc = setInterval(() => {
      this.collectIdentities().catch((err: unknown) => this.log.warn({ err }, 'identity collection failed'));
    }, this.opts.identityGcIntervalMs ?? 60_000);
    try {
      await Promise.all([this.nodeController.run(this.opts.workers, signal), this.configController.run(1, signal)]);
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

  private podLabels(p: V1Pod): Record<string, string> {
    const ns = p.metadata!.namespace!;
    return securityLabels(p.metadata?.labels, ns, this.namespaces.get(ns)?.metadata?.labels);
  }

  private normalizedPolicies(): { policies: NormalizedPolicy[] } {
    return {
      policies: [...this.weirPolicies.list().map((p) => fromWeirPolicy(p)), ...this.k8sPolicies.list().map((p) => fromK8sPolicy(p))],
    };
  }

  async reconcileNode(name: string): Promise<ReconcileResult> {
    this.allocator.settle();
    const node = this.nodes.get(name);
    if (!node) {
      await this.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'nodedatapaths', name }).catch((e: unknown) => {
        if (!(e instanceof ApiException) || e.code !== 404) throw e;
      });
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

    const features = (config.spec.features ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const l7 = features.l7Proxy;
    const compiled = compilePolicies(
      endpoints.map((e) => e.identity),
      this.allocator.all(),
      this.normalizedPolicies().policies,
      {
        defaultDeny: features.endpointPolicy?.defaultDeny === true,
        proxyPort: l7?.enabled === true ? ((l7.port as number | undefined) ?? 15001) : undefined,
      },
    );
    for (const w of compiled.warnings) this.log.warn({ node: name }, w);

    const policyMax = Math.max(0, ...compiled.policies.map((p) => p.ingress.length + p.egress.length));
    const denyCIDRs = (features.prefilter?.denyCIDRs as string[] | undefined) ?? [];
    for (const o of checkDemand(sizes, { lbEntries: 0, endpoints: endpoints.length, policyEntriesMax: policyMax, prefilterEntries: denyCIDRs.length }))
      this.log.error({ node: name, map: o.map, needed: o.needed, maxEntries: o.maxEntries }, o.message);

    const content = buildNodeDatapath({ configName: config.metadata.name, features: config.spec.features ?? {}, sizes, endpoints, compiled });
    const hash = contentHash(content);
    const existing = this.nodeDatapaths.get(name);
    const mine = this.written.get(name);
    // The watch may not have delivered our last write yet: our own record covers the gap.
    const cachedRevision = existing?.spec?.revision ?? 0;
    const current = mine && mine.revision >= cachedRevision ? mine : { revision: cachedRevision, hash: existing?.metadata?.annotations?.[HASH_ANNOTATION] };
    if (current.hash === hash) return;

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
    this.written.set(name, { revision: body.spec.revision, hash });
    this.log.info({ node: name, revision: body.spec.revision, endpoints: endpoints.length, bytes }, 'wrote NodeDatapath');
  }

  async reconcileConfig(name: string): Promise<ReconcileResult> {
    const config = this.configs.get(name);
    if (!config) return;
    let nodes = 0;
    let conflict: string | undefined;
    for (const n of this.nodes.list()) {
      const sel = selectConfig(n.metadata?.labels ?? {}, this.configs.list());
      if ('config' in sel && sel.config.metadata.name === name) nodes++;
      if ('error' in sel && sel.error.includes(name)) conflict = `node ${n.metadata?.name}: ${sel.error}`;
    }
    const generation = config.metadata.generation ?? 0;
    const prev = (config as { status?: { conditions?: Array<{ type: string; status: string; reason: string; lastTransitionTime: string }> } }).status?.conditions?.find(
      (c) => c.type === 'Ready',
    );
    const status = conflict ? 'False' : 'True';
    const reason = conflict ? 'Conflict' : 'Applied';
    const condition = {
      type: 'Ready',
      status,
      reason,
      message: conflict ?? `in effect on ${nodes} node(s)`,
      observedGeneration: generation,
      lastTransitionTime: prev && prev.status === status && prev.reason === reason ? prev.lastTransitionTime : new Date().toISOString(),
    };
    await this.custom.patchClusterCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        plural: 'datapathconfigs',
        name,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'DatapathConfig', metadata: { name }, status: { observedGeneration: generation, nodes, conditions: [condition] } },
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
