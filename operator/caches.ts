// Everything the operator reads, cached: the cluster caches every component reads, the kinds only
// the operator reads, and values derived from them once per change rather than once per node.
import type { KubeConfig, KubernetesObject, V1NetworkPolicy, V1Node, V1Pod } from '@kubernetes/client-node';
import {
  DatapathConfigResource,
  NetworkPolicyResource,
  NodeDatapathResource,
  securityLabels,
  type DatapathConfig,
  type NodeDatapath,
  type Stored,
} from '../api/v1alpha1/index.js';
import type { ResilientInformer } from '../common/informer.js';
import { ClusterCaches } from '../common/caches.js';
import { nodeAddresses } from '../common/kube.js';
import type { Logger } from '../common/log.js';
import { Derived } from '../common/runtime/derived.js';
import { selectConfig, type Selection } from './config/select.js';
import type { IdentityAllocator } from './identity/allocator.js';
import type { NamedPort } from './policy/compile.js';
import type { NormalizedPolicy, Protocol } from './policy/model.js';
import { fromK8sPolicy, fromWeirPolicy, type WeirNetworkPolicy } from './policy/translate.js';
import { lbDemand, lbFrontendCounts, type FrontendCounts } from './sizing/lbdemand.js';

/** A DatapathConfig with its name and spec (the CRD requires both). */
export type Config = Stored<DatapathConfig>;

export interface PodFacts {
  /** Per identity, its pods' IPv4 addresses, cluster-wide. */
  addresses: Map<number, string[]>;
  /** Per identity, its pods' named container ports. */
  namedPorts: Map<number, NamedPort[]>;
}

export class OperatorCaches extends ClusterCaches {
  readonly configs: ResilientInformer<Config>;
  readonly weirPolicies: ResilientInformer<WeirNetworkPolicy>;
  readonly k8sPolicies: ResilientInformer<V1NetworkPolicy>;
  readonly nodeDatapaths: ResilientInformer<NodeDatapath>;

  /** Both policy kinds, translated once per policy change rather than once per node. */
  readonly policies: Derived<NormalizedPolicy[]>;
  /** LB entries the cluster's Services need; the same for every node. */
  readonly lbEntries: Derived<number>;
  /** Service frontends, to be multiplied out by each node's addresses. */
  readonly lbFrontends: Derived<FrontendCounts>;
  /** Every IPv4 address the ipcache holds for pods and nodes: the same for every node. */
  readonly clusterAddresses: Derived<number>;
  /**
   * Whether any pod's address or named ports enter other nodes' policy (an ipBlock that covers
   * pods, a rule naming a port): then a pod change recomputes every node.
   */
  readonly podsInPolicy: Derived<boolean>;
  readonly podFacts: Derived<PodFacts>;

  constructor(kc: KubeConfig, log: Logger, allocator: () => IdentityAllocator) {
    super(kc, log);
    this.k8sPolicies = this.kube.networkPolicies;
    this.configs = this.api.informer<Config>(kc, DatapathConfigResource, log);
    this.weirPolicies = this.api.informer<WeirNetworkPolicy>(kc, NetworkPolicyResource, log);
    this.nodeDatapaths = this.api.informer<NodeDatapath>(kc, NodeDatapathResource, log);

    this.policies = new Derived(
      () => [...this.weirPolicies.list().map((p) => fromWeirPolicy(p)), ...this.k8sPolicies.list().map((p) => fromK8sPolicy(p))],
      [this.weirPolicies, this.k8sPolicies],
    );
    this.podsInPolicy = new Derived(
      () => this.policies.get().some((p) => [...p.ingress, ...p.egress].some((r) => (r.peers.kind === 'cidr' && r.peers.podAddresses) || r.ports.some((x) => x.name !== undefined))),
      [this.weirPolicies, this.k8sPolicies],
    );
    this.podFacts = new Derived(() => this.identityPodFacts(allocator()), [this.pods, this.namespaces, this.identities]);
    this.clusterAddresses = new Derived(
      () =>
        this.pods.list().filter((p) => !p.spec?.hostNetwork).reduce((n, p) => n + (p.status?.podIPs ?? []).filter((i) => !i.ip.includes(':')).length, 0) +
        this.nodes.list().reduce((n, node) => n + nodeAddresses(node).length, 0),
      [this.pods, this.nodes],
    );
    this.lbEntries = new Derived(() => lbDemand(this.services.list(), this.endpointSlices.list()), [this.services, this.endpointSlices]);
    this.lbFrontends = new Derived(() => lbFrontendCounts(this.services.list()), [this.services]);
  }

  override get all(): Array<ResilientInformer<KubernetesObject>> {
    return [...super.all, this.configs, this.weirPolicies, this.k8sPolicies, this.nodeDatapaths] as Array<ResilientInformer<KubernetesObject>>;
  }

  /** The DatapathConfig that governs a node, a conflict, or none. */
  configOf(node: V1Node): Selection<Config> {
    return selectConfig(node.metadata?.labels ?? {}, this.configs.list());
  }

  /** Nodes whose effective config is `configName`. */
  governedBy(configName: string): string[] {
    return this.nodes
      .list()
      .filter((n) => {
        const sel = this.configOf(n);
        return 'config' in sel && sel.config.metadata.name === configName;
      })
      .map((n) => n.metadata!.name!);
  }

  /** Pods with an address on a node, not finished: its endpoints. */
  localPods(node: string): V1Pod[] {
    return this.pods
      .list()
      .filter((p) => p.spec?.nodeName === node && !p.spec.hostNetwork && p.status?.podIP && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed');
  }

  podLabels(p: V1Pod): Record<string, string> {
    const ns = p.metadata!.namespace!;
    return securityLabels(p.metadata?.labels, ns, this.namespaces.get(ns)?.metadata?.labels);
  }

  private identityPodFacts(allocator: IdentityAllocator): PodFacts {
    const addresses = new Map<number, string[]>();
    const namedPorts = new Map<number, NamedPort[]>();
    for (const p of this.pods.list()) {
      if (p.spec?.hostNetwork || !p.spec?.nodeName || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      const id = allocator.lookup(this.podLabels(p));
      if (id === undefined) continue;
      const ips = (p.status?.podIPs ?? []).map((i) => i.ip).filter((ip) => !ip.includes(':'));
      addresses.set(id, [...(addresses.get(id) ?? []), ...ips]);
      const ports = (p.spec.containers ?? []).flatMap((c) => (c.ports ?? []).filter((cp) => cp.name).map((cp) => ({ name: cp.name!, port: cp.containerPort, protocol: (cp.protocol ?? 'TCP') as Protocol })));
      if (ports.length) namedPorts.set(id, [...(namedPorts.get(id) ?? []), ...ports]);
    }
    return { addresses, namedPorts };
  }
}
