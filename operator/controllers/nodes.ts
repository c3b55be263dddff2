// The nodes controller: one key per node. Recomputes the node's NodeDatapath from the caches
// (governing config, map sizes, local endpoints, compiled policy, resize rollout) and writes it
// with server-side apply only when its content changed.
import type { V1Node } from '@kubernetes/client-node';
import {
  API_VERSION,
  CONTENT_HASH_ANNOTATION,
  MAX_NODE_ENDPOINTS,
  NodeDatapathResource,
  resolveFeatures,
  type LocalEndpoint,
  type NodeDatapath,
  type ResolvedFeatures,
} from '../../api/v1alpha1/index.js';
import { nodeAddresses } from '../../common/kube.js';
import type { EventRecorder } from '../../common/events.js';
import type { Logger } from '../../common/log.js';
import { PolicyDir, policyEntries } from '../../common/maps/policy.js';
import type { ReconcileResult } from '../../common/runtime/controller.js';
import { onSpecChange } from '../../common/runtime/specchange.js';
import type { Queues, Reconciler } from '../../common/runtime/reconciler.js';
import type { WeirApi } from '../../common/weirapi.js';
import type { Config, OperatorCaches } from '../caches.js';
import type { IdentityAllocator } from '../identity/allocator.js';
import type { EncryptionPlanner } from '../encryption/planner.js';
import { buildNodeDatapath, contentHash, type NodeDatapathContent } from '../nodedatapath/build.js';
import type { NodeBook } from '../nodestate.js';
import { compilePolicies, type CompileResult } from '../policy/compile.js';
import { decide, slots, type NodeState } from '../rollout/gate.js';
import { decideOverlay, receiversReady, switchingOverlay, tunnelWanted, type OverlayCluster, type OverlayMode } from '../rollout/overlay.js';
import { lbFrontends } from '../sizing/lbdemand.js';
import { parseQuantity } from '../sizing/quantity.js';
import { checkDemand, computeMapSizes, type MapSizes } from '../sizing/sizes.js';

export const OPERATOR_FIELD_MANAGER = 'weir-operator';
/** etcd refuses objects over 1.5 MiB; stay well clear of it. */
const MAX_NODEDATAPATH_BYTES = 900 * 1024;

/** A node's spec that cannot be written: the node keeps its last one, and is said to be stuck. */
class NodeDatapathTooLarge extends Error {}

import type { ControllerName } from './names.js';

const nodeRef = (node: V1Node) => ({ apiVersion: 'v1', kind: 'Node', name: node.metadata!.name!, uid: node.metadata?.uid });
export const configRef = (c: Config) => ({ apiVersion: c.apiVersion ?? API_VERSION, kind: 'DatapathConfig', name: c.metadata.name, uid: c.metadata.uid });

export class NodesReconciler implements Reconciler<ControllerName> {
  readonly name = 'nodes';
  private queues?: Queues<ControllerName>;

  constructor(
    private readonly c: OperatorCaches,
    private readonly book: NodeBook,
    private readonly allocator: IdentityAllocator,
    private readonly api: WeirApi,
    private readonly events: EventRecorder,
    private readonly log: Logger,
    readonly workers: number,
    private readonly encryption: EncryptionPlanner,
  ) {}

  /** Each node as its peers see it (addresses, pod CIDRs, boot id), to tell them when it changes. */
  private readonly peerFaces = new Map<string, string>();
  /** Each node's last report that its peers depend on (encryption, overlay), to tell them when it changes. */
  private readonly peerReports = new Map<string, string>();

