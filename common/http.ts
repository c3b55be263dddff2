// /metrics (Prometheus text format), /healthz (the process serves) and /readyz (named checks,
// their reasons withheld from the body and logged).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { splitHostPort } from './config.js';
import type { Logger } from './log.js';

/** A readiness check returns null when ready, or why not. */
export type ReadinessCheck = () => string | null;

export interface HttpEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpEndpoint(opts: {
  address: string;
  registry: Registry;
  readiness: Record<string, ReadinessCheck>;
  log: Logger;
}): Promise<HttpEndpoint> {
  // Each check's last reason, so a probe every few seconds logs a change once, not every probe.
  const last = new Map<string, string | null>();
  const logChanges = (results: ReadonlyArray<readonly [string, string | null]>): void => {
    for (const [name, why] of results) {
      if ((last.get(name) ?? null) === why) continue;
      if (why === null) opts.log.info({ check: name }, 'readiness check passes');
      else opts.log.warn({ check: name, reason: why }, 'readiness check fails');
      last.set(name, why);
    }
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (err: unknown) => {
          opts.log.error({ err }, 'metrics collection failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(err)}\n`);
        },
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const results = Object.entries(opts.readiness).map(([name, check]) => [name, check()] as const);
      logChanges(results);
      // Names only, as kube-apiserver's /readyz: whoever reaches the port (any pod, on a host
      // network agent) learns that a check fails, not the internals its reason names; the reason
      // is in the log and in the node's status conditions.
      const lines = results.map(([name, why]) => (why === null ? `[+]${name} ok` : `[-]${name} failed: reason withheld`));
      const ready = results.every(([, why]) => why === null);
      const verbose = /(^|&)verbose(=|&|$)/.test((req.url ?? '').split('?')[1] ?? '');
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready && !verbose ? 'ok\n' : `${lines.join('\n')}\n${ready ? 'ok' : 'not ready'}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const { host, port } = splitHostPort(opts.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  opts.log.info({ address: `${host}:${bound}` }, 'serving /metrics, /healthz, /readyz');
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
