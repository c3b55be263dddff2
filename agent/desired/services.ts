// Service frontends and their backends from Services and EndpointSlices (read from the API as
// kube-proxy reads them), and the LB map entries they become.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { LB_SOURCE_RANGE_PREFIX_HDR, ServiceFlags, type Lb4Backend, type Lb4Key, type Lb4Service } from '../../common/maps/lb.js';
import { formatIp4, parseIp4 } from '../../common/maps/layout.js';
import type { IdAllocator } from './ids.js';

const PROTO: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };
const DEFAULT_AFFINITY_TIMEOUT_S = 10800;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV4_CIDR = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;

export interface Frontend {
  /** namespace/name of the Service, for logs. */
  service: string;
  address: string;
  port: number;
  proto: number;
  flags: number;
  affinityTimeoutS: number;
  backends: Array<{ address: string; port: number }>;
  /** loadBalancerSourceRanges (IPv4), on the load-balancer address frontends that have them. */
  sourceRanges?: string[];
}

export interface FrontendOptions {
  /** This node's addresses: NodePort frontends are (address, nodePort) for each. */
  nodeAddresses: readonly string[];
  /** This node's name: traffic policy Local keeps the endpoints the slices place on it. */
  nodeName?: string;
  sessionAffinity: boolean;
  /** DatapathConfig serviceLB.nodePortRange: node ports outside it are not served. */
  nodePortRange?: { min: number; max: number };
  /** coexist: ClusterIP frontends only, kube-proxy owns node ports and external addresses. */
  mode?: 'replace' | 'coexist';
  /**
   * Every node's addresses and the VXLAN port: no Service may lead there. A NodePort's SNAT gives a
   * translated datagram a node's address as its source, which is what the tunnel trusts, so an
   * outside client could hand the tunnel a packet with any identity in its VNI.
   */
  tunnel?: { addresses: ReadonlySet<string>; port: number };
}

interface SliceEndpoint {
  address: string;
  port: number;
  proto: number;
  node: string | undefined;
  ready: boolean;
  /** Serving while terminating: used only when no endpoint is ready (graceful drain). */
  draining: boolean;
}

/** Endpoints per service port name, from the service's EndpointSlices (IPv4 only). */
function endpointsByPort(slices: readonly V1EndpointSlice[]): Map<string, Map<string, SliceEndpoint[]>> {
  const out = new Map<string, Map<string, SliceEndpoint[]>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc || s.addressType !== 'IPv4') continue;
    const key = `${s.metadata?.namespace}/${svc}`;
    const byPort = out.get(key) ?? new Map<string, SliceEndpoint[]>();
    out.set(key, byPort);
    for (const p of s.ports ?? []) {
      if (p.port === undefined) continue;
      const list = byPort.get(p.name ?? '') ?? [];
      byPort.set(p.name ?? '', list);
      for (const ep of s.endpoints ?? []) {
        // The API's reading of absent conditions: ready unless said otherwise, serving as ready.
        const c = ep.conditions ?? {};
        const ready = c.ready !== false;
        const draining = !ready && c.terminating === true && (c.serving ?? ready);
        if (!ready && !draining) continue;
        for (const a of ep.addresses) if (IPV4.test(a)) list.push({ address: a, port: p.port, proto: PROTO[p.protocol ?? 'TCP'] ?? 6, node: ep.nodeName, ready, draining });
      }
    }
  }
  return out;
}

/**
 * The endpoints a frontend balances over, as kube-proxy chooses them: the ready ones (on this
 * node only, for traffic policy Local), else the terminating ones still serving.
 */
function chooseEndpoints(all: readonly SliceEndpoint[], localTo: string | undefined): SliceEndpoint[] {
  const pool = localTo === undefined ? all : all.filter((e) => e.node === localTo);
  const ready = pool.filter((e) => e.ready);
  return ready.length > 0 ? ready : pool.filter((e) => e.draining);
}

