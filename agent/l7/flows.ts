// Which policy a connection handed to the proxy is about, and the HTTP rules that apply to it, from
// what the agent sends the proxy (the node's L7 rules and local endpoints) and the identity of any
// address (the ipcache). A connection arrives with its original addresses: the client's as remote,
// the original destination's as local. It is the client's egress policy when the client is a local
// endpoint with L7 rules for that destination and port, else the destination's ingress policy; an
// egress flow to a local endpoint with ingress HTTP rules for the client is judged by both.
import type { L7Rules, PeerSet } from '../../api/v1alpha1/index.js';
import { compileHttpRule, type CompiledHttpRule } from '../../common/l7/rules.js';
import type { Flow, FlowSource } from './proxy.js';

/** What the agent sends the proxy on every change. */
export interface ProxyState {
  rules: L7Rules[];
  peerSets: PeerSet[];
  /** Local endpoints: address and identity. */
  endpoints: Array<{ ip: string; identity: number }>;
}

interface Compiled {
  identity: number;
  direction: 'ingress' | 'egress';
  port: number;
  endPort: number;
  peers: ReadonlySet<number>;
  http: CompiledHttpRule[];
}

/** Identity 0 in a peer set stands for every peer (ReservedIdentity.Any). */
const ANY = 0;

export class PolicyFlows implements FlowSource {
  private compiled: Compiled[] = [];
  private endpoints = new Map<string, number>();

  constructor(
    /** The identity of any address (the ipcache's answer; world when it has none). */
    private readonly identityOf: (addr: string) => number,
  ) {}

  /** New rules: every connection's next request is judged by them. Rules that do not compile are left out (the operator named them already). */
  update(state: ProxyState): void {
    const sets = new Map(state.peerSets.map((s) => [s.id, new Set(s.identities)]));
    this.compiled = state.rules.map((r) => ({
      identity: r.identity,
      direction: r.direction,
      port: r.port,
      endPort: r.endPort ?? r.port,
      peers: sets.get(r.peerSet) ?? new Set<number>(),
      http: r.http.flatMap((h) => {
        try {
          return [compileHttpRule(h)];
        } catch {
          return [];
        }
      }),
    }));
    this.endpoints = new Map(state.endpoints.map((e) => [e.ip, e.identity]));
  }

  private applies(c: Compiled, identity: number, direction: Flow['direction'], port: number, peer: number): boolean {
    return c.identity === identity && c.direction === direction && (c.port === 0 || (port >= c.port && port <= c.endPort)) && (c.peers.has(peer) || c.peers.has(ANY));
  }

  flowOf(socket: { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number }): Flow | undefined {
    const src = { address: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''), port: socket.remotePort ?? 0 };
    const dst = { address: (socket.localAddress ?? '').replace(/^::ffff:/, ''), port: socket.localPort ?? 0 };
    const client = this.endpoints.get(src.address);
    if (client !== undefined) {
      const peer = this.endpoints.get(dst.address) ?? this.identityOf(dst.address);
      if (this.compiled.some((c) => this.applies(c, client, 'egress', dst.port, peer))) {
        const server = this.endpoints.get(dst.address);
        const both = server !== undefined && this.compiled.some((c) => this.applies(c, server, 'ingress', dst.port, client));
        return { direction: 'egress', subject: client, peer, src, dst, ...(both ? { ingressToo: { subject: server, peer: client } } : {}) };
      }
    }
    const server = this.endpoints.get(dst.address);
    if (server === undefined) return undefined;
    const peer = client ?? this.identityOf(src.address);
    return { direction: 'ingress', subject: server, peer, src, dst };
  }

  rulesOf(flow: Flow): readonly CompiledHttpRule[] {
    return this.compiled.filter((c) => this.applies(c, flow.subject, flow.direction, flow.dst.port, flow.peer)).flatMap((c) => c.http);
  }

  /** The client's own address: the receiving side judges the upstream connection by it. */
  upstreamSource(flow: Flow): string {
    return flow.src.address;
  }
}
