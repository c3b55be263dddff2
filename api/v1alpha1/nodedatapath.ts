// NodeDatapath (cluster-scoped, one per node, crds/nodedatapath.yaml): the operator's desired
// datapath state for one node in spec, and the node agent's report in status.
import type { EncryptionMode, Features, ServiceLBMode } from './datapathconfig.js';
import type { HTTPRule } from './networkpolicy.js';
import type { Condition, WeirObject } from './meta.js';

/** Endpoints (and so local policies) one NodeDatapath holds: `maxItems` in the CRD. */
export const MAX_NODE_ENDPOINTS = 512;

export interface LocalEndpoint {
  namespace: string;
  name: string;
  ips: string[];
  identity: number;
}

export type Verdict = 'allow' | 'deny' | 'redirect';

/** One compiled policy entry for one peer identity. */
export interface PolicyEntry {
  /** Peer identity; 0 (ReservedIdentity.Any) matches every peer. */
  peer: number;
  /** 0 = every port. */
  port: number;
  endPort?: number;
  /** IP protocol number: 6 TCP, 17 UDP, 132 SCTP, 0 any. */
  protocol: number;
  verdict: Verdict;
  proxyPort?: number;
}

/** A compiled entry whose peers are a peer set: (peer set, ports, protocol) -> verdict. */
export interface CompactEntry {
  peerSet: number;
  port?: number;
  endPort?: number;
  protocol?: number;
  verdict: Verdict;
  proxyPort?: number;
}

export interface PeerSet {
  id: number;
  identities: number[];
}

export interface IdentityPolicy {
  identity: number;
  ingress?: CompactEntry[];
  egress?: CompactEntry[];
}

/** What the L7 proxy allows on one identity's redirected (direction, ports, peers): any matching rule. */
export interface L7Rules {
  identity: number;
  direction: 'ingress' | 'egress';
  port: number;
  endPort?: number;
  peerSet: number;
  http: HTTPRule[];
}

export interface MapSize {
  name: string;
  maxEntries: number;
}

/** Opened by the operator's resize rollout; the agent resizes only while it is open. */
export interface ResizeGate {
  revision?: number;
  open?: boolean;
  drainTimeoutSeconds?: number;
  openedAt?: string;
}

/** Another node, as this node's encryption needs it. */
export interface EncryptionPeer {
  name: string;
  nodeId: number;
  /** Its node address: the outer address of IPsec tunnels, the WireGuard endpoint. */
  address: string;
  podCIDRs: string[];
  /** Node status.nodeInfo.bootID: per-pair IPsec keys change when either node reboots. */
  bootID?: string;
  /** WireGuard: the public key the node published in its NodeDatapath status. */
  publicKey?: string;
}

/** An IPsec key generation: its id in the Secret and a digest of its key (never the key). */
export interface IpsecKeyRef {
  id: number;
  fingerprint: string;
}

export interface NodeEncryption {
  mode: EncryptionMode;
  /** Pod traffic to another node that cannot be encrypted is dropped (true) or sent in clear. */
  strict: boolean;
  /** This node's number, unique in the cluster: IPsec SPIs carry the sender's. */
  nodeId: number;
  /** This node's own bootID, as its peers derive keys with it. */
  bootID?: string;
  ipsec?: {
    secret: { namespace: string; name: string };
    /** Generations to accept (states both ways for every peer); `send` is the one to send with. */
    keys: IpsecKeyRef[];
    send: number;
  };
  peers: EncryptionPeer[];
}

export interface NodeDatapathSpec {
  revision: number;
  configName: string;
  /** The governing DatapathConfig's spec.features, as the API server defaulted them. */
  features?: Features;
  /** max_entries per sizing field of the map catalogue (common/maps/catalogue.ts). */
  maps?: MapSize[];
  endpoints?: Array<LocalEndpoint & { policyEnforced?: boolean }>;
  /**
   * Each distinct list of peer identities once: with 5,000 identities, a policy allowing the
   * "cluster" entity would otherwise repeat all of them for every local identity and port.
   */
  peerSets?: PeerSet[];
  policies?: IdentityPolicy[];
  cidrIdentities?: Array<{ cidr: string; identity: number }>;
  l7Rules?: L7Rules[];
  resizeGate?: ResizeGate;
  encryption?: NodeEncryption;
  overlay?: NodeOverlaySpec;
}

/** The node's side of the overlay beyond the mode it sends with (docs/overlay.md). */
export interface NodeOverlaySpec {
  /**
   * Keep the VXLAN device, which accepts tunnelled packets on the VXLAN port: true while some node
   * sends or may send through the tunnel. Absent (an operator before the field): true.
   */
  receive: boolean;
}

export type ResizePhase = 'Idle' | 'Draining' | 'Copying' | 'Switching' | 'Done' | 'Failed' | 'Refused';

