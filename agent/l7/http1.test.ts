import { BodyReader, HttpError, headEnd, parseRequestHead, parseResponseHead, type Framing } from './http1.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const req = (s: string) => parseRequestHead(b(s));
const status = (f: () => unknown): number | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    return err instanceof HttpError ? err.status : -1;
  }
};

/** Feeds `body` to a reader in pieces of `step` bytes; returns how many belonged to the body. */
function consume(framing: Framing, body: string, step: number): { used: number; done: boolean } {
  const r = new BodyReader(framing);
  const buf = b(body);
  let used = 0;
  for (let i = 0; i < buf.length && !r.done; i += step) {
    const piece = buf.subarray(i, Math.min(buf.length, i + step));
    const n = r.feed(piece, 0);
    used += n;
    if (n < piece.length) break;
  }
  return { used, done: r.done };
}

describe('HTTP/1.1 framing', () => {
  it('reads a request head: method, target, lower-case headers, keep-alive, upgrade and 100-continue', () => {
    const h = req('POST /a?b=1 HTTP/1.1\r\nHost: shop\r\nX-Team: blue\r\nx-team: red\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
    expect(h).toMatchObject({ method: 'POST', target: '/a?b=1', version: '1.1', keepAlive: true, upgrade: false, expectContinue: true, framing: { kind: 'length', length: 5 } });
    expect(h.headers['x-team']).toEqual(['blue', 'red']);
    expect(req('GET / HTTP/1.0\r\n\r\n').keepAlive).toBe(false);
    expect(req('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').keepAlive).toBe(true);
    expect(req('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').keepAlive).toBe(false);
    expect(req('GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n').upgrade).toBe(true);
    expect(req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n').framing).toEqual({ kind: 'chunked' });
  });

  it('refuses what the upstream might frame differently (the smuggling cases) and malformed heads', () => {
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n'))).toBe(400);
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'))).toBe(400);
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n'))).toBe(400);
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n'))).toBe(501);
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n folded\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET / HTTP/1.1\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'))).toBe(400);
    expect(status(() => req('GET / HTTP/2.0\r\nHost: a\r\n\r\n'))).toBe(505);
    expect(status(() => req('CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'))).toBe(501);
    expect(status(() => req('GARBAGE\r\n\r\n'))).toBe(400);
  });

  it('frames responses by method and status: HEAD, 1xx, 204 and 304 carry no body; neither length nor chunked runs to the close', () => {
    expect(parseResponseHead(b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'), 'HEAD').framing).toEqual({ kind: 'none' });
    expect(parseResponseHead(b('HTTP/1.1 204 No Content\r\n\r\n'), 'GET').framing).toEqual({ kind: 'none' });
    expect(parseResponseHead(b('HTTP/1.1 100 Continue\r\n\r\n'), 'POST')).toMatchObject({ status: 100, framing: { kind: 'none' } });
    const close = parseResponseHead(b('HTTP/1.1 200 OK\r\n\r\n'), 'GET');
    expect(close).toMatchObject({ framing: { kind: 'close' }, keepAlive: false });
    expect(parseResponseHead(b('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n'), 'GET').keepAlive).toBe(false);
    expect(parseResponseHead(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n'), 'GET').keepAlive).toBe(false);
  });

  it('finds where a chunked body ends, however the bytes are split, trailers included', () => {
    const body = '5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n';
    for (const step of [1, 2, 3, 7, 1000]) expect(consume({ kind: 'chunked' }, `${body}GET /next`, step)).toEqual({ used: body.length, done: true });
    expect(consume({ kind: 'chunked' }, '3\r\nab', 1)).toEqual({ used: 5, done: false });
    expect(status(() => consume({ kind: 'chunked' }, 'zz\r\n', 10))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '2\r\nabXY', 10))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '2\nab', 10))).toBe(400);
  });

  it('trims only spaces and tabs: a value ending in VT, FF or NBSP is not the token it resembles', () => {
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0b\r\n\r\n'))).toBe(400);
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0c\r\n\r\n'))).toBe(400);
    // NBSP is obs-text, valid in a value, so the coding is "chunked\xa0": not chunked, refused.
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\xa0\r\n\r\n'))).toBe(501);
    expect(status(() => req('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\xa0\r\n\r\n'))).toBe(400);
    expect(req('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \t chunked \t\r\n\r\n').framing).toEqual({ kind: 'chunked' });
  });

  it('refuses Transfer-Encoding in an HTTP/1.0 request, and reads such a response to the close', () => {
    expect(status(() => req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'))).toBe(400);
    expect(status(() => req('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n'))).toBe(400);
    expect(parseResponseHead(b('HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), 'GET')).toMatchObject({ framing: { kind: 'close' }, keepAlive: false });
  });

  it('validates chunk extensions and trailers, and refuses sizes a number cannot hold exactly', () => {
    const ok = (body: string) => consume({ kind: 'chunked' }, body, 4).done;
    expect(ok('1 ; a = b ;c;d="x\\"y"\r\nz\r\n0\r\nX-T: 1\r\n\r\n')).toBe(true);
    expect(status(() => consume({ kind: 'chunked' }, '1;\r\nz\r\n0\r\n\r\n', 4))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '1;a=\x01\r\nz\r\n0\r\n\r\n', 4))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '1;a="b\r\nz\r\n0\r\n\r\n', 4))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '1 garbage\r\nz\r\n0\r\n\r\n', 4))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '0\r\nBad Name: 1\r\n\r\n', 4))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '0\r\nX: 1\r\n folded\r\n\r\n', 4))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '0\r\nX: a\x00b\r\n\r\n', 4))).toBe(400);
    // 2^52 - 1 and leading zeros are exact; 2^56 is not held exactly by a double's integer part.
    expect(consume({ kind: 'chunked' }, 'fffffffffffff\r\nab', 100)).toEqual({ used: 17, done: false });
    expect(consume({ kind: 'chunked' }, '0001\r\nz\r\n0\r\n\r\n', 100).done).toBe(true);
    expect(status(() => consume({ kind: 'chunked' }, '100000000000001\r\n', 100))).toBe(400);
    expect(status(() => consume({ kind: 'chunked' }, '00000000000000001\r\n', 100))).toBe(400);
  });

  it('counts a Content-Length body exactly and leaves the next message alone', () => {
    expect(consume({ kind: 'length', length: 5 }, 'helloGET / HTTP/1.1', 3)).toEqual({ used: 5, done: true });
    expect(headEnd(b('GET / HTTP/1.1\r\nHost: a\r\n\r\nrest'))).toBe(27);
    expect(headEnd(b('GET / HTTP/1.1\r\nHost: a\r\n'))).toBe(-1);
  });
});
