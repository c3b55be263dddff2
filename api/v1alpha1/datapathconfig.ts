// DatapathConfig (cluster-scoped, crds/datapathconfig.yaml): the user's description of the
// datapath: features, map sizing and the resize rollout. A config without nodeSelector applies
// to every node; one with a nodeSelector overrides it on the nodes it selects.
import type { Condition, WeirObject } from './meta.js';

export interface PrefilterFeature {
  enabled?: boolean;
  denyCIDRs?: string[];
  dropInvalidDestination?: boolean;
}

export interface EndpointPolicyFeature {
  enabled?: boolean;
  defaultDeny?: boolean;
  /** Would-be policy drops pass and are counted with their reason (weir_audit_* metrics). */
  auditMode?: boolean;
  allowFromHost?: boolean;
}

/**
 * replace: Weir serves every Service (kube-proxy should be gone; a node that finds its rules says
 * so). coexist: kube-proxy owns packet-level NodePort and external addresses, Weir translates
 * ClusterIP at connect(). off: Weir handles no Service.
 */
export type ServiceLBMode = 'replace' | 'coexist' | 'off';
export const SERVICE_LB_MODES: readonly ServiceLBMode[] = ['replace', 'coexist', 'off'];

export interface ServiceLBFeature {
  /** false is mode off (the field predates mode). */
  enabled?: boolean;
  mode?: ServiceLBMode;
  socketLB?: boolean;
  /** NodePort services are served on these ports only; a Service outside it is refused. */
  nodePortRange?: { min: number; max: number };
  sessionAffinity?: boolean;
}

export type EncryptionMode = 'ipsec' | 'wireguard';

export interface EncryptionFeature {
  enabled?: boolean;
  mode?: EncryptionMode;
  /**
   * Pod traffic to other nodes that a node cannot encrypt is dropped and counted (true), or sent
   * in clear (false) with the node saying so in status.
   */
  strictMode?: boolean;
  /** IPsec: the Secret holding the key, data `keys`: "<id 1-15> rfc4106(gcm(aes)) <key> 128". */
  secretRef?: { name?: string; namespace?: string };
}

export interface Features {
  prefilter?: PrefilterFeature;
  endpointPolicy?: EndpointPolicyFeature;
  serviceLB?: ServiceLBFeature;
  socketEnforcement?: { enabled?: boolean };
  encryption?: EncryptionFeature;
  l7Proxy?: { enabled?: boolean; port?: number };
  overlay?: { mode?: 'none' | 'vxlan'; vxlanPort?: number };
  /**
   * Where a node lacks a socket hook the service datapath needs (cgroup connect4/sendmsg4), serve
   * Services through nftables instead (docs/services.md), saying what is degraded.
   */
  iptablesFallback?: { enabled?: boolean };
  /** Pod traffic leaving the cluster takes the node's address (pod CIDRs not routed outside). */
  masquerade?: { enabled?: boolean; nonMasqueradeCIDRs?: string[] };
}

/** One field per sizing entry of the map catalogue (common/maps/catalogue.ts). */
export interface MapSizingSpec {
  dynamicSizeRatio?: number;
  ctTCPMax?: number;
  ctAnyMax?: number;
  natMax?: number;
  endpointMax?: number;
  policyMax?: number;
  lbMax?: number;
  prefilterMax?: number;
  ipcacheMax?: number;
  fragMax?: number;
}

export interface RolloutSpec {
  /** Nodes resizing at once: a count or a percentage of the config's nodes. */
  maxUnavailable?: number | string;
  drainTimeoutSeconds?: number;
  nodeTimeoutSeconds?: number;
}

export interface DatapathConfigSpec {
  nodeSelector?: Record<string, string>;
  priority?: number;
  features?: Features;
  mapSizing?: MapSizingSpec;
  rollout?: RolloutSpec;
}

export type RolloutPhase = 'Idle' | 'Progressing' | 'Paused' | 'Complete';

export interface RolloutStatus {
  targetRevision?: number;
  phase?: RolloutPhase;
  nodesUpdated?: number;
  nodesPending?: number;
  nodesFailed?: Array<{ node?: string; reason?: string }>;
  inProgress?: string[];
}

export interface DatapathConfigStatus {
  observedGeneration?: number;
  /** Ready, MapCapacity, Programmed, RolloutPaused, FeaturesInEffect. */
  conditions?: Condition[];
  nodes?: number;
  nodesProgrammed?: number;
  rollout?: RolloutStatus;
}

