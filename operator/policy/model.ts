// The normalised policy both weir.dev and networking.k8s.io NetworkPolicies are translated into,
// and the compiled per-identity form NodeDatapath carries.
import type { Entity, HTTPRule, LabelSelector, PeerSelector, PolicyEntry, PolicyProtocol, Verdict } from '../../api/v1alpha1/index.js';

export type { Entity, PolicyEntry, Verdict };
export type Protocol = PolicyProtocol;


export interface PortSpec {
  /** 0 = every port. */
  port: number;
  endPort?: number;
  protocol: Protocol;
  /**
   * A named port (`port: http`): resolved at compile time from the container ports of the pod
   * it names (the selected pod for ingress, the destination pod for egress); `port` is then 0.
   */
  name?: string;
}

export type Peers =
  | { kind: 'any' }
  | { kind: 'endpoints'; selectors: PeerSelector[] }
  /** podAddresses: the block selects pods whose addresses fall in it too (networking.k8s.io semantics). */
  | { kind: 'cidr'; sets: Array<{ cidr: string; except: string[] }>; podAddresses?: boolean }
  | { kind: 'entities'; entities: Entity[] };

export interface Rule {
  peers: Peers;
  /** Empty: every port and protocol. */
  ports: PortSpec[];
  /**
   * HTTP rules for these ports (requests matching any are allowed): the traffic goes through the
   * L7 proxy. Undefined: L4 only.
   */
  http?: HTTPRule[];
}

export interface NormalizedPolicy {
  source: 'weir' | 'k8s';
  namespace: string;
  name: string;
  endpointSelector: LabelSelector;
  /** Whether selected endpoints become default-deny in each direction. */
  enforceIngress: boolean;
  enforceEgress: boolean;
  ingress: Rule[];
  egress: Rule[];
  ingressDeny: Rule[];
  egressDeny: Rule[];
  /**
   * What the datapath does not enforce as written, each naming the rule and the part left out,
   * for the policy's status and events. A part left out never widens the rule: a peer or port
   * that cannot be honoured drops out of that rule alone.
   */
  warnings: string[];
}

export interface CompiledIdentityPolicy {
  identity: number;
  ingress: PolicyEntry[];
  egress: PolicyEntry[];
  /** Policies that select this identity, as namespace/name (for status and events). */
  selectedBy: string[];
  /** What the L7 proxy judges for this identity's redirected entries. */
  l7: L7Entry[];
}

/** HTTP rules for (direction, port range, peers) of one identity. */
export interface L7Entry {
  direction: 'ingress' | 'egress';
  port: number;
  endPort?: number;
  peers: number[];
  http: HTTPRule[];
}

export const PROTOCOL_NUMBER: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132, ANY: 0 };
