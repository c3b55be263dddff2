// Every BPF map of the datapath, as the agent sizes, syncs and reports them.
import { configMap } from './config.js';
import { ct4AnyMap, ct4TcpMap } from './conntrack.js';
import { endpointIfsMap, endpointsMap } from './endpoints.js';
import { frag4Map } from './frag.js';
import { ipcacheMap } from './ipcache.js';
import { lb4AffinityMap, lb4BackendsMap, lb4ReverseNatMap, lb4ServicesMap, lb4SockRevNatMap, lb4SourceRangesMap } from './lb.js';
import { metricsMap } from './metrics.js';
import { nat4Map } from './nat.js';
import { policyMap } from './policy.js';
import { prefilterMap } from './prefilter.js';
import { sockMap } from './sockmap.js';
import type { MapSpec } from './spec.js';

export const ALL_MAPS: ReadonlyArray<MapSpec<unknown, unknown>> = [
  configMap,
  metricsMap,
  ipcacheMap,
  endpointsMap,
  endpointIfsMap,
  policyMap,
  ct4TcpMap,
  ct4AnyMap,
  lb4ServicesMap,
  lb4BackendsMap,
  lb4ReverseNatMap,
  lb4AffinityMap,
  lb4SockRevNatMap,
  lb4SourceRangesMap,
  nat4Map,
  prefilterMap,
  sockMap,
  frag4Map,
];

export function mapSpec(name: string): MapSpec<unknown, unknown> {
  const spec = ALL_MAPS.find((m) => m.name === name);
  if (!spec) throw new Error(`unknown datapath map ${name}`);
  return spec;
}
