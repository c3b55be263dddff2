// Test traffic, run inside pod namespaces: `node traffic.mjs <mode> ...`. Plain JavaScript so it
// starts without a compiler; prints one JSON line (clients) or "ready" (servers).
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';

const [mode, ...args] = process.argv.slice(2);
const out = (v) => process.stdout.write(`${JSON.stringify(v)}\n`);

/** Deterministic bytes, so both ends can agree on what was sent. */
function chunkAt(i, size) {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j += 4) b.writeUInt32LE(Math.imul(i * size + j, 2654435761) >>> 0, j);
  return b;
}

const modes = {
  // Accepts connections: greets with its name, then digests whatever the client sends until it
  // half-closes, and answers "sha256 bytes".
  'serve-tcp'(port, name) {
    const srv = net.createServer((s) => {
      s.write(`${name}\n`);
      const h = createHash('sha256');
      let n = 0;
      s.on('data', (d) => {
        h.update(d);
        n += d.length;
      });
      s.on('end', () => s.end(`${h.digest('hex')} ${n}\n`));
      s.on('error', () => s.destroy());
    });
    srv.listen(Number(port), () => console.log('ready'));
  },
  // Echoes every byte back (for flows whose client checks what returns, and when).
  'serve-echo'(port) {
    const srv = net.createServer((s) => {
      s.pipe(s);
      s.on('error', () => s.destroy());
    });
    srv.listen(Number(port), () => console.log('ready'));
  },
  // A steady flow for `seconds`: 4 KiB every 10 ms to an echo server; reports the bytes sent and
  // echoed back, whether they match, and the longest gap between two echoed chunks (a stall).
  'tcp-flow'(host, port, seconds) {
    const s = net.connect(Number(port), host);
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let nSent = 0;
    let nGot = 0;
    let last = 0;
    let maxGap = 0;
    let timer;
    let i = 0;
    const finish = (error) => {
      clearInterval(timer);
      out({ error, sent: nSent, received: nGot, intact: error === null && nSent === nGot && sent.digest('hex') === got.digest('hex'), maxGapMs: maxGap, localPort: s.localPort });
      s.destroy();
      process.exit(0);
    };
    s.on('connect', () => {
      last = Date.now();
      console.log(`ready ${s.localPort}`);
      timer = setInterval(() => {
        const b = chunkAt(i++, 4096);
        sent.update(b);
        nSent += b.length;
        s.write(b);
      }, 10);
      setTimeout(() => {
        clearInterval(timer);
        // Let the last echoes come back before judging.
        const wait = setInterval(() => {
          if (nGot >= nSent) {
            clearInterval(wait);
            finish(null);
          }
        }, 20);
        setTimeout(() => finish(nGot === nSent ? null : 'echo incomplete'), 5000);
      }, Number(seconds) * 1000);
    });
    s.on('data', (d) => {
      const now = Date.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      got.update(d);
      nGot += d.length;
    });
    s.on('error', (e) => finish(e.code));
    s.on('close', () => finish(nGot === nSent ? null : 'closed'));
  },
  // `count` steady flows at once to an echo server for `seconds` (a `chunk`-byte write every
  // `intervalMs` on each): prints "ready N" once all are connected, then one line: how many came
  // through intact (every byte echoed back, in order), the bytes, the longest stall, and the first
  // few failures. A connection that is not up within 3 s is tried again, for up to `connectS`: a
  // pod may start before its node has programmed the Service it calls, and a stream that never
  // began has lost nothing (once connected, every error counts). Until all are up it says every
  // 5 s how many are and the last connect error, so a run that never gets there shows why.
  'tcp-flows'(host, port, count, seconds, chunk = '1024', intervalMs = '100', connectS = '120') {
    const n = Number(count);
    const results = [];
    let connected = 0;
    let lastConnectError = null;
    const giveUpAt = Date.now() + Number(connectS) * 1000;
    const progress = setInterval(() => console.log(`connected ${connected} of ${n}, last connect error ${lastConnectError}`), 5000);
    const one = (k) => {
      const s = net.connect(Number(port), host);
      let up = false;
      const attempt = setTimeout(() => retry('ETIMEDOUT'), 3000);
      const retry = (code) => {
        clearTimeout(attempt);
        s.removeAllListeners();
        s.on('error', () => undefined);
        s.destroy();
        lastConnectError = code;
        if (Date.now() < giveUpAt) setTimeout(() => one(k), 200);
        else finish(`connect ${code}`);
      };
      const sent = createHash('sha256');
      const got = createHash('sha256');
      const r = { sent: 0, received: 0, maxGapMs: 0, error: null };
      let last = 0;
      let timer;
      let i = 0;
      let done = false;
      const finish = (error) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        r.error = error ?? (r.sent === r.received ? null : 'echo incomplete');
        r.intact = r.error === null && sent.digest('hex') === got.digest('hex');
        s.destroy();
        results.push(r);
        if (results.length === n) {
          const broken = results.filter((x) => !x.intact);
          out({
            streams: n,
            intact: n - broken.length,
            sent: results.reduce((a, x) => a + x.sent, 0),
            received: results.reduce((a, x) => a + x.received, 0),
            maxGapMs: Math.max(...results.map((x) => x.maxGapMs)),
            failures: broken.slice(0, 5).map((x) => x.error),
          });
          process.exit(0);
        }
      };
      s.on('connect', () => {
        up = true;
        clearTimeout(attempt);
        last = Date.now();
        if (++connected === n) {
          clearInterval(progress);
          console.log(`ready ${n}`);
        }
        timer = setInterval(() => {
          const b = chunkAt(k * 1e6 + i++, Number(chunk));
          sent.update(b);
          r.sent += b.length;
          s.write(b);
        }, Number(intervalMs));
        setTimeout(() => {
          clearInterval(timer);
          const wait = setInterval(() => r.received >= r.sent && (clearInterval(wait), finish(null)), 20);
          setTimeout(() => finish(null), 10_000);
        }, Number(seconds) * 1000);
      });
      s.on('data', (d) => {
        const now = Date.now();
        r.maxGapMs = Math.max(r.maxGapMs, now - last);
        last = now;
        got.update(d);
        r.received += d.length;
      });
      s.on('error', (e) => (up ? finish(e.code) : retry(e.code)));
      s.on('close', () => up && finish(r.received === r.sent ? null : 'closed'));
    };
    for (let k = 0; k < n; k++) one(k);
  },
  // A minimal HTTP server (load tests with wrk).
  async 'serve-http'(port) {
    const http = await import('node:http');
    const srv = http.createServer((req, res) => res.end('ok\n'));
    srv.listen(Number(port), () => console.log('ready'));
  },
  'serve-udp'(port, name) {
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(`${name}:${m}`, r.port, r.address));
    s.bind(Number(port), () => console.log('ready'));
  },
  // Listens on UDP (family 4 or 6) for `ms` and reports every datagram: who sent what. With
  // `until`, it reports as soon as a datagram with that text comes (the last one a test sends),
  // so a slow machine can be given a long window without every run waiting it out.
  'udp-log'(family, port, ms, until) {
    const s = dgram.createSocket(family === '6' ? 'udp6' : 'udp4');
    const got = [];
    const done = () => (out({ got }), process.exit(0));
    s.on('message', (m, r) => {
      got.push({ from: r.address, msg: m.length > 64 ? `${m.length} bytes` : m.toString() });
      if (until !== undefined && m.toString() === until) done();
    });
    s.bind(Number(port), () => {
      console.log('ready');
      setTimeout(done, Number(ms));
    });
  },
  // One UDP datagram of `size` bytes (larger than the MTU: the stack sends it in fragments).
  'udp-send'(host, port, size) {
    const s = dgram.createSocket('udp4');
    s.send(Buffer.alloc(Number(size), 0x61), Number(port), host, (err) => (out({ error: err ? err.code : null }), s.close()));
  },
  // One UDP datagram over IPv6 (a link-local address with its %interface works).
  'udp6-send'(host, port, msg) {
    const s = dgram.createSocket('udp6');
    s.send(msg, Number(port), host, (err) => (out({ error: err ? err.code : null }), s.close()));
  },
  // What a netpol conformance pod serves: TCP and UDP on each port given (UDP answers each
  // datagram), as the upstream suite's agnhost pods do.
  'serve-ports'(...ports) {
    let pending = ports.length * 2;
    const ready = () => --pending === 0 && console.log('ready');
    for (const port of ports.map(Number)) {
      net.createServer((s) => (s.on('error', () => s.destroy()), s.end('ok\n'))).listen(port, ready);
      const u = dgram.createSocket('udp4');
      u.on('message', (m, r) => u.send('ok', r.port, r.address));
      u.bind(port, ready);
    }
  },
  // Answers on TCP and UDP on every port given with its name and the address it saw the client
  // at ("web-a 192.168.77.200"): which backend a service chose, and whether the source survived.
  'serve-who'(name, ...ports) {
    let pending = ports.length * 2;
    const ready = () => --pending === 0 && console.log('ready');
    for (const port of ports.map(Number)) {
      const v4 = (a) => a.replace(/^::ffff:/, '');
      net.createServer((s) => (s.on('error', () => s.destroy()), s.end(`${name}:${port} ${v4(s.remoteAddress)}\n`))).listen(port, ready);
      const u = dgram.createSocket('udp4');
      u.on('message', (_m, r) => u.send(`${name}:${port} ${r.address}`, r.port, r.address));
      u.bind(port, ready);
    }
  },
  // `n` attempts at a service, one after another (`gapMs` apart): which backends answered (as
  // serve-who names them), from which source they saw the client, and how the others failed.
  async 'svc-probe'(protocol, target, n, timeoutMs, gapMs = '0') {
    const [host, port] = target.split(':');
    const ms = Number(timeoutMs);
    const one = () =>
      new Promise((resolve) => {
        if (protocol === 'TCP') {
          const s = net.connect(Number(port), host);
          let buf = '';
          const done = (r) => (s.destroy(), resolve(r));
          s.on('data', (d) => (buf += d));
          s.on('end', () => done(buf.trim() || 'closed'));
          s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`));
          s.setTimeout(ms, () => done('timeout'));
        } else {
          const s = dgram.createSocket('udp4');
          const timer = setTimeout(() => done('timeout'), ms);
          let finished = false;
          const done = (r) => {
            if (finished) return;
            finished = true;
            clearTimeout(timer);
            s.close();
            resolve(r);
          };
          s.on('message', (m) => done(m.toString()));
          s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`));
          // A refused connect() (a service without endpoints under socket LB) comes to the callback.
          s.connect(Number(port), host, (err) => (err ? done(err.code === 'ECONNREFUSED' ? 'refused' : `error ${err.code}`) : s.send('probe')));
        }
      });
    const outcomes = {};
    for (let i = 0; i < Number(n); i++) {
      if (i > 0 && Number(gapMs) > 0) await new Promise((r) => setTimeout(r, Number(gapMs)));
      const r = await one();
      outcomes[r] = (outcomes[r] ?? 0) + 1;
    }
    out(outcomes);
  },
  // One GET: the status code, or how it failed.
  'http-status'(url, timeoutMs) {
    const req = http.get(url, { timeout: Number(timeoutMs) }, (res) => (res.resume(), out({ status: res.statusCode })));
    req.on('timeout', () => (req.destroy(), out({ status: 'timeout' })));
    req.on('error', (e) => out({ status: e.code === 'ECONNREFUSED' ? 'refused' : req.destroyed ? 'timeout' : `error ${e.code}` }));
  },
  // Probes every target (ip:port) with one protocol at once; reports which answered in time: a
  // TCP connect, or a UDP reply.
  async probe(protocol, timeoutMs, ...targets) {
    const ms = Number(timeoutMs);
    const one = (target) =>
      new Promise((resolve) => {
        const [host, port] = target.split(':');
        if (protocol === 'TCP') {
          const s = net.connect(Number(port), host);
          const done = (ok) => (s.destroy(), resolve(ok));
          s.on('connect', () => done(true));
          s.on('error', () => done(false));
          s.setTimeout(ms, () => done(false));
        } else {
          const s = dgram.createSocket('udp4');
          const timer = setTimeout(() => (s.close(), resolve(false)), ms);
          s.on('message', () => (clearTimeout(timer), s.close(), resolve(true)));
          s.on('error', () => (clearTimeout(timer), s.close(), resolve(false)));
          s.send('probe', Number(port), host);
        }
      });
    out(await Promise.all(targets.map(one)));
  },
  // n sequential connections; counts the names the servers greet with.
  async 'tcp-names'(host, port, n) {
    const seen = {};
    for (let i = 0; i < Number(n); i++) {
      const name = await new Promise((resolve, reject) => {
        const s = net.connect(Number(port), host);
        let buf = '';
        s.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) {
            s.destroy();
            resolve(buf.split('\n')[0]);
          }
        });
        s.on('error', reject);
        s.setTimeout(3000, () => reject(new Error('timeout')));
      });
      seen[name] = (seen[name] ?? 0) + 1;
    }
    out(seen);
  },
  // One connection attempt: connected, refused, or timeout.
  'tcp-try'(host, port, timeoutMs) {
    const s = net.connect(Number(port), host);
    const done = (r) => {
      s.destroy();
      out(r);
    };
    s.on('connect', () => done('connected'));
    s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code));
    s.setTimeout(Number(timeoutMs), () => done('timeout'));
  },
  // A connection attempt every `intervalMs` for `ms`, each given `tryMs`: when each started (ms
  // since the epoch, this machine's clock) and how it ended. For "not one packet passes after".
  'tcp-sample'(host, port, ms, intervalMs = '50', tryMs = '300') {
    const samples = [];
    const end = Date.now() + Number(ms);
    let open = 0;
    const finish = () => open === 0 && Date.now() >= end && out(samples);
    const attempt = () => {
      if (Date.now() >= end) return finish();
      const sample = { t: Date.now(), r: 'pending' };
      samples.push(sample);
      open++;
      const s = net.connect(Number(port), host);
      const done = (r) => {
        if (sample.r !== 'pending') return;
        sample.r = r;
        s.destroy();
        open--;
        finish();
      };
      s.on('connect', () => done('connected'));
      s.on('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : e.code));
      s.setTimeout(Number(tryMs), () => done('timeout'));
      setTimeout(attempt, Number(intervalMs));
    };
    attempt();
  },
  // One datagram to host:port; reports who answered and what.
  'udp-ask'(host, port, connected) {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      out({ error: 'timeout' });
      s.close();
    }, 3000);
    s.on('message', (m, r) => {
      clearTimeout(timer);
      out({ from: r.address, port: r.port, reply: m.toString() });
      s.close();
    });
    if (connected === '1') s.connect(Number(port), host, () => s.send('hi'));
    else s.send('hi', Number(port), host);
  },
  // Streams `bytes` deterministic bytes, half-closes, and compares with the server's digest.
  'tcp-stream'(host, port, bytes, chunk = '65536') {
    const total = Number(bytes);
    const size = Number(chunk);
    const h = createHash('sha256');
    const s = net.connect(Number(port), host);
    let reply = '';
    let sent = 0;
    let i = 0;
    const pump = () => {
      while (sent < total) {
        const b = chunkAt(i++, Math.min(size, total - sent));
        h.update(b);
        sent += b.length;
        if (!s.write(b)) return s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', pump);
    s.on('data', (d) => (reply += d));
    s.on('end', () => {
      const lines = reply.trim().split('\n');
      const [remoteDigest, remoteBytes] = (lines[1] ?? '').split(' ');
      out({ greeting: lines[0], sent, localDigest: h.digest('hex'), remoteDigest, remoteBytes: Number(remoteBytes) });
    });
    s.on('error', (e) => out({ error: e.code, sent }));
  },
  // Keeps one connection and sends a small message every 50 ms for `ms`; reports the first error.
  'tcp-hold'(host, port, ms) {
    const s = net.connect(Number(port), host);
    let sent = 0;
    let timer;
    const finish = (r) => {
      clearInterval(timer);
      s.destroy();
      out({ ...r, sent });
      process.exit(0);
    };
    s.on('connect', () => {
      console.log('ready');
      timer = setInterval(() => {
        s.write('x'.repeat(100), (err) => {
          if (err) finish({ error: err.code });
          else sent++;
        });
      }, 50);
      setTimeout(() => finish({ error: null }), Number(ms));
    });
    s.on('error', (e) => finish({ error: e.code }));
  },
};

/**
 * One side of a close sequence (test/sandbox/datapath.priv.test.ts): what each side sends, when it
 * ends its half, when it resets. `io` tracks what was sent and received; both sides report digests
 * of both, so the test can prove no byte was lost, duplicated or reordered.
 */
const CLOSE_SCRIPTS = {
  // The client streams and half-closes; the server answers once it has read to the end.
  'client-half-close': {
    client: async (io, n) => (await io.send(n), io.end()),
    server: async (io) => (await io.send(64), await io.eof, await io.send(80), io.end()),
  },
  // The server streams and half-closes; the client answers once it has read to the end.
  'server-half-close': {
    client: async (io) => (await io.eof, await io.send(80), io.end()),
    server: async (io, n) => (await io.send(n), io.end()),
  },
  'both-close': {
    client: async (io, n) => (await io.send(n), io.end()),
    server: async (io, n) => (await io.send(n), io.end()),
  },
  // Every byte is acknowledged before the reset, so what each side must have read is exact.
  'client-reset': {
    client: async (io, n) => (await io.send(n), await io.waitFor(16), io.reset()),
    server: async (io, n) => (await io.waitFor(n), await io.send(16)),
  },
  'server-reset': {
    client: async (io, n) => (await io.waitFor(n), await io.send(16)),
    server: async (io, n) => (await io.send(n), await io.waitFor(16), io.reset()),
  },
  // The server (sandbox/closepeer.py) shuts down reading and says so; the client writes after that.
  'peer-shut-rd': {
    client: async (io, n) => (await io.waitFor(16), await io.send(n), io.end()),
  },
  // The server (sandbox/closepeer.py) never reads what it was sent and closes with it queued.
  'close-unread': {
    client: async (io, n) => (await io.send(n), await io.eof, io.end()),
  },
};

function closeSide(s, role, scenario, bytes) {
  const script = CLOSE_SCRIPTS[scenario]?.[role];
  if (!script) throw new Error(`unknown close scenario ${scenario}`);
  const sentHash = createHash('sha256');
  const gotHash = createHash('sha256');
  const r = { sent: 0, received: 0, end: null, localPort: s.localPort };
  let seq = role === 'client' ? 0 : 1 << 20;
  let waiter = null;
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    out({ ...r, sentDigest: sentHash.digest('hex'), receivedDigest: gotHash.digest('hex') });
    process.exit(0);
  };
  let eofSeen;
  const eof = new Promise((resolve) => (eofSeen = resolve));
  const io = {
    eof,
    async send(n) {
      for (let left = n; left > 0; ) {
        const b = chunkAt(seq++, Math.min(65536, left));
        left -= b.length;
        sentHash.update(b);
        r.sent += b.length;
        if (!s.write(b)) await new Promise((res) => s.once('drain', res));
      }
      await new Promise((res) => s.write(Buffer.alloc(0), res));
    },
    end: () => s.end(),
    reset: () => ((r.end ??= 'reset'), s.resetAndDestroy()),
    waitFor: (n) => (r.received >= n ? Promise.resolve() : new Promise((res) => (waiter = { n, res }))),
  };
  s.on('data', (d) => {
    gotHash.update(d);
    r.received += d.length;
    if (waiter && r.received >= waiter.n) waiter.res();
  });
  s.on('end', () => ((r.end ??= 'eof'), eofSeen()));
  s.on('error', (e) => (r.end ??= e.code));
  s.on('close', finish);
  setTimeout(() => ((r.end ??= 'timeout'), finish()), 20_000);
  script(io, Number(bytes)).catch((e) => ((r.end ??= `script: ${e.message}`), finish()));
}