export interface ResizeAnswer {
  revision?: number;
  phase?: ResizePhase;
  message?: string;
}

export interface MapStatus {
  name: string;
  maxEntries: number;
  entries: number;
  /** entries / maxEntries. */
  pressure: number;
}

export interface ProgramStatus {
  name: string;
  id: number;
  attachments: string[];
}

export interface NodeEncryptionStatus {
  mode: EncryptionMode;
  /** This node encrypts its pod traffic to other nodes; false: why in `message`. */
  active: boolean;
  message?: string;
  /** WireGuard: this node's public key (its private key never leaves the node). */
  publicKey?: string;
  /** IPsec: generations with states to and from every peer, and the one sent with. */
  installedKeys?: number[];
  sendingKey?: number;
  /** Peers programmed. */
  peers?: number;
}

/** How the node sends to other nodes' pods, as its agent applied it (docs/overlay.md). */
export interface NodeOverlayStatus {
  /** The mode in effect: native while the tunnel device cannot be made. */
  mode: 'none' | 'vxlan';
  /** Routes to other nodes' pod CIDRs installed. */
  routes: number;
  /** The MTU pods on this node should have (the tunnel's, in VXLAN mode). */
  podMTU?: number;
  /** The VXLAN device is up: the node accepts tunnelled packets. Absent (an agent before the field): true. */
  receiving?: boolean;
  message?: string;
}

/** Who serves Services on the node, as its agent found it (docs/services.md). */
export interface NodeServicesStatus {
  mode: ServiceLBMode;
  /** ebpf: socket hooks and the NIC programs; nftables: the fallback; none: not served by Weir. */
  datapath: 'ebpf' | 'nftables' | 'none';
  /** kube-proxy's rules found on the node (e.g. "iptables nat KUBE-SERVICES"). */
  kubeProxy?: string[];
  /** What the node does not do as the config asks, one sentence each. */
  degraded?: string[];
  /** healthCheckNodePorts answering on this node now (replace mode); a port held by another process is in `degraded` and retried. */
  healthCheckNodePorts?: number[];
}

/** Weir's own netfilter rules on the node (docs/services.md). */
export interface NodeNetfilterStatus {
  masquerade: boolean;
  /** WEIR-FORWARD accepts pod traffic past the host's FORWARD policy DROP. */
  forwardAccept: boolean;
}

export interface NodeDatapathStatus {
  observedRevision?: number;
  endpoints?: number;
  /** Programmed, Ready, Degraded. */
  conditions?: Condition[];
  programs?: ProgramStatus[];
  maps?: MapStatus[];
  resize?: ResizeAnswer;
  encryption?: NodeEncryptionStatus;
  overlay?: NodeOverlayStatus;
  services?: NodeServicesStatus;
  netfilter?: NodeNetfilterStatus;
}

export type NodeDatapath = WeirObject<NodeDatapathSpec, NodeDatapathStatus>;

/** Expands compact entries back into one entry per peer (what the agent writes to its trie). */
export function expandEntries(entries: readonly CompactEntry[], peerSets: readonly PeerSet[]): PolicyEntry[] {
  const byId = new Map(peerSets.map((s) => [s.id, s.identities]));
  return entries.flatMap(({ peerSet, port, protocol, ...rest }) => (byId.get(peerSet) ?? []).map((peer) => ({ peer, port: port ?? 0, protocol: protocol ?? 0, ...rest })));
}

/** A spec with every list present (absent lists are empty), as the agent works on it. */
export interface ResolvedNodeDatapathSpec {
  revision: number;
  configName: string;
  features: Features;
  maps: MapSize[];
  endpoints: Array<LocalEndpoint & { policyEnforced: boolean }>;
  peerSets: PeerSet[];
  policies: Array<{ identity: number; ingress: CompactEntry[]; egress: CompactEntry[] }>;
  cidrIdentities: Array<{ cidr: string; identity: number }>;
  l7Rules: L7Rules[];
  resizeGate?: ResizeGate;
  encryption?: NodeEncryption;
  overlay?: NodeOverlaySpec;
}

export function resolveSpec(spec: NodeDatapathSpec): ResolvedNodeDatapathSpec {
  return {
    ...spec,
    features: spec.features ?? {},
    maps: spec.maps ?? [],
    endpoints: (spec.endpoints ?? []).map((e) => ({ ...e, policyEnforced: e.policyEnforced ?? false })),
    peerSets: spec.peerSets ?? [],
    policies: (spec.policies ?? []).map((p) => ({ identity: p.identity, ingress: p.ingress ?? [], egress: p.egress ?? [] })),
    cidrIdentities: spec.cidrIdentities ?? [],
    l7Rules: spec.l7Rules ?? [],
  };
}
