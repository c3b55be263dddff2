// The node's transparent HTTP/1.1 proxy. The datapath hands it the flows whose policy verdict is
// "redirect"; each connection arrives with its original destination as the socket's local
// address. Every request is judged on its own against the rules that apply to the flow at that
// moment (a policy change applies from the next request on an open connection): an allowed one
// goes to the original destination, a denied one is answered 403 on a connection that stays
// usable. The connection itself (connection.ts) forwards bytes as they came and parses only heads
// and framing, which is what keeps the proxy's cost near a plain relay's (bench/l7.ts).
import { createServer, Socket, type Server } from 'node:net';
import { setTransparent, transparentTcpSocket } from 'libbpfjs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { firstMatch, type CompiledHttpRule } from '../../common/l7/rules.js';
import { ProxyConnection, type RequestInfo, type Verdict } from './connection.js';

export interface Flow {
  direction: 'ingress' | 'egress';
  /** The local endpoint the policy is about (the destination on ingress, the source on egress). */
  subject: number;
  /** The other side's identity. */
  peer: number;
  src: { address: string; port: number };
  /** The original destination: where allowed requests go. */
  dst: { address: string; port: number };
  /**
   * An egress flow to a local endpoint whose ingress has HTTP rules for this client too: those
   * must allow each request as well, since the proxy's own connection to that endpoint is not
   * handed to the proxy again.
   */
  ingressToo?: { subject: number; peer: number };
}

export interface FlowSource {
  /** The flow a new connection belongs to; undefined: not one the datapath redirected (closed, counted). */
  flowOf(socket: Socket): Flow | undefined;
  /** The rules for the flow now; empty: every request is denied. */
  rulesOf(flow: Flow): readonly CompiledHttpRule[];
  /** Source address for the upstream connection (the client's, so the receiver's policy sees its identity). */
  upstreamSource?(flow: Flow): string | undefined;
}

export interface ProxyLimits {
  /** Request line and headers together: larger is answered 431. */
  maxHeaderBytes: number;
  /** A client must send its headers within this; slower is answered 408 and closed. */
  headersTimeoutMs: number;
  /** An idle connection (no bytes either way) is closed after this. */
  idleTimeoutMs: number;
  /** Connections held at once; more are shed (closed at accept, counted). */
  maxConnections: number;
  /**
   * Connections held at once for one client address: one pod cannot take the node's whole
   * maxConnections from every other pod the proxy serves. More are closed at accept, counted.
   */
  maxConnectionsPerSource: number;
  /**
   * Transparent sockets (IP_TRANSPARENT): the listener takes connections for addresses that are
   * not the node's (what the datapath hands it), and upstream connections leave from the
   * client's address. Needs CAP_NET_ADMIN; off for tests on loopback.
   */
  transparent: boolean;
}

export const DEFAULT_LIMITS: ProxyLimits = { maxHeaderBytes: 16 * 1024, headersTimeoutMs: 10_000, idleTimeoutMs: 300_000, maxConnections: 10_000, maxConnectionsPerSource: 1_000, transparent: false };

export interface ProxyMetrics {
  requests: Counter<'direction' | 'verdict'>;
  latency: Histogram<'direction' | 'verdict'>;
  shed: Counter<'reason'>;
  /** Client sockets whose unsent bytes weir_l7_client_backlog_bytes sums at each scrape. */
  clientSockets: Set<ReadonlySet<Socket>>;
}

