// The node's transparent HTTP/1.1 proxy. The datapath hands it the flows whose policy verdict is
// "redirect"; each connection arrives with its original destination as the socket's local
// address. Every request is judged on its own against the rules that apply to the flow at that
// moment (a policy change applies from the next request on an open connection): an allowed one
// is streamed to the original destination, a denied one answered 403 on a connection that stays
// usable. Bodies stream in both directions with backpressure, never buffered whole; keep-alive,
// pipelining, chunked bodies, `Expect: 100-continue` and `Upgrade` (WebSocket) pass through.
import { Agent, createServer, request, STATUS_CODES, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, Socket, type NetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTransparent, transparentTcpSocket } from 'libbpfjs';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../common/log.js';
import { firstMatch, type CompiledHttpRule } from '../../common/l7/rules.js';

export interface Flow {
  direction: 'ingress' | 'egress';
  /** The local endpoint the policy is about (the destination on ingress, the source on egress). */
  subject: number;
  /** The other side's identity. */
  peer: number;
  src: { address: string; port: number };
  /** The original destination: where allowed requests go. */
  dst: { address: string; port: number };
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
  /** Request line and headers together (Node's maxHeaderSize): larger is answered 431. */
  maxHeaderBytes: number;
  /** A client must send its headers within this; slower is answered 408 and closed. */
  headersTimeoutMs: number;
  /** An idle connection (no bytes either way) is closed after this. */
  idleTimeoutMs: number;
  /** Connections held at once; more are shed (closed at accept, counted). */
  maxConnections: number;
  /**
   * Transparent sockets (IP_TRANSPARENT): the listener takes connections for addresses that are
   * not the node's (what the datapath hands it), and upstream connections leave from the
   * client's address. Needs CAP_NET_ADMIN; off for tests on loopback.
   */
  transparent: boolean;
}

export const DEFAULT_LIMITS: ProxyLimits = { maxHeaderBytes: 16 * 1024, headersTimeoutMs: 10_000, idleTimeoutMs: 300_000, maxConnections: 10_000, transparent: false };

/** A TCP connection from `localAddress` (not the node's), on a transparent socket. */
function transparentConnect(opts: NetConnectOpts & { host?: string; port?: number; localAddress?: string }, onConnect?: () => void): Socket {
  const s = new Socket({ fd: transparentTcpSocket(opts.localAddress!), readable: true, writable: true });
  s.connect({ host: opts.host ?? '127.0.0.1', port: Number(opts.port) }, onConnect);
  return s;
}

/** Connection-level headers that belong to one hop (RFC 9110 7.6.1), not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface ProxyMetrics {
  requests: Counter<'direction' | 'verdict'>;
  latency: Histogram<'direction' | 'verdict'>;
  shed: Counter<'reason'>;
}

export function proxyMetrics(registry: Registry): ProxyMetrics {
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
      help: 'Connections the L7 proxy closed without serving: over the connection cap (shed), or not a flow the datapath redirected (unknown).',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

const headerPairs = (raw: readonly string[]): Array<[string, string]> => {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
};

/** The request's headers for the next hop, names as the client wrote them. */
function forwardHeaders(req: IncomingMessage, keepUpgrade: boolean): OutgoingHttpHeaders {
  const named = new Set((req.headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()));
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of headerPairs(req.rawHeaders)) {
    const l = k.toLowerCase();
    if ((HOP_BY_HOP.has(l) || named.has(l)) && !(keepUpgrade && (l === 'upgrade' || l === 'connection'))) continue;
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
  }
  return out;
}

export class L7Proxy {
  private readonly server: Server;
  private readonly flows = new WeakMap<Socket, Flow>();
  /** Upstream connections kept alive, pooled by source address and destination. */
  private readonly upstream = new Agent({ keepAlive: true, maxFreeSockets: 64 });
  private readonly limits: ProxyLimits;