export type DatapathConfig = WeirObject<DatapathConfigSpec, DatapathConfigStatus>;

/** Every feature with the CRD's defaults applied: what a node runs. */
export interface ResolvedFeatures {
  prefilter: Required<PrefilterFeature>;
  endpointPolicy: Required<EndpointPolicyFeature>;
  /** enabled: mode is not off. */
  serviceLB: Required<ServiceLBFeature>;
  socketEnforcement: { enabled: boolean };
  encryption: { enabled: boolean; mode: EncryptionMode; strictMode: boolean; secretRef: { name: string; namespace: string } };
  l7Proxy: { enabled: boolean; port: number };
  overlay: { mode: 'none' | 'vxlan'; vxlanPort: number };
  iptablesFallback: { enabled: boolean };
  masquerade: { enabled: boolean; nonMasqueradeCIDRs: string[] };
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});
const bool = (v: unknown, d: boolean): boolean => (typeof v === 'boolean' ? v : d);
const str = (v: unknown, d: string): string => (typeof v === 'string' && v !== '' ? v : d);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((c): c is string => typeof c === 'string') : []);
const int = (v: unknown, d: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : d);

/** The CRD's default for encryption.secretRef (the chart sets the release namespace). */
export const DEFAULT_IPSEC_SECRET = { name: 'weir-ipsec-keys', namespace: 'kube-system' } as const;

/**
 * Reads a features block defensively, each absent field taking the CRD's default (the API server
 * applies them on write; this covers objects written before a field existed).
 */
export function resolveFeatures(raw: unknown): ResolvedFeatures {
  const f = obj(raw);
  const pre = obj(f.prefilter);
  const pol = obj(f.endpointPolicy);
  const lb = obj(f.serviceLB);
  const range = obj(lb.nodePortRange);
  const lbMode: ServiceLBMode = lb.enabled === false ? 'off' : SERVICE_LB_MODES.find((m) => m === lb.mode) ?? 'replace';
  const enc = obj(f.encryption);
  const l7 = obj(f.l7Proxy);
  const overlay = obj(f.overlay);
  return {
    prefilter: {
      enabled: bool(pre.enabled, true),
      denyCIDRs: Array.isArray(pre.denyCIDRs) ? pre.denyCIDRs.filter((c): c is string => typeof c === 'string') : [],
      dropInvalidDestination: bool(pre.dropInvalidDestination, false),
    },
    endpointPolicy: {
      enabled: bool(pol.enabled, true),
      defaultDeny: bool(pol.defaultDeny, false),
      auditMode: bool(pol.auditMode, false),
      allowFromHost: bool(pol.allowFromHost, true),
    },
    serviceLB: {
      enabled: lbMode !== 'off',
      mode: lbMode,
      socketLB: bool(lb.socketLB, true),
      sessionAffinity: bool(lb.sessionAffinity, true),
      nodePortRange: { min: int(range.min, 30000), max: int(range.max, 32767) },
    },
    socketEnforcement: { enabled: bool(obj(f.socketEnforcement).enabled, true) },
    encryption: {
      enabled: bool(enc.enabled, false),
      mode: enc.mode === 'wireguard' ? 'wireguard' : 'ipsec',
      strictMode: bool(enc.strictMode, true),
      secretRef: { name: str(obj(enc.secretRef).name, DEFAULT_IPSEC_SECRET.name), namespace: str(obj(enc.secretRef).namespace, DEFAULT_IPSEC_SECRET.namespace) },
    },
    l7Proxy: { enabled: bool(l7.enabled, false), port: int(l7.port, 15001) },
    overlay: { mode: overlay.mode === 'vxlan' ? 'vxlan' : 'none', vxlanPort: int(overlay.vxlanPort, 8472) },
    iptablesFallback: { enabled: bool(obj(f.iptablesFallback).enabled, false) },
    masquerade: {
      enabled: bool(obj(f.masquerade).enabled, false),
      nonMasqueradeCIDRs: strings(obj(f.masquerade).nonMasqueradeCIDRs).filter((c) => !c.includes(':')),
    },
  };
}

/**
 * Features a config turns on that cannot take effect as written: accepted by the API (they are
 * valid alone) and named in the config's FeaturesInEffect condition.
 */
export function featuresNotInEffect(f: ResolvedFeatures): string[] {
  const out: string[] = [];
  if (f.iptablesFallback.enabled && !f.serviceLB.enabled) out.push('iptablesFallback has nothing to fall back for: serviceLB.mode is off');
  return out;
}