export function serviceFrontends(services: readonly V1Service[], slices: readonly V1EndpointSlice[], opts: FrontendOptions, problems: string[] = []): Frontend[] {
  const endpoints = endpointsByPort(slices);
  const out: Frontend[] = [];
  const packetLevel = opts.mode !== 'coexist';
  for (const svc of services) {
    const spec = svc.spec;
    if (!spec || spec.type === 'ExternalName' || spec.clusterIP === 'None' || !spec.ports?.length) continue;
    const name = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const affinity = opts.sessionAffinity && spec.sessionAffinity === 'ClientIP';
    const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_S;
    const base = affinity ? ServiceFlags.Affinity : 0;
    const clusterIps = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((a) => IPV4.test(a));
    const externalIps = packetLevel ? (spec.externalIPs ?? []).filter((a) => IPV4.test(a)) : [];
    const lbIps = packetLevel && spec.type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((a) => IPV4.test(a)) : [];
    // As kube-proxy: the ranges guard the load balancer's addresses (its node ports stay open).
    const ranges = (spec.loadBalancerSourceRanges ?? []).map((r) => r.trim()).filter((r) => IPV4_CIDR.test(r));
    const internalLocal = spec.internalTrafficPolicy === 'Local' ? opts.nodeName ?? '' : undefined;
    const externalLocal = spec.externalTrafficPolicy === 'Local' ? opts.nodeName ?? '' : undefined;
    for (const p of spec.ports) {
      const proto = PROTO[p.protocol ?? 'TCP'] ?? 6;
      const tunnel = opts.tunnel;
      const toTunnel = (b: SliceEndpoint) => !!tunnel && b.proto === 17 && b.port === tunnel.port && tunnel.addresses.has(b.address);
      const all = (endpoints.get(name)?.get(p.name ?? '') ?? []).filter((b) => b.proto === proto);
      const eps = all.filter((b) => !toTunnel(b));
      for (const b of all.filter(toTunnel)) problems.push(`service ${name} endpoint ${b.address}:${b.port}/UDP is a node's VXLAN port: left out (the tunnel would take a translated datagram as another node's)`);
      const backendsOf = (localTo: string | undefined) =>
        chooseEndpoints(eps, localTo)
          .map(({ address, port }) => ({ address, port }))
          .sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port);
      const fe = (address: string, port: number, flags: number, localTo: string | undefined): Frontend => ({
        service: name, address, port, proto, flags: flags | base | (localTo !== undefined ? ServiceFlags.LocalOnly : 0), affinityTimeoutS: affinity ? timeout : 0, backends: backendsOf(localTo),
      });
      for (const a of clusterIps) out.push(fe(a, p.port, ServiceFlags.ClusterIp, internalLocal));
      for (const a of externalIps) out.push(fe(a, p.port, ServiceFlags.External, externalLocal));
      for (const a of lbIps) out.push(ranges.length ? { ...fe(a, p.port, ServiceFlags.External | ServiceFlags.SourceRanges, externalLocal), sourceRanges: ranges } : fe(a, p.port, ServiceFlags.External, externalLocal));
      if (packetLevel && (spec.type === 'NodePort' || spec.type === 'LoadBalancer') && p.nodePort) {
        const range = opts.nodePortRange;
        if (range && (p.nodePort < range.min || p.nodePort > range.max))
          problems.push(`service ${name} node port ${p.nodePort} is outside serviceLB.nodePortRange ${range.min}-${range.max}: not served`);
        else for (const a of opts.nodeAddresses) out.push(fe(a, p.nodePort, ServiceFlags.NodePort, externalLocal));
      }
    }
  }
  // One frontend per (address, port, protocol): a duplicate (two Services claiming one external
  // IP and port) keeps the first in name order, as the API has no arbiter for it either.
  const seen = new Set<string>();
  return out
    .sort((a, b) => a.service.localeCompare(b.service))
    .filter((f) => {
      const k = `${f.address}:${f.port}/${f.proto}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}

/**
 * The eBPF service path translates TCP and UDP only (the socket hooks and the NIC programs parse
 * no SCTP): SCTP frontends are taken out, and said, once per Service. The nftables fallback
 * serves SCTP, and in coexist kube-proxy does (the socket LB leaves the connect() alone).
 */
export function withoutSctp(frontends: readonly Frontend[], problems: string[]): Frontend[] {
  const unserved = new Map<string, Set<string>>();
  const kept = frontends.filter((f) => {
    if (f.proto !== PROTO.SCTP) return true;
    const ports = unserved.get(f.service) ?? new Set<string>();
    ports.add(`${f.address}:${f.port}`);
    unserved.set(f.service, ports);
    return false;
  });
  for (const [svc, ports] of unserved)
    problems.push(`service ${svc} has SCTP ports (${[...ports].slice(0, 3).join(', ')}${ports.size > 3 ? `, ${ports.size - 3} more` : ''}) that are not served: the eBPF service datapath translates TCP and UDP only (iptablesFallback serves SCTP)`);
  return kept;
}

export interface LbEntries {
  services: Array<{ key: Lb4Key; value: Lb4Service }>;
  backends: Array<{ key: { id: number }; value: Lb4Backend }>;
  revNat: Array<{ key: { index: number }; value: { address: string; port: number; pad: number } }>;
  sourceRanges: Array<{ key: { prefixlen: number; revNat: number; pad: number; addr: string }; value: { flags: number } }>;
}

/** The network address of `addr`/`len` (an LPM key must not carry host bits). */
const maskIp4 = (addr: string, len: number): string => formatIp4(len === 0 ? 0 : (parseIp4(addr) & (~0 << (32 - len))) >>> 0);

export const backendIdKey = (address: string, port: number, proto: number): string => `${address}:${port}/${proto}`;
export const revNatIdKey = (address: string, port: number): string => `${address}:${port}`;

/** The LB maps' contents: slot 0 per frontend, one slot per backend, ids kept stable. */
export function lbEntries(frontends: readonly Frontend[], ids: { backends: IdAllocator; revNat: IdAllocator }): LbEntries {
  const out: LbEntries = { services: [], backends: [], revNat: [], sourceRanges: [] };
  const liveBackends = new Set<string>();
  const liveRevNat = new Set<string>();
  const backendSeen = new Set<number>();
  const revSeen = new Set<number>();
  for (const f of frontends) {
    const rk = revNatIdKey(f.address, f.port);
    liveRevNat.add(rk);
    const revNat = ids.revNat.get(rk);
    if (!revSeen.has(revNat)) {
      revSeen.add(revNat);
      out.revNat.push({ key: { index: revNat }, value: { address: f.address, port: f.port, pad: 0 } });
    }
    for (const r of new Set(f.sourceRanges ?? [])) {
      const [addr, len] = r.split('/') as [string, string];
      out.sourceRanges.push({ key: { prefixlen: LB_SOURCE_RANGE_PREFIX_HDR + Number(len), revNat, pad: 0, addr: maskIp4(addr, Number(len)) }, value: { flags: 0 } });
    }
    const base = { address: f.address, dport: f.port, proto: f.proto, scope: 0, pad: 0 };
    f.backends.forEach((b, i) => {
      const bk = backendIdKey(b.address, b.port, f.proto);
      liveBackends.add(bk);
      const id = ids.backends.get(bk);
      if (!backendSeen.has(id)) {
        backendSeen.add(id);
        out.backends.push({ key: { id }, value: { address: b.address, port: b.port, proto: f.proto, flags: 0 } });
      }
      out.services.push({ key: { ...base, backendSlot: i + 1 }, value: { backendId: id, count: 0, revNat: 0, affinityTimeoutS: 0, flags: 0 } });
    });
    out.services.push({
      key: { ...base, backendSlot: 0 },
      value: { backendId: 0, count: f.backends.length, revNat, affinityTimeoutS: f.affinityTimeoutS, flags: f.flags },
    });
  }
  ids.backends.retain(liveBackends);
  ids.revNat.retain(liveRevNat);
  return out;
}