  watch(q: Queues<ControllerName>): void {
    this.queues = q;
    const c = this.c;
    const allNodes = (): void => c.nodes.list().forEach((n) => q.nodes(n.metadata!.name!));
    // What a node is to its peers (addresses, pod CIDRs, boot id: their tunnels and pair keys) is
    // every node's input: a change there recomputes all of them, not the node alone. A rebooted
    // node's new boot id must reach its peers, or they keep keys it no longer has.
    c.nodes.onEvent((e, n) => {
      const name = n.metadata!.name!;
      if (e === 'delete') {
        // The node itself too: its NodeDatapath goes (the list no longer names it).
        this.peerFaces.delete(name);
        q.nodes(name);
        return allNodes();
      }
      const face = JSON.stringify([n.status?.addresses ?? [], n.spec?.podCIDRs ?? n.spec?.podCIDR ?? null, n.status?.nodeInfo?.bootID ?? null]);
      if (this.peerFaces.get(name) !== face) {
        this.peerFaces.set(name, face);
        allNodes();
      } else q.nodes(name);
    });
    c.pods.onEvent((_e, p) => {
      if (c.podsInPolicy.get()) allNodes();
      else if (p.spec?.nodeName) q.nodes(p.spec.nodeName);
    });
    // LB demand is the same for every node: a change re-checks every node's LB map size.
    c.services.onEvent(allNodes);
    c.endpointSlices.onEvent(allNodes);
    // Cluster-wide inputs: every node is recomputed, and only those whose content changes are written.
    for (const i of [c.namespaces, c.identities]) i.onEvent(allNodes);
    // Configs and policies by their spec (a new generation) only: their status is this operator's
    // own writing, and recomputing every node on every status write would cost nodes x writes.
    for (const i of [c.weirPolicies, c.k8sPolicies, c.configs]) onSpecChange(i, allNodes);
    // Someone deleted or edited a NodeDatapath: put it back as it should be.
    c.nodeDatapaths.onEvent((e, ndp) => e !== 'add' && q.nodes(ndp.metadata!.name!));
    // A node's encryption report (its WireGuard key, the IPsec keys it installed and sends with)
    // is its peers' input and moves key rotations on; its overlay report (the mode it sends with,
    // its tunnel device) moves the overlay rollout on and decides whether nodes keep the device.
    c.nodeDatapaths.onEvent((e, ndp) => {
      const name = ndp.metadata!.name!;
      const report = e === 'delete' ? '' : peerReport(ndp);
      if ((this.peerReports.get(name) ?? NO_REPORT) === report) return;
      this.peerReports.set(name, report);
      allNodes();
    });
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    this.allocator.settle();
    const node = this.c.nodes.get(name);
    if (!node) return this.removed(name);
    const config = this.governingConfig(node);
    if (!config) return;
    if (!node.status?.capacity?.memory) {
      if (this.setStuck(name, config, 'the node reports no memory capacity, which map sizes are computed from; its NodeDatapath waits for the kubelet to report it'))
        this.log.warn({ node: name }, 'node reports no memory capacity yet');
      return { requeueAfterMs: 10_000 };
    }
    const sizes = this.sizes(node, config);
    const endpoints = await this.endpoints(node);
    if (!endpoints) {
      this.setStuck(name, config, `more than ${MAX_NODE_ENDPOINTS} pods with addresses (${this.book.tooManyEndpoints.get(name)}); the node keeps its last datapath state`);
      return { requeueAfterMs: 60_000 };
    }
    const features = resolveFeatures(config.spec.features);
    const compiled = this.compile(name, features, endpoints);
    this.checkDemand(node, config, features, sizes, endpoints, compiled);
    const encryption = this.encryption.forNode(node);
    if (encryption === 'pending') return { requeueAfterMs: 500 };
    if (encryption.problem) this.noteEncryptionProblem(node, config, encryption.problem);
    else this.book.encryptionProblems.delete(name);
    const content = buildNodeDatapath({ configName: config.metadata.name, features: config.spec.features ?? {}, sizes, endpoints, compiled, encryption: encryption.spec });
    const decision = this.rollout(name, config, content);
    // Waiting for a slot, the agent's answer, or a timeout: look again shortly.
    const requeue = decision === 'updated' ? undefined : { requeueAfterMs: 2000 };
    try {
      await this.write(name, content, endpoints.length);
    } catch (err) {
      if (err instanceof NodeDatapathTooLarge) this.setStuck(name, config, err.message);
      throw err;
    }
    this.setStuck(name, config, undefined);
    return requeue;
  }