Object.assign(modes, {
  // One connection on `port`, playing the server side of a close scenario; reports at close.
  'close-serve'(port, scenario, bytes) {
    const srv = net.createServer({ allowHalfOpen: true }, (s) => {
      srv.close();
      closeSide(s, 'server', scenario, bytes);
    });
    srv.listen(Number(port), () => console.log('ready'));
  },
  'close-client'(host, port, scenario, bytes) {
    const s = net.connect({ host, port: Number(port), allowHalfOpen: true });
    s.on('connect', () => closeSide(s, 'client', scenario, bytes));
    s.on('error', (e) => !s.localPort && out({ end: e.code }));
  },
});

// HTTP for the L7 proxy tests: a server that answers "<name> <method> <path>", digests POST
// bodies, and echoes an upgraded connection; clients that report what came back.
const httpModes = {
  'serve-http'(port, name) {
    const srv = http.createServer((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (d) => (h.update(d), (n += d.length)));
      req.on('end', () => res.end(req.method === 'POST' ? `${h.digest('hex')} ${n}` : `${name} ${req.method} ${req.url}`));
    });
    srv.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.pipe(socket);
    });
    srv.listen(Number(port), () => console.log('ready'));
  },
  // Requests in turn on one keep-alive connection ("GET /a", "POST /b", "GET http://x/ host=y"
  // for a given Host header); statuses and bodies, and how many connections carried them. Targets
  // go on the wire exactly as written.
  async 'http-seq'(host, port, ...reqs) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set();
    const results = [];
    for (const r of reqs) {
      const [method, path, hostHeader] = r.split(' ');
      const headers = hostHeader?.startsWith('host=') ? { host: hostHeader.slice(5) } : {};
      results.push(
        await new Promise((resolve) => {
          const q = http.request({ host, port: Number(port), method, path, agent, headers }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode, body }));
          });
          q.on('socket', (s) => s.once('connect', () => ports.add(s.localPort)));
          q.on('error', (e) => resolve({ error: e.code }));
          q.setTimeout(5000, () => q.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
          q.end();
        }),
      );
    }
    agent.destroy();
    out({ results, connections: ports.size });
  },
  // GET `path` every `every` ms for `ms` on one keep-alive connection; the statuses in order.
  async 'http-poll'(host, port, path, ms, every) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set();
    const statuses = [];
    const end = Date.now() + Number(ms);
    console.log('ready');
    while (Date.now() < end) {
      statuses.push(
        await new Promise((resolve) => {
          const q = http.request({ host, port: Number(port), path, agent }, (res) => (res.resume(), res.on('end', () => resolve(res.statusCode))));
          q.on('socket', (s) => s.once('connect', () => ports.add(s.localPort)));
          q.on('error', (e) => resolve(e.code));
          q.setTimeout(3000, () => q.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
          q.end();
        }),
      );
      await new Promise((r) => setTimeout(r, Number(every)));
    }
    agent.destroy();
    out({ statuses, connections: ports.size });
  },
  // POSTs `bytes` deterministic bytes (chunked) and compares the server's digest.
  'http-upload'(host, port, path, bytes) {
    const total = Number(bytes);
    const h = createHash('sha256');
    const q = http.request({ host, port: Number(port), method: 'POST', path, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => out({ status: res.statusCode, sent: total, localDigest: `${h.digest('hex')} ${total}`, remoteDigest: body }));
    });
    q.on('error', (e) => out({ error: e.code }));
    let sent = 0;
    let i = 0;
    const pump = () => {
      while (sent < total) {
        const b = chunkAt(i++, Math.min(65536, total - sent));
        h.update(b);
        sent += b.length;
        if (!q.write(b)) return q.once('drain', pump);
      }
      q.end();
    };
    pump();
  },
  // An Upgrade request, then a message that must come back.
  'http-upgrade'(host, port, path) {
    const s = net.connect(Number(port), host);
    let buf = '';
    let upgraded = false;
    s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`));
    s.on('data', (d) => {
      buf += d;
      if (!upgraded && buf.includes('\r\n\r\n')) {
        const status = Number(buf.split(' ')[1]);
        if (status !== 101) return (out({ status }), s.destroy());
        upgraded = true;
        buf = '';
        s.write('ping-through-the-proxy');
      } else if (upgraded && buf === 'ping-through-the-proxy') {
        out({ status: 101, echoed: buf });
        s.destroy();
      }
    });
    s.on('error', (e) => out({ error: e.code }));
    s.setTimeout(5000, () => (out({ error: 'TIMEOUT', got: buf }), s.destroy()));
  },
};
Object.assign(modes, httpModes);

const fn = modes[mode];
if (!fn) {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
Promise.resolve(fn(...args)).catch((e) => {
  out({ error: e.message });
  process.exit(1);
});