export function proxyMetrics(registry: Registry): ProxyMetrics {
  const clientSockets = new Set<ReadonlySet<Socket>>();
  new Gauge({
    name: 'weir_l7_client_backlog_bytes',
    help: 'Bytes the L7 proxy holds for clients that do not read their answers (socket write buffers in the proxy process).',
    registers: [registry],
    collect() {
      let bytes = 0;
      for (const set of clientSockets) for (const s of set) bytes += s.writableLength;
      this.set(bytes);
    },
  });
  return {
    requests: new Counter({
      name: 'weir_l7_requests_total',
      help: 'HTTP requests the L7 proxy judged, by direction and verdict (allowed, denied, malformed, upstream_error).',
      labelNames: ['direction', 'verdict'],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'weir_l7_request_duration_seconds',
      help: 'From a request\'s headers to its response\'s end, through the L7 proxy.',
      labelNames: ['direction', 'verdict'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    shed: new Counter({
      name: 'weir_l7_connections_refused_total',
      help: "Connections the L7 proxy closed without serving: over the node's connection cap (shed), over one client address's (source_cap), or not a flow the datapath redirected (unknown).",
      labelNames: ['reason'],
      registers: [registry],
    }),
    clientSockets,
  };
}

export class L7Proxy {
  private readonly server: Server;
  private readonly limits: ProxyLimits;
  private readonly connections = new Set<Socket>();
  /** Open connections by the client's address (the flow's source, not the redirect's). */
  private readonly perSource = new Map<string, number>();

  constructor(
    private readonly source: FlowSource,
    private readonly log: Logger,
    private readonly metrics: ProxyMetrics,
    limits: Partial<ProxyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    // Half-open: a client that ends its side still gets the answers it asked for.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onConnection(socket));
    this.server.maxConnections = this.limits.maxConnections;
    this.server.on('drop', () => this.metrics.shed.inc({ reason: 'shed' }));
    this.metrics.clientSockets.add(this.connections);
  }

  listen(port: number, host = '0.0.0.0'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        if (this.limits.transparent) {
          const fd = (this.server as unknown as { _handle?: { fd?: number } })._handle?.fd;
          if (fd === undefined || fd < 0) return reject(new Error('l7 proxy: no listening fd to make transparent'));
          setTransparent(fd);
        }
        const a = this.server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  async close(): Promise<void> {
    this.metrics.clientSockets.delete(this.connections);
    for (const s of this.connections) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    const flow = this.source.flowOf(socket);
    if (!flow) {
      this.metrics.shed.inc({ reason: 'unknown' });
      this.log.warn({ src: `${socket.remoteAddress}:${socket.remotePort}`, dst: `${socket.localAddress}:${socket.localPort}` }, 'l7 proxy: a connection no redirected flow explains; closed');
      socket.destroy();
      return;
    }
    const held = this.perSource.get(flow.src.address) ?? 0;
    if (held >= this.limits.maxConnectionsPerSource) {
      this.metrics.shed.inc({ reason: 'source_cap' });
      socket.destroy();
      return;
    }
    this.perSource.set(flow.src.address, held + 1);
    this.connections.add(socket);
    socket.once('close', () => {
      this.connections.delete(socket);
      const n = (this.perSource.get(flow.src.address) ?? 1) - 1;
      if (n > 0) this.perSource.set(flow.src.address, n);
      else this.perSource.delete(flow.src.address);
    });
    const requests = {
      allowed: this.metrics.requests.labels(flow.direction, 'allowed'),
      denied: this.metrics.requests.labels(flow.direction, 'denied'),
      upstream_error: this.metrics.requests.labels(flow.direction, 'upstream_error'),
    };
    const latency = {
      allowed: this.metrics.latency.labels(flow.direction, 'allowed'),
      denied: this.metrics.latency.labels(flow.direction, 'denied'),
      upstream_error: this.metrics.latency.labels(flow.direction, 'upstream_error'),
    };
    const src = `${flow.src.address}:${flow.src.port}`;
    const dst = `${flow.dst.address}:${flow.dst.port}`;
    const from = this.source.upstreamSource?.(flow);
    const ingressToo: Flow | undefined = flow.ingressToo && { ...flow, direction: 'ingress', ...flow.ingressToo, ingressToo: undefined };
    new ProxyConnection(
      socket,
      {
        allowed: (req: RequestInfo) => {
          if (firstMatch(this.source.rulesOf(flow), req) < 0) return false;
          return !ingressToo || firstMatch(this.source.rulesOf(ingressToo), req) >= 0;
        },
        connectUpstream: () => {
          const target = { host: flow.dst.address, port: flow.dst.port };
          if (this.limits.transparent && from) {
            // From the client's own address, which is not the node's: a transparent socket.
            const s = new Socket({ fd: transparentTcpSocket(from), readable: true, writable: true });
            return s.connect(target);
          }
          return new Socket().connect({ ...target, ...(from ? { localAddress: from } : {}) });
        },
        done: (req: RequestInfo, verdict: Verdict, status: number, seconds: number) => {
          requests[verdict].inc();
          latency[verdict].observe(seconds);
          this.log.info(
            { access: true, direction: flow.direction, subject: flow.subject, peer: flow.peer, src, dst, method: req.method, path: req.path, host: req.host, verdict, status, latencyMs: Math.round(seconds * 1e6) / 1e3 },
            'l7 request',
          );
        },
        malformed: (status: number, why: string) => {
          this.metrics.requests.inc({ direction: flow.direction, verdict: status === 408 ? 'timeout' : 'malformed' });
          this.log.info({ access: true, direction: flow.direction, subject: flow.subject, peer: flow.peer, src, dst, verdict: status === 408 ? 'timeout' : 'malformed', status, why }, 'l7 request refused');
        },
      },
      this.limits,
    );
  }
}
