// weir_metrics: per-CPU counters by (reason, direction). Declared in bpf/lib/metrics.h.
import { struct, u8, u16, u64 } from './layout.js';
import { MapType, type MapSpec } from './spec.js';

export const Direction = { Ingress: 1, Egress: 2 } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

/** enum metrics_reason. Below 128: not a drop. */
export const Reason = {
  Forwarded: 0,
  RedirectProxy: 1,
  SockmapRedirect: 2,
  ServiceDnat: 3,
  RejectSent: 4,
  /** auditMode: what enforcing would have dropped, passed. */
  AuditPolicyDenied: 5,
  AuditPolicyDefault: 6,
  PolicyDenied: 130,
  PolicyDefaultDeny: 131,
  PrefilterCidr: 132,
  InvalidDestination: 133,
  InvalidSource: 134,
  NoService: 135,
  CtFull: 136,
  Malformed: 137,
  NatFailed: 138,
  Draining: 139,
  NotIpv4: 140,
  WrongEndpoint: 141,
  NoEncryption: 142,
  NoProxy: 143,
  NoTunnel: 144,
  TunnelSource: 145,
  SourceRange: 146,
  /** A flow allowed at L4 that policy now hands to the L7 proxy: it cannot move mid-stream, so it ends. */
  L7Rejudged: 147,
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Label value for a reason code (unknown codes keep their number, so nothing is hidden). */
export function reasonName(code: number): string {
  const hit = Object.entries(Reason).find(([, v]) => v === code);
  return hit ? hit[0].replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase()) : `code_${code}`;
}

export const isDrop = (code: number): boolean => code >= 128;

export const metricsKey = struct('metrics_key', 4, { reason: u8(0), dir: u8(1), reserved: u16(2) });
export const metricsValue = struct('metrics_value', 16, { packets: u64(0), bytes: u64(8) });

export const metricsMap: MapSpec<ReturnType<typeof metricsKey.decode>, ReturnType<typeof metricsValue.decode>> = {
  name: 'weir_metrics',
  header: 'bpf/lib/metrics.h',
  key: metricsKey,
  value: metricsValue,
  type: MapType.PercpuHash,
  size: { fixed: 1024 },
};

export interface MetricsKey {
  reason: number;
  dir: Direction;
}

export interface MetricsValue {
  packets: bigint;
  bytes: bigint;
}

export function encodeMetricsKey(k: MetricsKey): Buffer {
  return metricsKey.encode({ reason: k.reason, dir: k.dir, reserved: 0 });
}

export function decodeMetricsKey(b: Buffer): MetricsKey {
  const k = metricsKey.decode(b);
  return { reason: k.reason, dir: k.dir as Direction };
}
