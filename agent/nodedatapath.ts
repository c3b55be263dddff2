// The NodeDatapath object as the agent reads it (spec written by the operator, see
// crds/nodedatapath.yaml) and the status it writes.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Condition } from '../common/conditions.js';
import type { CompactEntry, NodeDatapathSpec } from '../operator/nodedatapath/build.js';

export type { CompactEntry, NodeDatapathSpec };

export interface ResizeGate {
  revision?: number;
  open?: boolean;
  drainTimeoutSeconds?: number;
}


export interface NodeDatapathStatus {
  observedRevision?: number;
  endpoints?: number;
  conditions?: Condition[];
  programs?: Array<{ name: string; id: number; attachments: string[] }>;
  maps?: Array<{ name: string; maxEntries: number; entries: number; pressure: number }>;
  resize?: { revision?: number; phase?: string; message?: string };
}

export type NodeDatapathObject = KubernetesObject & {
  spec?: NodeDatapathSpec & { resizeGate?: ResizeGate };
  status?: NodeDatapathStatus;
};

/** The resolved features block (DatapathConfig spec.features with CRD defaults applied). */
export interface Features {
  prefilter: { enabled: boolean; denyCIDRs: string[]; dropInvalidDestination: boolean };
  endpointPolicy: { enabled: boolean; auditMode: boolean };
  serviceLB: { enabled: boolean; socketLB: boolean; sessionAffinity: boolean; nodePortRange: { min: number; max: number } };
  socketEnforcement: { enabled: boolean };
}

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {});
const bool = (v: unknown, d: boolean): boolean => (typeof v === 'boolean' ? v : d);

/** Reads spec.features defensively: a field the operator left out takes the CRD's default. */
export function readFeatures(raw: Record<string, unknown> | undefined): Features {
  const f = obj(raw);
  const pre = obj(f.prefilter);
  const pol = obj(f.endpointPolicy);
  const lb = obj(f.serviceLB);
  const range = obj(lb.nodePortRange);
  const sock = obj(f.socketEnforcement);
  return {
    prefilter: {
      enabled: bool(pre.enabled, true),
      denyCIDRs: Array.isArray(pre.denyCIDRs) ? pre.denyCIDRs.filter((c): c is string => typeof c === 'string') : [],
      dropInvalidDestination: bool(pre.dropInvalidDestination, false),
    },
    endpointPolicy: { enabled: bool(pol.enabled, true), auditMode: bool(pol.auditMode, false) },
    serviceLB: {
      enabled: bool(lb.enabled, true),
      socketLB: bool(lb.socketLB, true),
      sessionAffinity: bool(lb.sessionAffinity, true),
      nodePortRange: { min: typeof range.min === 'number' ? range.min : 30000, max: typeof range.max === 'number' ? range.max : 32767 },
    },
    socketEnforcement: { enabled: bool(sock.enabled, true) },
  };
}