  /** Records why a node cannot be given its datapath (undefined: it can); true when that changed, and the config is told. */
  private setStuck(name: string, config: Config, why: string | undefined): boolean {
    if (this.book.stuck.get(name) === why) return false;
    if (why === undefined) this.book.stuck.delete(name);
    else this.book.stuck.set(name, why);
    this.queues?.configs(config.metadata.name);
    return true;
  }

  /** Said once per distinct problem, in an event on the config; the config's status keeps it. */
  private noteEncryptionProblem(node: V1Node, config: Config, problem: string): void {
    const name = node.metadata!.name!;
    if (this.book.encryptionProblems.get(name) === problem) return;
    this.book.encryptionProblems.set(name, problem);
    this.log.error({ node: name }, problem);
    this.events.emit(configRef(config), 'Warning', 'EncryptionKeyInvalid', problem);
    this.queues?.configs(config.metadata.name);
  }

  private async removed(name: string): Promise<void> {
    await this.api.delete(NodeDatapathResource, name);
    this.book.forget(name);
  }

  private governingConfig(node: V1Node): Config | undefined {
    const sel = this.c.configOf(node);
    if ('none' in sel) return undefined;
    if ('error' in sel) {
      this.log.warn({ node: node.metadata?.name, reason: sel.error }, 'no single DatapathConfig for node');
      return undefined;
    }
    return sel.config;
  }

  private sizes(node: V1Node, config: Config): MapSizes {
    const capacity = node.status!.capacity!;
    return computeMapSizes(config.spec.mapSizing ?? {}, { memoryBytes: parseQuantity(capacity.memory), cpus: capacity.cpu ? parseQuantity(capacity.cpu) : 1 });
  }

  /**
   * The node's pods with their identities; undefined when there are more than a NodeDatapath
   * holds (the API server would only answer 422): said once, and the node keeps its last state.
   */
  private async endpoints(node: V1Node): Promise<LocalEndpoint[] | undefined> {
    const name = node.metadata!.name!;
    const endpoints: LocalEndpoint[] = [];
    for (const p of this.c.localPods(name)) {
      const identity = await this.allocator.ensure(this.c.podLabels(p), p.metadata!.namespace!);
      const ips = (p.status?.podIPs?.map((i) => i.ip) ?? [p.status!.podIP!]).filter((ip): ip is string => !!ip);
      endpoints.push({ namespace: p.metadata!.namespace!, name: p.metadata!.name!, ips, identity });
    }
    if (endpoints.length <= MAX_NODE_ENDPOINTS) {
      this.book.tooManyEndpoints.delete(name);
      return endpoints;
    }
    const message = `${endpoints.length} pods with addresses on node ${name}, more than the ${MAX_NODE_ENDPOINTS} one NodeDatapath holds; the node keeps its last datapath state`;
    if (this.book.tooManyEndpoints.get(name) !== endpoints.length) {
      this.book.tooManyEndpoints.set(name, endpoints.length);
      this.log.error({ node: name, endpoints: endpoints.length, max: MAX_NODE_ENDPOINTS }, message);
      this.events.emit(nodeRef(node), 'Warning', 'TooManyEndpoints', message);
    }
    return undefined;
  }

  private compile(name: string, features: ResolvedFeatures, endpoints: readonly LocalEndpoint[]): CompileResult {
    const facts = this.c.podFacts.get();
    const compiled = compilePolicies(
      endpoints.map((e) => e.identity),
      this.allocator.all(),
      this.c.policies.get(),
      {
        defaultDeny: features.endpointPolicy.defaultDeny,
        allowFromHost: features.endpointPolicy.allowFromHost,
        proxyPort: features.l7Proxy.enabled ? features.l7Proxy.port : undefined,
        podAddresses: facts.addresses,
        namedPorts: facts.namedPorts,
      },
    );
    for (const w of compiled.warnings) this.log.warn({ node: name }, w);
    return compiled;
  }

