// HTTP/1.1 message framing for the L7 proxy (RFC 9112): request and response heads, and where a
// body ends. The proxy forwards bytes as they came and parses only enough to judge a request and to
// know where each message ends, so the upstream and the proxy always agree on message boundaries:
// anything RFC 9112 leaves ambiguous (both Content-Length and Transfer-Encoding, a folded or
// space-padded header name, a bare LF) is refused rather than guessed, which is what keeps a
// request from being smuggled past the rules.

import { judgedTarget, TargetRefused } from './target.js';

export class HttpError extends Error {
  override readonly name = 'HttpError';
  /** 400 malformed, 431 headers too large, 501 a method or coding the proxy cannot frame. */
  constructor(
    readonly status: 400 | 431 | 501 | 505,
    message: string,
  ) {
    super(message);
  }
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

export interface Head {
  version: '1.0' | '1.1';
  /** Lower-case names; a repeated header's values in order. */
  headers: Record<string, string | string[]>;
  /** The connection stays open after this message (RFC 9112 9.3). */
  keepAlive: boolean;
  framing: Framing;
}

export interface RequestHead extends Head {
  method: string;
  target: string;
  /** What the rules match: the target's path and query (agent/l7/target.ts). */
  path: string;
  upgrade: boolean;
  /** The protocols an upgrade asks for, lower case, without versions ("websocket", "h2c"). */
  upgradeTo: string[];
  expectContinue: boolean;
}

export interface ResponseHead extends Head {
  status: number;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible characters, spaces and tabs, and obs-text; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Offset just past the blank line that ends a head in `buf` (searching from `from`), or -1. */
export function headEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf(CRLFCRLF, Math.max(0, from));
  return i < 0 ? -1 : i + 4;
}

/** How many bytes of empty lines (CRLF) start `buf` at `offset`: ignored before a request (RFC 9112 2.2). */
export function leadingEmptyLines(buf: Buffer, offset: number): number {
  let i = offset;
  while (i + 1 < buf.length && buf[i] === 0x0d && buf[i + 1] === 0x0a) i += 2;
  return i - offset;
}

/**
 * Optional whitespace is spaces and tabs only (RFC 9110 5.6.3). String.prototype.trim() also strips
 * VT, FF and NBSP, so `chunked\x0b` would be chunked to the proxy and not to an upstream that keeps
 * the byte: the two would frame the body differently.
 */
const ows = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');

/** One field line (a header or a trailer): its lower-case name and its value without OWS. */
function parseField(line: string): [string, string] {
  if (line[0] === ' ' || line[0] === '\t') throw new HttpError(400, 'obsolete line folding');
  const colon = line.indexOf(':');
  if (colon <= 0) throw new HttpError(400, 'a header line without a name');
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) throw new HttpError(400, `invalid header name ${JSON.stringify(name)}`);
  const value = ows(line.slice(colon + 1));
  if (!FIELD_VALUE.test(value)) throw new HttpError(400, `invalid characters in header ${name}`);
  return [name.toLowerCase(), value];
}

