// One client connection through the L7 proxy, paired with one upstream connection to the flow's
// original destination (opened at the first allowed request, reopened when the upstream closes
// between requests). Bytes are forwarded as they came, in both directions, with backpressure:
// the proxy parses request heads to judge them and both sides' framing to know where each
// message ends, and never holds a body. A denied request's head and body are not forwarded; its
// 403 is written in the place of the response it would have had, so pipelined answers stay in
// order, and the connection stays usable.
import { STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';
import { BodyReader, HttpError, headEnd, leadingEmptyLines, parseRequestHead, parseResponseHead, type RequestHead } from './http1.js';

/** Upgrade tokens the proxy lets through (after judging the request that asks for them). */
const ALLOWED_UPGRADES = new Set(['websocket']);

/** A request as the rules see it (common/l7/rules.ts RequestView). */
export interface RequestInfo {
  method: string;
  /** The request target's path and query, as sent (only targets in normal form get this far). */
  path: string;
  host: string;
  headers: RequestHead['headers'];
}

export interface ConnectionHooks {
  /** The verdict for a request on this connection's flow now. */
  allowed(req: RequestInfo): boolean;
  /** A new upstream connection to the flow's original destination (from the client's address). */
  connectUpstream(): Socket;
  /** One request is answered (or refused): for the access log and metrics. */
  done(req: RequestInfo, verdict: Verdict, status: number, seconds: number): void;
  /** The connection sent 400/431/408/501 and closes. */
  malformed(status: number, why: string): void;
}

export type Verdict = 'allowed' | 'denied' | 'upstream_error';

export interface ConnectionLimits {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
}

/** A request waiting for its answer: the upstream's, or one the proxy writes (403, 502). */
interface Pending {
  req: RequestInfo;
  start: bigint;
  /** The answer the proxy writes itself; undefined: the upstream answers. */
  local?: { status: number; body: string; verdict: Verdict };
  upgrade: boolean;
  /** The client asked to close after this one (Connection: close, or HTTP/1.0 without keep-alive). */
  last: boolean;
  /** Part of the upstream's response has been written to the client. */
  started: boolean;
}

/** The longest response head accepted from an upstream. */
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * Requests one connection may have waiting for their answers. Past it the proxy stops reading the
 * client until answers go out: each waiting request holds its head, so a client that pipelines
 * without reading would otherwise grow the proxy's memory without bound.
 */
export const MAX_PIPELINED = 32;

const localResponse = (status: number, body: string, close: boolean): string =>
  `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`;

type After = 'await-upgrade' | 'closing';

export class ProxyConnection {
  private up?: Socket;
  /** A request head not yet complete. */
  private headBuf?: Buffer;
  private headTimer?: NodeJS.Timeout;
  /** The body of the request being read; `forward` false for a denied one (read and dropped). */
  private reqBody?: { reader: BodyReader; forward: boolean; then?: After };
  private readonly queue: Pending[] = [];
  /** A response head not yet complete, its body being read, and what it said of the connection. */
  private respHead?: Buffer;
  private respBody?: BodyReader;
  private respStatus = 0;
  private respClose = false;
  /**
   * http: requests are parsed; await-upgrade: an upgrade request is out and the client's bytes
   * are held until its answer; tunnel: bytes both ways; closing: nothing more is read, the
   * connection closes once every request before is answered.
   */
  private mode: 'http' | After | 'tunnel' = 'http';
  private held: Buffer[] = [];
  private clientEnded = false;
  /** The 400/408/431 to write once the requests before it are answered. */
  private refusal?: string;

  constructor(
    private readonly client: Socket,
    private readonly hooks: ConnectionHooks,
    private readonly limits: ConnectionLimits,
  ) {
    client.setNoDelay(true);
    client.setTimeout(limits.idleTimeoutMs, () => this.destroy());
    client.on('data', (d: Buffer) => this.onClientData(d));
    client.on('end', () => this.onClientEnd());
    client.on('error', () => this.destroy());
    client.on('close', () => this.destroy());
    client.on('drain', () => {
      this.up?.resume();
      this.settleReading();
    });
  }

  /**
   * Reads from the client only while what they cause can go somewhere: not while an upgrade's
   * answer is awaited, nor while either socket's write buffer is full (the upstream's for requests
   * forwarded, the client's own for answers, 403s included), nor with MAX_PIPELINED requests
   * waiting. Each of those calls this again when it clears.
   */
  private settleReading(): void {
    if (this.client.destroyed) return;
    // A tunnel's two directions are independent: only the upstream's buffer holds the client back.
    const upFull = this.up?.writableNeedDrain === true;
    const hold = this.mode === 'tunnel' ? upFull : this.mode === 'await-upgrade' || upFull || this.client.writableNeedDrain || this.queue.length >= MAX_PIPELINED;
    if (hold) this.client.pause();
    else this.client.resume();
  }

  private destroy(): void {
    clearTimeout(this.headTimer);
    this.client.destroy();
    this.up?.destroy();
  }

  // --- client to upstream -------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    if (this.mode === 'tunnel') return this.toUpstream(chunk);
    if (this.mode === 'closing') return;
    if (this.mode === 'await-upgrade') {
      this.held.push(chunk);
      this.client.pause();
      return;
    }
    // Everything one read produces leaves in one write each way.
    this.client.cork();
    const up = this.up;
    up?.cork();
    try {
      this.parseRequests(chunk);
    } catch (err) {
      this.refuse(err);
    } finally {
      this.client.uncork();
      up?.uncork();
    }
  }

  private parseRequests(chunk: Buffer): void {
    let buf = chunk;
    let off = 0;
    while (off < buf.length && this.mode === 'http') {
      if (this.reqBody) {
        const body = this.reqBody;
        const n = body.reader.feed(buf, off);
        if (body.forward && n > 0) this.toUpstream(buf.subarray(off, off + n));
        off += n;
        if (body.reader.done) {
          this.reqBody = undefined;
          if (body.then) this.enter(body.then);
        }
        continue;
      }
      if (!this.headBuf) off += leadingEmptyLines(buf, off);
      if (off >= buf.length) break;
      // A head split across reads is joined; one within a single read is parsed where it lies.
      let from = off;
      if (this.headBuf) {
        from = Math.max(0, this.headBuf.length - 3);
        buf = Buffer.concat([this.headBuf, buf.subarray(off)]);
        off = 0;
        this.headBuf = undefined;
      }
      const end = headEnd(buf, from);
      if (end < 0 || end - off > this.limits.maxHeaderBytes) {
        if (buf.length - off > this.limits.maxHeaderBytes) throw new HttpError(431, 'request headers too large');
        this.headBuf = Buffer.from(buf.subarray(off));
        this.headTimer ??= setTimeout(() => this.headTimeout(), this.limits.headersTimeoutMs);
        return;
      }
      clearTimeout(this.headTimer);
      this.headTimer = undefined;
      const raw = buf.subarray(off, end);
      off = end;
      this.onRequest(raw, parseRequestHead(raw));
    }
    if (off < buf.length && this.mode === 'await-upgrade') this.held.push(buf.subarray(off));
  }

  private enter(mode: After): void {
    this.mode = mode;
    if (mode === 'await-upgrade') this.client.pause();
    else this.maybeFinish();
  }

  private onRequest(raw: Buffer, head: RequestHead): void {
    const host = typeof head.headers.host === 'string' ? head.headers.host : '';
    const req: RequestInfo = { method: head.method, path: head.path, host, headers: head.headers };
    const hasBody = head.framing.kind !== 'none';
    const p: Pending = { req, start: process.hrtime.bigint(), upgrade: head.upgrade, last: !head.keepAlive, started: false };
    this.queue.push(p);
    this.settleReading();
    // After a 101 the bytes are another protocol's, which no rule reads: only WebSocket, whose
    // messages are the application's own, may follow a judged request. h2c would carry HTTP/2
    // streams with any path past the rules.
    const upgradeRefused = head.upgrade && head.upgradeTo.some((t) => !ALLOWED_UPGRADES.has(t));
    if (upgradeRefused || !this.hooks.allowed(req)) {
      p.local = { status: 403, body: upgradeRefused ? `Upgrade to ${head.upgradeTo.join(', ')} is not allowed\n` : 'Access denied\n', verdict: 'denied' };
      // Refused before the body: a client waiting for 100 Continue will not send it, and an
      // upgrade's next bytes may be the new protocol's, so neither connection can go on.
      if (head.upgrade || (head.expectContinue && hasBody)) p.last = true;
      if (p.last) this.mode = 'closing';
      else if (hasBody) this.reqBody = { reader: new BodyReader(head.framing), forward: false };
      this.flushLocal();
      return;
    }
    this.upstream();
    this.toUpstream(raw);
    const then: After | undefined = head.upgrade ? 'await-upgrade' : p.last ? 'closing' : undefined;
    if (hasBody) this.reqBody = { reader: new BodyReader(head.framing), forward: true, ...(then ? { then } : {}) };
    else if (then) this.enter(then);
  }

  private upstream(): Socket {
    if (this.up) return this.up;
    const up = this.hooks.connectUpstream();
    up.setNoDelay(true);
    this.up = up;
    this.respHead = undefined;
    this.respBody = undefined;
    up.on('data', (d: Buffer) => this.onUpstreamData(up, d));
    up.on('end', () => this.onUpstreamGone(up));
    up.on('close', () => this.onUpstreamGone(up));
    up.on('error', (err: NodeJS.ErrnoException) => this.onUpstreamError(up, err));
    up.on('drain', () => this.settleReading());
    return up;
  }

  private toUpstream(b: Buffer): void {
    const up = this.up;
    if (!up || up.destroyed) return;
    up.write(b);
    this.settleReading();
  }

  private toClient(b: Buffer | string): void {
    if (this.client.destroyed) return;
    if (!this.client.write(b)) {
      this.up?.pause();
      this.settleReading();
    }
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.mode === 'tunnel') return void this.up?.end();
    // Nothing more will come: the connection closes once what was asked is answered.
    if (this.mode === 'http') this.mode = 'closing';
    this.maybeFinish();
  }

  // --- upstream to client -------------------------------------------------------------------

  private onUpstreamData(up: Socket, chunk: Buffer): void {
    if (up !== this.up) return;
    if (this.mode === 'tunnel') return this.toClient(chunk);
    this.client.cork();
    try {
      this.parseResponses(chunk);
    } catch {
      // The upstream broke HTTP. Unseen by the client: 502; half written: nothing can mend it.
      if (this.queue[0]?.started) this.destroy();
      else {
        this.dropUpstream();
        this.failUpstream('invalid response');
      }
    } finally {
      this.client.uncork();
    }
  }

  private parseResponses(chunk: Buffer): void {
    let buf = chunk;
    let off = 0;
    // What of `buf` is not yet written to the client: written in one piece where it can be.
    let from = 0;
    const flush = (to: number) => {
      if (to > from) this.toClient(buf.subarray(from, to));
      from = to;
    };
    while (off < buf.length) {
      const front = this.queue[0];
      if (!front || front.local) throw new HttpError(400, 'a response no request asked for');
      if (this.respBody) {
        off += this.respBody.feed(buf, off);
        if (!this.respBody.done) continue;
        flush(off);
        if (this.responseDone()) return;
        continue;
      }
      let start = off;
      if (this.respHead) {
        buf = Buffer.concat([this.respHead, buf.subarray(off)]);
        start = off = from = 0;
        this.respHead = undefined;
      }
      const end = headEnd(buf, start);
      if (end < 0) {
        if (buf.length - start > MAX_RESPONSE_HEAD) throw new HttpError(400, 'response head too large');
        flush(start);
        // Not yet written: the client sees a head whole or not at all.
        this.respHead = Buffer.from(buf.subarray(start));
        return;
      }
      const head = parseResponseHead(buf.subarray(start, end), front.req.method);
      off = end;
      front.started = true;
      if (head.status === 101 && front.upgrade) {
        flush(buf.length);
        return this.startTunnel();
      }
      // 100 Continue, 103 Early Hints: relayed; the final answer follows.
      if (head.status < 200) continue;
      this.respStatus = head.status;
      this.respClose = !head.keepAlive;
      this.respBody = new BodyReader(head.framing);
      if (this.respBody.done) {
        flush(off);
        if (this.responseDone()) return;
      }
    }
    flush(buf.length);
  }

  /** The front response is whole; true when the upstream connection ends with it. */
  private responseDone(): boolean {
    this.respBody = undefined;
    if (!this.respClose) {
      this.complete('allowed', this.respStatus);
      return false;
    }
    // The response told the client that the connection closes after it: so it does. Requests
    // pipelined behind it go unanswered, which the client knows to retry.
    this.complete('allowed', this.respStatus, true);
    return true;
  }

  /** The front request is answered: account for it, then write the proxy's own answers that follow. */
  private complete(verdict: Verdict, status: number, closes = false): void {
    const p = this.queue.shift()!;
    this.answered(p, verdict, status);
    if (closes) {
      this.queue.length = 0;
      this.mode = 'closing';
      return this.maybeFinish();
    }
    // An upgrade the upstream refused: the connection is HTTP again, with the bytes held.
    if (p.upgrade && this.mode === 'await-upgrade') this.resumeHttp();
    if (p.last) this.mode = 'closing';
    this.flushLocal();
  }

  /** One request is answered: its verdict, status and time for the access log and metrics. */
  private answered(p: Pending, verdict: Verdict, status: number): void {
    this.hooks.done(p.req, verdict, status, Number(process.hrtime.bigint() - p.start) / 1e9);
  }

  /** Writes the proxy's answers now at the front of the queue. */
  private flushLocal(): void {
    while (this.queue[0]?.local) {
      const p = this.queue.shift()!;
      const { status, body, verdict } = p.local!;
      this.toClient(localResponse(status, body, p.last));
      this.answered(p, verdict, status);
    }
    this.settleReading();
    this.maybeFinish();
  }

  /** Closes the client once everything asked is answered and nothing more will be read. */
  private maybeFinish(): void {
    if (this.queue.length > 0 || this.mode !== 'closing') return;
    clearTimeout(this.headTimer);
    if (this.refusal) this.client.end(this.refusal);
    else this.client.end();
    this.dropUpstream();
  }

  private resumeHttp(): void {
    this.mode = this.clientEnded ? 'closing' : 'http';
    const held = this.held;
    this.held = [];
    this.settleReading();
    for (const b of held) this.onClientData(b);
  }

  private startTunnel(): void {
    const p = this.queue.shift()!;
    this.answered(p, 'allowed', 101);
    this.mode = 'tunnel';
    for (const b of this.held) this.toUpstream(b);
    this.held = [];
    if (this.clientEnded) this.up?.end();
    this.settleReading();
  }

  private dropUpstream(): void {
    const up = this.up;
    this.up = undefined;
    this.respHead = undefined;
    this.respBody = undefined;
    up?.end();
  }

  private onUpstreamGone(up: Socket): void {
    if (up !== this.up) return;
    this.up = undefined;
    if (this.mode === 'tunnel') return void this.client.end();
    if (this.respBody?.closeDelimited) {
      // The body that ends with the connection is whole; the client learns its end the same way.
      this.respBody = undefined;
      const p = this.queue.shift()!;
      this.answered(p, 'allowed', this.respStatus);
      this.client.end();
      return;
    }
    if (this.queue[0]?.started || this.respHead) return this.destroy();
    if (this.queue.some((p) => !p.local)) this.failUpstream('ECONNRESET');
  }

  private onUpstreamError(up: Socket, err: NodeJS.ErrnoException): void {
    if (up !== this.up) return;
    this.up = undefined;
    if (this.mode === 'tunnel' || this.queue[0]?.started) return this.destroy();
    this.failUpstream(err.code ?? err.message);
  }

  /** The upstream is gone before answering: every request waiting on it is answered 502. */
  private failUpstream(why: string): void {
    this.up?.destroy();
    this.up = undefined;
    for (const p of this.queue) {
      if (!p.local) p.local = { status: 502, body: `Upstream unavailable: ${why}\n`, verdict: 'upstream_error' };
    }
    // The rest of a body already being forwarded goes nowhere.
    if (this.reqBody) this.reqBody.forward = false;
    if (this.mode === 'await-upgrade') {
      // The upgrade's held bytes cannot be read as HTTP.
      const last = this.queue[this.queue.length - 1];
      if (last) last.last = true;
      this.mode = 'closing';
      this.held = [];
      this.settleReading();
    }
    this.client.cork();
    this.flushLocal();
    this.client.uncork();
  }

  // --- refusals -----------------------------------------------------------------------------

  private headTimeout(): void {
    this.headTimer = undefined;
    if (this.headBuf) this.refuse(new HttpError(400, 'headers not complete in time'), 408);
  }

  /** Malformed input: answered once the requests before it are, and the connection closes. */
  private refuse(err: unknown, status: number = err instanceof HttpError ? err.status : 400): void {
    this.hooks.malformed(status, err instanceof Error ? err.message : String(err));
    this.headBuf = undefined;
    this.reqBody = undefined;
    this.mode = 'closing';
    this.refusal = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`;
    this.maybeFinish();
  }
}
