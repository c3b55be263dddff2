// Reading the datapath's counters (weir_metrics, common/maps/metrics.ts) from the kernel: one
// per-CPU slot per possible CPU, summed.
import { perCpuValues, type BpfMap } from 'libbpfjs';
import { encodeMetricsKey, decodeMetricsKey, metricsValue, type Direction, type MetricsKey, type MetricsValue } from '../../common/maps/metrics.js';

/** Sums the per-CPU slots of one lookup. */
export function decodeMetricsValue(raw: Buffer): MetricsValue {
  let packets = 0n;
  let bytes = 0n;
  for (const slot of perCpuValues(raw, metricsValue.size)) {
    const v = metricsValue.decode(slot);
    packets += v.packets;
    bytes += v.bytes;
  }
  return { packets, bytes };
}

/** Every counter in the map, summed over CPUs. */
export function readMetrics(map: BpfMap): Array<MetricsKey & MetricsValue> {
  const out: Array<MetricsKey & MetricsValue> = [];
  for (const { key, value } of map.entries()) out.push({ ...decodeMetricsKey(key), ...decodeMetricsValue(value) });
  return out;
}

/** One counter summed over CPUs (zero when never hit). */
export function readCounter(map: BpfMap, reason: number, dir: Direction): MetricsValue {
  const raw = map.lookup(encodeMetricsKey({ reason, dir }));
  return raw ? decodeMetricsValue(raw) : { packets: 0n, bytes: 0n };
}
