// `weir plan`: the capacity planner. From a description of a cluster (node types, services,
// policy size) or from the live cluster, the map sizes each node would get, the demand on them
// (LB entries = Σ backends × ports, endpoints, policy, prefilter), and which maps would overflow.
import { readFileSync } from 'node:fs';
import { CoreV1Api, DiscoveryV1Api, type KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { selectConfig } from '../operator/config/select.js';
import { nodeAddresses } from '../common/kube.js';
import { lbDemand, lbFrontendCounts, lbFrontends } from '../operator/sizing/lbdemand.js';
import { CATALOGUE, governed, SIZING_NAMES } from '../common/maps/catalogue.js';
import { isSized } from '../common/maps/spec.js';
import { parseQuantity } from '../operator/sizing/quantity.js';
import { checkDemand, computeMapSizes, lbEntriesNeeded, type Demand, type MapSizingSpec } from '../operator/sizing/sizes.js';
import { table } from './status.js';
import { DatapathConfigResource, NodeDatapathResource, resolveSpec, type DatapathConfig, type NodeDatapath, type Stored } from '../api/v1alpha1/index.js';
import { policyMapContents } from '../agent/desired/policy.js';
import { WeirApi } from '../common/weirapi.js';

/** spec.mapSizing as the CRD takes it: the catalogue's fields and bounds, nothing else. */
const mapSizing = z
  .object({
    dynamicSizeRatio: z.number().gt(0).lte(1).optional(),
    ...Object.fromEntries(SIZING_NAMES.map((n) => [CATALOGUE[n].field, z.number().int().min(CATALOGUE[n].min).max(CATALOGUE[n].max).optional()])),
  })
  .strict();

const description = z.object({
  mapSizing: mapSizing.default({}),
  nodes: z
    .array(z.object({ name: z.string().min(1), memory: z.string().min(1), cpus: z.number().int().positive().default(2), count: z.number().int().positive().default(1), pods: z.number().int().min(0).default(110) }))
    .min(1, 'describe at least one node type'),
  services: z.array(z.object({ name: z.string().default('services'), count: z.number().int().positive().default(1), ports: z.number().int().positive().default(1), backends: z.number().int().min(0) })).default([]),
  policyEntriesPerEndpoint: z.number().int().min(0).default(0),
  prefilterCIDRs: z.number().int().min(0).default(0),
});

export interface PlanRow {
  node: string;
  map: string;
  maxEntries: number;
  source: string;
  demand: number | null;
  current?: number;
  verdict: string;
}

function rowsFor(node: string, spec: MapSizingSpec, memoryBytes: number, cpus: number, demand: Demand, current?: Map<string, number>): PlanRow[] {
  const sizes = computeMapSizes(spec, { memoryBytes, cpus });
  const over = new Map(checkDemand(sizes, demand).map((o) => [o.map, o]));
  return SIZING_NAMES.map((m) => {
    const cur = current?.get(m);
    // The largest demand among the maps this entry sizes (the clamped ones report through `over`).
    const kinds = governed(m).filter(isSized).flatMap((g) => (g.size.holds ? [g.size.holds] : []));
    const need = kinds.length ? Math.max(...kinds.map((k) => demand[k])) : null;
    const verdict = over.get(m)?.message ?? (need !== null && cur !== undefined && need > cur ? `overflows today's ${cur} entries: needs the planned size` : 'ok');
    return { node, map: m, maxEntries: sizes[m].maxEntries, source: sizes[m].source, demand: need, current: cur, verdict };
  });
}

export function planFromDescription(text: string): PlanRow[] {
  const parsed = description.safeParse(parseYaml(text));
  if (!parsed.success) throw new Error(`bad description:\n  ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('\n  ')}`);
  const d = parsed.data;
  const lbEntries = lbEntriesNeeded(d.services.flatMap((s) => Array.from({ length: s.count }, () => ({ ports: s.ports, backends: s.backends }))));
  // One cluster IP per service and port.
  const frontends = d.services.reduce((sum, s) => sum + s.count * s.ports, 0);
  // Every pod and node address of the cluster is in each node's ipcache.
  const ipcacheEntries = d.nodes.reduce((sum, n) => sum + n.count * (n.pods + 1), 0);
  return d.nodes.flatMap((n) =>
    rowsFor(`${n.name}${n.count > 1 ? ` (x${n.count})` : ''}`, d.mapSizing as MapSizingSpec, parseQuantity(n.memory), n.cpus, {
      lbEntries,
      frontends,
      endpoints: n.pods,
      // One trie per node: at most every pod its own identity with its own policy.
      policyEntries: d.policyEntriesPerEndpoint * n.pods,
      ipcacheEntries,
      prefilterEntries: d.prefilterCIDRs,
    }),
  );
}


export async function planFromCluster(kc: KubeConfig): Promise<PlanRow[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const api = new WeirApi(kc);
  const [nodes, services, slices, configs, ndps] = await Promise.all([
    core.listNode(),
    core.listServiceForAllNamespaces(),
    kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces(),
    api.list<Stored<DatapathConfig>>(DatapathConfigResource),
    api.list<NodeDatapath>(NodeDatapathResource),
  ]);
  const lbEntries = lbDemand(services.items, slices.items);
  const frontends = lbFrontendCounts(services.items);
  const pods = await core.listPodForAllNamespaces();
  return nodes.items.flatMap((n) => {
    const name = n.metadata?.name ?? '';
    const sel = selectConfig(n.metadata?.labels ?? {}, configs.items);
    const spec = 'config' in sel && sel.config ? sel.config.spec : undefined;
    const ndp = ndps.items.find((x) => x.metadata?.name === name);
    const current = new Map((ndp?.spec?.maps ?? []).map((m) => [m.name, m.maxEntries]));
    return rowsFor(name, spec?.mapSizing ?? {}, parseQuantity(n.status?.capacity?.memory ?? '0'), Number(n.status?.capacity?.cpu ?? 1), {
      lbEntries,
      frontends: lbFrontends(frontends, nodeAddresses(n).length),
      endpoints: pods.items.filter((p) => p.spec?.nodeName === name && !p.spec.hostNetwork).length,
      // The trie as the node's agent holds it: the compiled policy its NodeDatapath carries (none
      // written yet: nothing known).
      policyEntries: ndp?.spec ? policyMapContents(resolveSpec(ndp.spec)).length : 0,
      ipcacheEntries: pods.items.filter((p) => !p.spec?.hostNetwork && p.status?.podIP).length + nodes.items.length,
      prefilterEntries: spec?.features?.prefilter?.denyCIDRs?.length ?? 0,
    }, current);
  });
}

export function formatPlan(rows: readonly PlanRow[]): string {
  const withCurrent = rows.some((r) => r.current !== undefined);
  return table([
    ['NODE', 'MAP', 'PLANNED', 'FROM', 'DEMAND', ...(withCurrent ? ['CURRENT'] : []), 'VERDICT'],
    ...rows.map((r) => [r.node, r.map, String(r.maxEntries), r.source, r.demand === null ? '-' : String(r.demand), ...(withCurrent ? [r.current === undefined ? '-' : String(r.current)] : []), r.verdict]),
  ]);
}

export const readDescription = (path: string): string => readFileSync(path, 'utf8');
