// weir.dev NetworkPolicy (namespaced, crds/networkpolicy.yaml): Cilium-style endpoint policy with
// identity, CIDR and entity peers, deny rules and L7 HTTP rules.
import type { Condition, LabelSelector, WeirObject } from './meta.js';

/** As Cilium's entities: remote-node is every other node (what a node SNATs a forwarded NodePort flow to). */
export type Entity = 'world' | 'host' | 'remote-node' | 'cluster' | 'all';
export type PolicyProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ANY';

/** A peer by labels; without namespaceSelector, in the policy's own namespace ({} = every namespace). */
export interface PeerSelector extends LabelSelector {
  namespaceSelector?: LabelSelector;
}

export interface CIDRSet {
  cidr: string;
  except?: string[];
}

export interface HTTPRule {
  /** No CONNECT: the proxy does not tunnel (it answers 501), so the API refuses a rule allowing it. */
  method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'TRACE';
  /** A regular expression matched against the whole request target (path and query). */
  path?: string;
  /** A regular expression matched against the whole Host header. */
  host?: string;
  /** `Name` (present) or `Name: value`. */
  headers?: string[];
}

export interface PortRule {
  ports: Array<{ port?: number; endPort?: number; protocol?: PolicyProtocol }>;
  rules?: { http?: HTTPRule[] };
}

export interface IngressRule {
  fromEndpoints?: PeerSelector[];
  fromCIDR?: string[];
  fromCIDRSet?: CIDRSet[];
  fromEntities?: Entity[];
  toPorts?: PortRule[];
}

export interface EgressRule {
  toEndpoints?: PeerSelector[];
  toCIDR?: string[];
  toCIDRSet?: CIDRSet[];
  toEntities?: Entity[];
  toPorts?: PortRule[];
}

export interface NetworkPolicySpec {
  endpointSelector: LabelSelector;
  ingress?: IngressRule[];
  egress?: EgressRule[];
  ingressDeny?: IngressRule[];
  egressDeny?: EgressRule[];
}

export interface NetworkPolicyStatus {
  observedGeneration?: number;
  selectedEndpoints?: number;
  /** Ready (compiled, with what it selects) and Enforced (every rule as written). */
  conditions?: Condition[];
}

export type NetworkPolicy = WeirObject<NetworkPolicySpec, NetworkPolicyStatus>;
