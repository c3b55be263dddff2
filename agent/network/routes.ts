// How this node reaches other nodes' pods: one route per peer pod CIDR, owned by Weir (its own
// route protocol number, so nothing else's route is ever touched). With no overlay, natively:
// through the peer itself when it is on this node's link, else through the gateway the node uses
// to reach the peer (the underlay must then route pod CIDRs, as any native-routing CNI needs).
// With VXLAN: into the overlay device, where tc_to_overlay picks the peer per packet.
import type { V1Node } from '@kubernetes/client-node';
import { nodeAddresses } from '../../common/kube.js';

/** Routes Weir installs carry this protocol number (`ip route ... proto 201`). */
export const WEIR_ROUTE_PROTO = 201;
/**
 * VXLAN mode: what this node's pods send to other nodes' own addresses goes through the tunnel
 * too (the underlay never sees a pod address), by a rule on the source (this node's pod CIDRs) into
 * this table of peer node addresses.
 */
export const OVERLAY_TABLE = 2006;
export const OVERLAY_RULE_PREF = 95;

export interface Peer {
  name: string;
  /** The address other nodes reach it at (its first InternalIP). */
  address: string;
  podCidrs: string[];
}

/** A node's IPv4 pod CIDRs (spec.podCIDRs, or the older spec.podCIDR). */
export function ownPodCidrs(n: V1Node | undefined): string[] {
  return [...new Set([...(n?.spec?.podCIDRs ?? []), ...(n?.spec?.podCIDR ? [n.spec.podCIDR] : [])])].filter((c) => !c.includes(':'));
}

/**
 * Every other node with an address and an IPv4 pod CIDR. Those without are said in `problems`
 * (their pods cannot be reached from here until the node gets them), in one line: a node joining
 * before its pod CIDR is allocated is normal for a moment, a cluster without pod CIDRs is not.
 */
export function peersOf(nodes: readonly V1Node[], self: string, problems: string[] = []): Peer[] {
  const out: Peer[] = [];
  const noCidr: string[] = [];
  const noAddress: string[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    if (!name || name === self) continue;
    const address = nodeAddresses(n)[0];
    const podCidrs = ownPodCidrs(n);
    if (!podCidrs.length) noCidr.push(name);
    else if (!address) noAddress.push(name);
    else out.push({ name, address, podCidrs });
  }
  const few = (names: string[]) => `${names.sort().slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}`;
  if (noCidr.length) problems.push(`${noCidr.length} node(s) without an IPv4 spec.podCIDR(s) (${few(noCidr)}): no route to their pods from here (allocate pod CIDRs: kube-controller-manager --allocate-node-cidrs)`);
  if (noAddress.length) problems.push(`${noAddress.length} node(s) without an address in status (${few(noAddress)}): no route to their pods from here`);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export interface Route {
  dst: string;
  /** Absent: the main table. */
  table?: number;
  /** Next hop; none for a device route (the overlay). */
  via?: string;
  dev: string;
  /** Preferred source for what the node itself sends on it. */
  src?: string;
}

/** How the node reaches an address today: its own route's gateway, or on-link. */
export interface NextHop {
  gateway?: string;
  dev: string;
}

export type OverlayMode = 'none' | 'vxlan';

/** The routes this node should hold for `peers`; `nextHop` is the node's route to a peer's address. */
export function plannedRoutes(mode: OverlayMode, peers: readonly Peer[], nextHop: (address: string) => NextHop | undefined, overlayDevice: string, nodeAddress?: string): { routes: Route[]; problems: string[] } {
  const routes: Route[] = [];
  const problems: string[] = [];
  for (const p of peers) {
    if (mode === 'vxlan') {
      for (const dst of p.podCidrs) routes.push({ dst, dev: overlayDevice, ...(nodeAddress ? { src: nodeAddress } : {}) });
      routes.push({ dst: `${p.address}/32`, dev: overlayDevice, table: OVERLAY_TABLE });
      continue;
    }
    const hop = nextHop(p.address);
    if (!hop) {
      problems.push(`no route to node ${p.name} (${p.address}): its pods are unreachable natively`);
      continue;
    }
    for (const dst of p.podCidrs) routes.push({ dst, via: hop.gateway ?? p.address, dev: hop.dev });
  }
  return { routes, problems };
}

export const sameRoute = (a: Route, b: Route): boolean => a.dst === b.dst && a.table === b.table && a.via === b.via && a.dev === b.dev && (a.src ?? '') === (b.src ?? '');

const routeKey = (r: Route): string => `${r.table ?? 'main'} ${r.dst}`;

/** `ip -j route show [table N] proto 201` output, as routes. */
export function parseRoutes(json: string, table?: number): Route[] {
  const list = JSON.parse(json || '[]') as Array<{ dst: string; gateway?: string; dev: string; prefsrc?: string }>;
  return list.map((r) => ({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, dev: r.dev, ...(table !== undefined ? { table } : {}), ...(r.gateway ? { via: r.gateway } : {}), ...(r.prefsrc ? { src: r.prefsrc } : {}) }));
}

/** What to change: routes to replace (new or different), and Weir's routes no longer wanted. */
export function routeChanges(have: readonly Route[], want: readonly Route[]): { replace: Route[]; remove: Route[] } {
  const wanted = new Set(want.map(routeKey));
  return {
    replace: want.filter((w) => !have.some((h) => sameRoute(h, w))),
    remove: have.filter((h) => !wanted.has(routeKey(h))),
  };
}