  constructor(
    private readonly source: FlowSource,
    private readonly log: Logger,
    private readonly metrics: ProxyMetrics,
    limits: Partial<ProxyLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    if (this.limits.transparent) {
      // Keep-alive upstream connections, each from its client's address.
      const base = this.upstream as unknown as { createConnection: (o: NetConnectOpts & { localAddress?: string }, cb?: () => void) => Socket };
      base.createConnection = (o, cb) => (o.localAddress ? transparentConnect(o, cb) : connect(o, cb));
    }
    this.server = createServer({
      maxHeaderSize: this.limits.maxHeaderBytes,
      headersTimeout: this.limits.headersTimeoutMs,
      // Node checks the header deadline on this interval (30 s by default): often enough to keep it.
      connectionsCheckingInterval: Math.min(1000, this.limits.headersTimeoutMs),
      // A body may stream for as long as it moves; the idle timeout ends one that stalls.
      requestTimeout: 0,
      keepAliveTimeout: this.limits.idleTimeoutMs,
    });
    this.server.maxConnections = this.limits.maxConnections;
    this.server.timeout = this.limits.idleTimeoutMs;
    this.server.on('drop', () => this.metrics.shed.inc({ reason: 'shed' }));
    this.server.on('connection', (socket: Socket) => {
      const flow = this.source.flowOf(socket);
      if (!flow) {
        this.metrics.shed.inc({ reason: 'unknown' });
        this.log.warn({ src: `${socket.remoteAddress}:${socket.remotePort}`, dst: `${socket.localAddress}:${socket.localPort}` }, 'l7 proxy: a connection no redirected flow explains; closed');
        socket.destroy();
        return;
      }
      this.flows.set(socket, flow);
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    // Judged before the client sends its body: a denied request never uploads it.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res, true));
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket as Socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
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
    this.upstream.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The verdict for one request on its flow, with the access-log line and metrics when it is done. */
  private judge(req: IncomingMessage): { flow: Flow; allowed: boolean; rule: number; done: (verdict: string, status: number) => void } | undefined {
    const flow = this.flows.get(req.socket);
    if (!flow) return undefined;
    const path = req.url ?? '/';
    const host = req.headers.host ?? '';
    const rule = firstMatch(this.source.rulesOf(flow), { method: req.method ?? '', path, host, headers: req.headers });
    const start = process.hrtime.bigint();
    const done = (verdict: string, status: number): void => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      this.metrics.requests.inc({ direction: flow.direction, verdict });
      this.metrics.latency.observe({ direction: flow.direction, verdict }, seconds);
      this.log.info(
        { access: true, direction: flow.direction, subject: flow.subject, peer: flow.peer, src: `${flow.src.address}:${flow.src.port}`, dst: `${flow.dst.address}:${flow.dst.port}`, method: req.method, path, host, verdict, status, latencyMs: Math.round(seconds * 1e6) / 1e3 },
        'l7 request',
      );
    };
    return { flow, allowed: rule >= 0, rule, done };
  }

  private deny(res: ServerResponse, req: IncomingMessage, done: (v: string, s: number) => void): void {
    const body = 'Access denied\n';
    // The body is read and dropped, so the next request on this connection is parsed cleanly.
    req.resume();
    res.writeHead(403, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body, () => done('denied', 403));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
    const j = this.judge(req);
    if (!j) return void req.socket.destroy();
    if (!j.allowed) return this.deny(res, req, j.done);
    const headers = forwardHeaders(req, false);
    // Relayed, not answered here: the upstream decides whether it wants the body.
    if (expectsContinue) headers.expect = '100-continue';
    const up = request({
      agent: this.upstream,
      host: j.flow.dst.address,
      port: j.flow.dst.port,
      method: req.method,
      path: req.url,
      headers,
      localAddress: this.source.upstreamSource?.(j.flow),
      setHost: false,
    });
    up.on('continue', () => res.writeContinue());
    up.on('response', (upRes) => {
      const out = headerPairs(upRes.rawHeaders).filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase()));
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out.flat());
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
      res.on('finish', () => j.done('allowed', upRes.statusCode ?? 0));
    });
    up.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      const body = `Upstream unavailable: ${(err as NodeJS.ErrnoException).code ?? err.message}\n`;
      req.resume();
      res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body, () => j.done('upstream_error', 502));
    });
    // A client that goes away takes its upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const j = this.judge(req);
    if (!j) return void socket.destroy();
    const reply = (status: number, body: string) =>
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    // An upgrade request's connection is the upgraded protocol's from here: a refusal closes it.
    if (!j.allowed) {
      reply(403, 'Access denied\n');
      return j.done('denied', 403);
    }
    const from = this.source.upstreamSource?.(j.flow);
    const target = { host: j.flow.dst.address, port: j.flow.dst.port };
    const up = this.limits.transparent && from ? transparentConnect({ ...target, localAddress: from }) : connect({ ...target, localAddress: from });
    up.once('connect', () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`, ...headerPairs(req.rawHeaders).map(([k, v]) => `${k}: ${v}`)];
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
      j.done('allowed', 101);
    });
    up.once('error', (err) => {
      if (up.bytesRead === 0 && socket.writable) reply(502, `Upstream unavailable: ${(err as NodeJS.ErrnoException).code ?? err.message}\n`);
      else socket.destroy();
      j.done('upstream_error', 502);
    });
    socket.on('error', () => up.destroy());
    socket.on('close', () => up.destroy());
    up.on('close', () => socket.destroy());
  }

  /** Malformed HTTP: 400 (431 for oversized headers, 408 for a client too slow to send them), then closed. */
  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const flow = this.flows.get(socket as Socket);
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (flow) this.metrics.requests.inc({ direction: flow.direction, verdict: status === 408 ? 'timeout' : 'malformed' });
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  }
}
