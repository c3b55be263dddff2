// `weir status`: the cluster's datapath at a glance, from the API (any cluster, not only the
// sandbox): the governing configs and their rollout, and per node the programmed revision,
// attachments, how it reaches other nodes, who serves its Services, and the fill of its maps.
import type { KubeConfig } from '@kubernetes/client-node';
import { DatapathConfigResource, NodeDatapathResource, type DatapathConfig, type NodeDatapath } from '../api/v1alpha1/index.js';
import { WeirApi } from '../common/weirapi.js';

export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

const pct = (p: number): string => `${(p * 100).toFixed(p < 0.01 && p > 0 ? 2 : 1)}%`;
const short = (m: string): string => m.replace(/^weir_/, '');

/** What a node's encryption does: off, the mode (with the IPsec key it sends with), or that it cannot. */
function encryption(n: NodeDatapath): string {
  const e = n.status?.encryption;
  if (!n.spec?.encryption) return 'off';
  if (!e) return `${n.spec.encryption.mode} (not reported)`;
  if (!e.active) return `${e.mode}: CANNOT${n.spec.encryption.strict ? ' (dropping)' : ' (in clear)'}`;
  return e.mode === 'ipsec' ? `ipsec key ${e.sendingKey ?? '-'}` : `wireguard, ${e.peers ?? 0} peer(s)`;
}

/** How a node reaches other nodes' pods: the mode in effect, and the one it is moving to. */
function overlay(n: NodeDatapath): string {
  const want = n.spec?.features?.overlay?.mode ?? 'none';
  const have = n.status?.overlay;
  if (!have) return `${want} (not reported)`;
  const mode = have.mode === 'vxlan' ? `vxlan, mtu ${have.podMTU ?? '-'}` : 'native';
  return have.mode === want ? mode : `${mode} -> ${want}`;
}

/** Who serves Services on a node: the mode, the datapath in effect, kube-proxy beside it, what is degraded. */
export function services(n: NodeDatapath): string {
  const s = n.status?.services;
  if (!s) return 'not reported';
  if (s.mode === 'off') return s.kubeProxy?.length ? 'off (kube-proxy)' : 'off';
  const extra = [...(s.kubeProxy?.length ? ['kube-proxy present'] : []), ...(s.degraded?.length ? [`${s.degraded.length} degraded`] : [])];
  return `${s.mode}, ${s.datapath}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

export async function statusReport(kc: KubeConfig): Promise<string> {
  const api = new WeirApi(kc);
  const [configs, nodes] = await Promise.all([api.list<DatapathConfig>(DatapathConfigResource), api.list<NodeDatapath>(NodeDatapathResource)]).then(([c, n]) => [c.items, n.items] as const);
  const out: string[] = [];
  out.push(
    table([
      ['CONFIG', 'READY', 'NODES', 'PROGRAMMED', 'ROLLOUT'],
      ...configs.map((c) => [
        c.metadata?.name ?? '',
        c.status?.conditions?.find((x) => x.type === 'Ready')?.status ?? 'Unknown',
        String(c.status?.nodes ?? 0),
        String(c.status?.nodesProgrammed ?? 0),
        c.status?.rollout?.phase ?? 'Idle',
      ]),
    ]),
  );
  out.push('');
  out.push(
    table([
      ['NODE', 'REVISION', 'READY', 'ENDPOINTS', 'PROGRAMS', 'ATTACHMENTS', 'BETWEEN NODES', 'SERVICES', 'ENCRYPTION', 'FULLEST MAPS'],
      ...nodes
        .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
        .map((n) => {
          const s = n.status;
          const ready = s?.conditions?.find((c) => c.type === 'Ready');
          const maps = [...(s?.maps ?? [])].sort((a, b) => b.pressure - a.pressure).slice(0, 3);
          return [
            n.metadata?.name ?? '',
            `${s?.observedRevision ?? '-'}/${n.spec?.revision ?? '-'}`,
            ready ? (ready.status === 'True' ? 'True' : `False (${ready.reason})`) : 'Unknown',
            `${s?.endpoints ?? 0}/${n.spec?.endpoints?.length ?? 0}`,
            String(s?.programs?.length ?? 0),
            String(s?.programs?.reduce((a, p) => a + p.attachments.length, 0) ?? 0),
            overlay(n),
            services(n),
            encryption(n),
            maps.map((m) => `${short(m.name)} ${m.entries}/${m.maxEntries} (${pct(m.pressure)})`).join(', ') || '-',
          ];
        }),
    ]),
  );
  return out.join('\n');
}