  /** Maps whose known demand exceeds their size: said in events and the config's status before anything breaks. */
  private checkDemand(node: V1Node, config: Config, features: ResolvedFeatures, sizes: MapSizes, endpoints: readonly LocalEndpoint[], compiled: CompileResult): void {
    const name = node.metadata!.name!;
    // The node's trie as the agent will hold it: every local policy after range and deny expansion.
    const trie = compiled.policies.reduce((n, p) => n + policyEntries(p.identity, PolicyDir.Ingress, p.ingress).length + policyEntries(p.identity, PolicyDir.Egress, p.egress).length, 0);
    const overflow = checkDemand(sizes, {
      lbEntries: this.c.lbEntries.get(),
      frontends: lbFrontends(this.c.lbFrontends.get(), nodeAddresses(node).length),
      endpoints: endpoints.length,
      policyEntries: trie,
      ipcacheEntries: this.c.clusterAddresses.get() + compiled.cidrIdentities.length,
      prefilterEntries: features.prefilter.denyCIDRs.length,
    });
    if (JSON.stringify(overflow) === JSON.stringify(this.book.overflows.get(name) ?? [])) return;
    this.book.overflows.set(name, overflow);
    this.queues?.configs(config.metadata.name);
    for (const o of overflow) {
      this.log.error({ node: name, map: o.map, needed: o.needed, maxEntries: o.maxEntries }, o.message);
      this.events.emit(nodeRef(node), 'Warning', 'MapOverflow', o.message);
    }
  }

  /** The node's place in its config's resize rollout: which sizes it gets now, and its gate. */
  private rollout(name: string, config: Config, content: NodeDatapathContent): NodeState {
    const r = config.spec.rollout ?? {};
    const existing = this.c.nodeDatapaths.get(name);
    const mine = this.book.written.ahead(name, existing?.spec?.revision);
    const maps = mine ? mine.maps : existing?.spec?.maps;
    const view = existing?.spec && maps ? { maps, gate: this.book.gateOf(name, existing), programmed: existing.status?.observedRevision !== undefined, answer: existing.status?.resize } : undefined;
    // Admission is synchronous (no await between the count and the reservation), so concurrent
    // node reconciles cannot both take the last slot.
    const admit = (): boolean => {
      const governed = this.c.governedBy(config.metadata.name);
      if (governed.some((n) => this.book.rollout.get(n)?.state === 'failed')) return false;
      const busy = governed.filter((n) => n !== name && this.holdsSlot(n)).length;
      return busy < slots(r.maxUnavailable, governed.length);
    };
    const decision = decide(content.maps, view, { drainTimeoutSeconds: r.drainTimeoutSeconds ?? 30, nodeTimeoutSeconds: r.nodeTimeoutSeconds ?? 600 }, admit, new Date());
    content.maps = decision.maps;
    if (decision.gate) content.resizeGate = decision.gate;
    // The overlay mode moves through the same slots: one node's sending path at a time, and none
    // before every node has its tunnel device.
    const now = Date.now();
    const target = resolveFeatures(content.features).overlay.mode;
    const mineView = this.book.overlayOf(name, existing);
    const cluster = this.overlayCluster(target);
    const overlay = decideOverlay(target, mineView, admit, cluster, now, r.nodeTimeoutSeconds ?? 600);
    content.features = { ...content.features, overlay: { ...content.features.overlay, mode: overlay.mode } };
    content.overlay = { receive: cluster.receive || overlay.mode === 'vxlan' };
    if (overlay.state === 'updated' || overlay.state === 'pending') this.book.overlaySince.delete(name);
    else if (this.book.overlaySince.get(name)?.mode !== overlay.mode) this.book.overlaySince.set(name, { mode: overlay.mode, at: now });
    if (!mineView?.receive || mineView.receiving) this.book.receiveSince.delete(name);
    else if (!this.book.receiveSince.has(name)) this.book.receiveSince.set(name, now);
    const state = decision.state === 'updated' ? overlay.state : decision.state;
    const reason = decision.reason ?? overlay.reason;
    const prev = this.book.rollout.get(name);
    this.book.rollout.set(name, { config: config.metadata.name, state, reason });
    if (prev?.state !== state || prev?.reason !== reason) this.queues?.configs(config.metadata.name);
    if (decision.completed) {
      this.log.info({ node: name, revision: decision.completed.revision }, `node resized: ${decision.completed.message}`);
      this.events.emit(configRef(config), 'Normal', 'NodeResized', `${name}: ${decision.completed.message}`);
    }
    return state;
  }