function parseFields(lines: string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const line of lines) {
    if (line.length === 0) continue;
    const [key, value] = parseField(line);
    const prev = headers[key];
    headers[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return headers;
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).flatMap((x) => x.split(',')).map((x) => ows(x).toLowerCase()).filter(Boolean);

function splitLines(head: Buffer): string[] {
  const text = head.toString('latin1');
  // The head ends with CRLFCRLF; any other LF must be part of a CRLF.
  const lines = text.slice(0, -4).split('\r\n');
  for (const l of lines) if (l.includes('\n') || l.includes('\r')) throw new HttpError(400, 'a bare CR or LF in the head');
  return lines;
}

function keepAliveOf(version: '1.0' | '1.1', connection: string[]): boolean {
  if (connection.includes('close')) return false;
  return version === '1.1' || connection.includes('keep-alive');
}

/** Body framing from Transfer-Encoding and Content-Length, refusing every ambiguous combination. */
function bodyFraming(headers: Record<string, string | string[]>, isRequest: boolean, version: '1.0' | '1.1'): Framing {
  const te = list(headers['transfer-encoding']);
  const cl = headers['content-length'];
  if (headers['transfer-encoding'] !== undefined && version === '1.0') {
    // HTTP/1.0 has no transfer codings: RFC 9112 6.1 calls such framing faulty. An HTTP/1.0
    // upstream would read the body by Content-Length or to the close, the proxy by chunks.
    if (isRequest) throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    return { kind: 'close' };
  }
  if (te.length > 0) {
    if (cl !== undefined) throw new HttpError(400, 'both Transfer-Encoding and Content-Length');
    if (te[te.length - 1] !== 'chunked') {
      if (isRequest) throw new HttpError(501, `transfer coding ${te.join(', ')} does not end in chunked`);
      return { kind: 'close' };
    }
    if (te.indexOf('chunked') !== te.length - 1) throw new HttpError(400, 'chunked applied twice');
    return { kind: 'chunked' };
  }
  if (cl !== undefined) {
    const values = new Set((Array.isArray(cl) ? cl : [cl]).flatMap((v) => v.split(',').map(ows)));
    if (values.size !== 1) throw new HttpError(400, 'conflicting Content-Length values');
    const [v] = values;
    if (!/^\d{1,15}$/.test(v)) throw new HttpError(400, `invalid Content-Length ${JSON.stringify(v)}`);
    const length = Number(v);
    return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  return isRequest ? { kind: 'none' } : { kind: 'close' };
}

/** A request head: `head` is the bytes up to and including the blank line. */
export function parseRequestHead(head: Buffer): RequestHead {
  const [requestLine, ...fields] = splitLines(head);
  const parts = requestLine.split(' ');
  if (parts.length !== 3) throw new HttpError(400, 'malformed request line');
  const [method, target, proto] = parts;
  if (!TOKEN.test(method)) throw new HttpError(400, `invalid method ${JSON.stringify(method)}`);
  if (!TARGET.test(target)) throw new HttpError(400, 'invalid request target');
  if (proto !== 'HTTP/1.1' && proto !== 'HTTP/1.0') throw new HttpError(proto.startsWith('HTTP/') ? 505 : 400, `unsupported protocol ${JSON.stringify(proto)}`);
  // A tunnel through the proxy would carry what no rule can see.
  if (method === 'CONNECT') throw new HttpError(501, 'CONNECT is not proxied');
  const version = proto === 'HTTP/1.1' ? '1.1' : '1.0';
  const headers = parseFields(fields);
  if (version === '1.1' && headers.host === undefined) throw new HttpError(400, 'no Host header');
  if (Array.isArray(headers.host)) throw new HttpError(400, 'more than one Host header');
  let path: string;
  try {
    path = judgedTarget(target, headers.host);
  } catch (err) {
    throw err instanceof TargetRefused ? new HttpError(400, err.message) : err;
  }
  const connection = list(headers.connection);
  return {
    method,
    target,
    path,
    version,
    headers,
    keepAlive: keepAliveOf(version, connection),
    framing: bodyFraming(headers, true, version),
    upgrade: connection.includes('upgrade') && headers.upgrade !== undefined,
    upgradeTo: list(headers.upgrade).map((p) => p.split('/')[0]),
    expectContinue: list(headers.expect).includes('100-continue'),
  };
}

/** A response head to a request with `method` (a HEAD's response has no body). */
export function parseResponseHead(head: Buffer, method: string): ResponseHead {
  const [statusLine, ...fields] = splitLines(head);
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new HttpError(400, 'malformed status line');
  const version = m[1] === '1' ? '1.1' : '1.0';
  const status = Number(m[2]);
  const headers = parseFields(fields);
  const noBody = method === 'HEAD' || status < 200 || status === 204 || status === 304;
  const framing = noBody ? ({ kind: 'none' } as const) : bodyFraming(headers, false, version);
  return { version, status, headers, keepAlive: framing.kind !== 'close' && keepAliveOf(version, list(headers.connection)), framing };
}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
  Done,
}

/** The longest chunk-size or trailer line accepted: the size, extensions, or one trailer field. */
const MAX_LINE = 8192;

// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), ext-val = token / quoted-string
// (RFC 9112 7.1.1); a quoted-string holds qdtext or quoted-pairs, never a bare control byte.
const CHUNK_EXT = /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"))?)*$/;

/**
 * A chunk-size line: hex digits and valid extensions. Sizes stop at 2^52 (13 significant hex
 * digits): past 2^53 a JavaScript number loses the low bits, and the proxy would end the chunk
 * somewhere else than the upstream does.
 */
function chunkSize(line: string): number {
  const m = /^([0-9A-Fa-f]+)(.*)$/.exec(line);
  if (!m || !CHUNK_EXT.test(m[2])) throw new HttpError(400, 'invalid chunk size');
  const digits = m[1].replace(/^0+(?=.)/, '');
  if (m[1].length > 16 || digits.length > 13) throw new HttpError(400, 'chunk size too large');
  return parseInt(digits, 16);
}

/**
 * Tracks where one message's body ends, fed the bytes as they arrive. It never holds a body:
 * `feed` says how many of the given bytes belong to it, and the caller forwards them.
 */
export class BodyReader {
  private remaining: number;
  private state = Chunk.Size;
  private line = '';
  /** Trailer lines read (each ends with CRLF); the empty one ends the body. */
  private trailerLineBytes = 0;

  constructor(private readonly framing: Framing) {
    this.remaining = framing.kind === 'length' ? framing.length : 0;
  }

  /** The body ends when the connection does (a response with neither length nor chunking). */
  get closeDelimited(): boolean {
    return this.framing.kind === 'close';
  }

  get done(): boolean {
    switch (this.framing.kind) {
      case 'none':
        return true;
      case 'length':
        return this.remaining === 0;
      case 'chunked':
        return this.state === Chunk.Done;
      case 'close':
        return false;
    }
  }

  /** Bytes of `buf` from `offset` that belong to this body (the rest belongs to the next message). */
  feed(buf: Buffer, offset: number): number {
    const avail = buf.length - offset;
    switch (this.framing.kind) {
      case 'none':
        return 0;
      case 'close':
        return avail;
      case 'length': {
        const n = Math.min(avail, this.remaining);
        this.remaining -= n;
        return n;
      }
      case 'chunked':
        return this.feedChunked(buf, offset);
    }
  }

  private feedChunked(buf: Buffer, offset: number): number {
    let i = offset;
    while (i < buf.length && this.state !== Chunk.Done) {
      switch (this.state) {
        case Chunk.Size:
        case Chunk.Trailer: {
          const lf = buf.indexOf(0x0a, i);
          const end = lf < 0 ? buf.length : lf + 1;
          this.line += buf.toString('latin1', i, end);
          i = end;
          if (this.line.length > MAX_LINE) throw new HttpError(400, 'chunk line too long');
          if (lf < 0) break;
          if (!this.line.endsWith('\r\n')) throw new HttpError(400, 'a chunk line ends in a bare LF');
          const line = this.line.slice(0, -2);
          this.line = '';
          if (this.state === Chunk.Size) {
            this.remaining = chunkSize(line);
            this.state = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
          } else if (line === '') {
            this.state = Chunk.Done;
          } else if ((this.trailerLineBytes += line.length + 2) > MAX_LINE * 4) {
            throw new HttpError(431, 'trailers too large');
          } else {
            // A trailer is a field line like a header; one the upstream would read differently
            // (folded, a bad name, a bare control byte) is refused like a bad header.
            parseField(line);
          }
          break;
        }
        case Chunk.Data: {
          const n = Math.min(buf.length - i, this.remaining);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = Chunk.DataEnd;
          break;
        }
        case Chunk.DataEnd: {
          // CR then LF, possibly split across reads.
          this.line += String.fromCharCode(buf[i++]);
          if (this.line.length === 2) {
            if (this.line !== '\r\n') throw new HttpError(400, 'chunk data not followed by CRLF');
            this.line = '';
            this.state = Chunk.Size;
          }
          break;
        }
      }
    }
    return i - offset;
  }
}
