import { perCpuValues, type BpfMap } from 'libbpfjs';

/** weir_metrics: per-CPU counters by (reason, direction). Declared in bpf/lib/metrics.h. */
export const metricsMap = {
  name: 'weir_metrics',
  defaultMaxEntries: 1024,
  keySize: 4,
  valueSize: 16,
} as const;

export const Direction = { Ingress: 1, Egress: 2 } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export const Reason = { Forwarded: 0 } as const;

/** Mirrors `struct metrics_key { __u8 reason; __u8 dir; __u16 reserved; }`. */
export interface MetricsKey {
  reason: number;
  dir: Direction;
}

/** Mirrors `struct metrics_value { __u64 packets; __u64 bytes; }`, summed over CPUs. */
export interface MetricsValue {
  packets: bigint;
  bytes: bigint;
}

export function encodeMetricsKey(k: MetricsKey): Buffer {
  const b = Buffer.alloc(metricsMap.keySize);
  b.writeUInt8(k.reason, 0);
  b.writeUInt8(k.dir, 1);
  return b;
}

export function decodeMetricsKey(b: Buffer): MetricsKey {
  return { reason: b.readUInt8(0), dir: b.readUInt8(1) as Direction };
}

/** Sums the per-CPU slots of one lookup. */
export function decodeMetricsValue(raw: Buffer): MetricsValue {
  let packets = 0n;
  let bytes = 0n;
  for (const slot of perCpuValues(raw, metricsMap.valueSize)) {
    packets += slot.readBigUInt64LE(0);
    bytes += slot.readBigUInt64LE(8);
  }
  return { packets, bytes };
}

/** Every counter in the map, summed over CPUs. */
export function readMetrics(map: BpfMap): Array<MetricsKey & MetricsValue> {
  const out: Array<MetricsKey & MetricsValue> = [];
  for (const { key, value } of map.entries()) out.push({ ...decodeMetricsKey(key), ...decodeMetricsValue(value) });
  return out;
}