  /**
   * The tunnel across every node (any config's): whether nodes listen for VXLAN, and whether all
   * running nodes do. `target` is this node's config's, the others' are read from the cache.
   */
  private overlayCluster(target: OverlayMode): OverlayCluster {
    const ndps = this.c.nodeDatapaths.list();
    const views = ndps.map((d) => this.book.overlayOf(d.metadata!.name!, d));
    // The targets of the configs that govern nodes (as their NodeDatapaths name them).
    const governing = new Set(ndps.map((d) => d.spec?.configName));
    const targets = [target, ...this.c.configs.list().filter((c) => governing.has(c.metadata.name)).map((c) => resolveFeatures(c.spec.features).overlay.mode)];
    return { receive: tunnelWanted(targets, views), receiversReady: receiversReady(views) };
  }

  /**
   * A node holds a rollout slot while its gate is open and it has not answered Done, or while its
   * agent has not applied the overlay mode it was given.
   */
  private holdsSlot(name: string): boolean {
    // Admitted by a reconcile whose write has not landed yet: the decision itself is the reservation.
    if (this.book.rollout.get(name)?.state === 'in-progress') return true;
    if (switchingOverlay(this.book.overlayOf(name, this.c.nodeDatapaths.get(name)))) return true;
    const gate = this.book.gateOf(name, this.c.nodeDatapaths.get(name));
    if (!gate?.open) return false;
    const answer = this.c.nodeDatapaths.get(name)?.status?.resize;
    return !(answer !== undefined && answer.revision === gate.revision && answer.phase === 'Done');
  }

  /** Writes the content as the next revision, unless it is what the node already has. */
  private async write(name: string, content: NodeDatapathContent, endpoints: number): Promise<void> {
    const hash = contentHash(content);
    const existing = this.c.nodeDatapaths.get(name);
    const cachedRevision = existing?.spec?.revision ?? 0;
    // The watch may not have delivered our last write yet: our own record covers the gap.
    const current = this.book.written.ahead(name, cachedRevision) ?? { revision: cachedRevision, hash: existing?.metadata?.annotations?.[CONTENT_HASH_ANNOTATION] };
    if (current.hash === hash) return;
    const revision = current.revision + 1;
    const body = { metadata: { name, annotations: { [CONTENT_HASH_ANNOTATION]: hash } }, spec: { revision, ...content } } satisfies NodeDatapath & Record<string, unknown>;
    const bytes = Buffer.byteLength(JSON.stringify(body));
    if (bytes > MAX_NODEDATAPATH_BYTES) throw new NodeDatapathTooLarge(`its NodeDatapath would be ${bytes} bytes, over the ${MAX_NODEDATAPATH_BYTES} byte bound; the node keeps its last datapath state`);
    await this.api.apply(NodeDatapathResource, body, OPERATOR_FIELD_MANAGER);
    this.book.written.record(name, { revision, hash, maps: content.maps, gate: content.resizeGate, overlay: content.features.overlay?.mode === 'vxlan' ? 'vxlan' : 'none', receive: content.overlay?.receive ?? true });
    this.log.info({ node: name, revision, endpoints, bytes }, 'wrote NodeDatapath');
  }
}

/** What of a node's status its peers' NodeDatapaths depend on. */
const peerReport = (ndp: NodeDatapath): string => {
  const o = ndp.status?.overlay;
  return JSON.stringify([ndp.status?.encryption ?? null, o?.mode ?? null, o?.receiving ?? null, ndp.status?.observedRevision !== undefined]);
};
/** The report of a NodeDatapath its agent has not written to yet. */
const NO_REPORT = peerReport({ spec: { revision: 1, configName: '' } });

