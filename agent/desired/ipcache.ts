// The ipcache: every address the node may see, with its security identity. Local endpoints take
// the identity NodeDatapath gives them; other pods are resolved through the operator's Identity
// objects by their security labels (what the operator allocated them from); nodes are host or
// remote-node; CIDR identities come from the node's compiled policy.
import type { V1Namespace, V1Node, V1Pod } from '@kubernetes/client-node';
import { identityKey, securityLabels } from '../../api/v1alpha1/identity.js';
import { ReservedIdentity } from '../../api/v1alpha1/identity.js';
import { cidrKey, IpcacheFlags, type IpcacheEntry, type LpmIpKey } from '../../common/maps/ipcache.js';
import { nodeAddresses } from '../../common/kube.js';
import { parseIp4 } from '../../common/maps/layout.js';
import type { ResolvedNodeDatapathSpec as NodeDatapathSpec } from '../../api/v1alpha1/index.js';

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export interface IdentityRecord {
  metadata?: { name?: string };
  spec?: { namespace: string; labels: Record<string, string> };
}

export interface IpcacheInput {
  nodeName: string;
  spec: Pick<NodeDatapathSpec, 'endpoints' | 'cidrIdentities'>;
  pods: readonly V1Pod[];
  namespaces: readonly V1Namespace[];
  identities: readonly IdentityRecord[];
  nodes: readonly V1Node[];
  /** Addresses on this node's own interfaces beyond its Node object's: the host identity too. */
  hostAddresses?: readonly string[];
  /** Local pods not named by NodeDatapath yet (agent/cni): the init identity. */
  initAddresses?: readonly string[];
  /**
   * Other nodes' pod CIDRs with their node (encryption): a pod there without an identity yet is
   * still known to live on another node.
   */
  remotePodCidrs?: boolean;
}

const inCidr = (addr: number, base: number, prefix: number) => prefix === 0 || ((addr ^ base) >>> (32 - prefix)) === 0;

/** Entries for every address; a CIDR identity this datapath cannot hold is left out and said in `problems`. */
export function ipcacheEntries(input: IpcacheInput, problems: string[] = []): Array<{ key: LpmIpKey; value: IpcacheEntry }> {
  const byAddr = new Map<string, IpcacheEntry>();
  const put = (addr: string, e: IpcacheEntry, prefix = 32) => byAddr.set(`${addr}/${prefix}`, e);

  for (const c of input.spec.cidrIdentities) {
    const [addr = '', prefix = '32'] = c.cidr.split('/');
    if (!IPV4.test(addr) || !/^\d{1,2}$/.test(prefix) || Number(prefix) > 32) {
      problems.push(`CIDR identity ${c.identity} for ${c.cidr} left out: not an IPv4 CIDR`);
      continue;
    }
    put(addr, { identity: c.identity, tunnelIp4: 0, flags: 0 }, Number(prefix));
  }

  const idByLabels = new Map<string, number>();
  for (const i of input.identities) if (i.spec && i.metadata?.name) idByLabels.set(identityKey(i.spec.labels), Number(i.metadata.name));
  const nsLabels = new Map(input.namespaces.map((n) => [n.metadata?.name ?? '', n.metadata?.labels]));
  const nodeIp = new Map(input.nodes.map((n) => [n.metadata?.name ?? '', nodeAddresses(n)[0]]));

  for (const p of input.pods) {
    if (p.spec?.hostNetwork || p.spec?.nodeName === input.nodeName) continue;
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    const ns = p.metadata?.namespace ?? '';
    const id = idByLabels.get(identityKey(securityLabels(p.metadata?.labels, ns, nsLabels.get(ns))));
    // Not allocated yet: it stays "world" until the operator's Identity appears (then resynced).
    if (id === undefined) continue;
    const tunnel = nodeIp.get(p.spec?.nodeName ?? '');
    for (const a of (p.status?.podIPs ?? []).map((x) => x.ip))
      if (IPV4.test(a)) put(a, { identity: id, tunnelIp4: tunnel ? parseIp4(tunnel) : 0, flags: 0 });
  }
  if (input.remotePodCidrs)
    for (const n of input.nodes) {
      const node = nodeAddresses(n)[0];
      if (n.metadata?.name === input.nodeName || !node) continue;
      for (const cidr of n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])) {
        const [addr = '', prefix = ''] = cidr.split('/');
        if (!IPV4.test(addr) || !/^\d{1,2}$/.test(prefix)) continue;
        // Keeps what the lookup gave before: the longest CIDR identity covering the whole pod
        // CIDR (narrower ones still win inside it), else world.
        const base = parseIp4(addr);
        const covering = input.spec.cidrIdentities
          .filter((c) => IPV4.test(c.cidr.split('/')[0] ?? ''))
          .map((c) => ({ identity: c.identity, base: parseIp4(c.cidr.split('/')[0] ?? ''), prefix: Number(c.cidr.split('/')[1] ?? 32) }))
          .filter((c) => c.prefix <= Number(prefix) && inCidr(base, c.base, c.prefix))
          .sort((a, b) => b.prefix - a.prefix)[0];
        if (!byAddr.has(`${addr}/${prefix}`)) put(addr, { identity: covering?.identity ?? ReservedIdentity.World, tunnelIp4: parseIp4(node), flags: 0 }, Number(prefix));
      }
    }
  for (const n of input.nodes) {
    const own = n.metadata?.name === input.nodeName;
    for (const a of nodeAddresses(n)) put(a, { identity: own ? ReservedIdentity.Host : ReservedIdentity.RemoteNode, tunnelIp4: 0, flags: IpcacheFlags.Node });
  }
  for (const a of input.hostAddresses ?? []) if (IPV4.test(a)) put(a, { identity: ReservedIdentity.Host, tunnelIp4: 0, flags: IpcacheFlags.Node });
  for (const a of input.initAddresses ?? []) if (IPV4.test(a)) put(a, { identity: ReservedIdentity.Init, tunnelIp4: 0, flags: IpcacheFlags.Local });
  // Local endpoints last: NodeDatapath is authoritative for this node's pods.
  for (const e of input.spec.endpoints) for (const a of e.ips) if (IPV4.test(a)) put(a, { identity: e.identity, tunnelIp4: 0, flags: IpcacheFlags.Local });

  return [...byAddr].map(([cidr, value]) => ({ key: cidrKey(cidr), value }));
}
