// `weir l7-proxy`: the node's L7 proxy as its own process, started and fed by the agent
// (supervisor.ts). It runs in the node's network namespace (bpf_sk_assign hands it sockets of that
// namespace only) and in a cgroup of its own (the datapath tells its upstream connections by it).
// It reads the node's L7 rules and local endpoints from stdin, one JSON object per line, and the
// identity of other addresses from the pinned ipcache; it serves its own /metrics.
import { writeSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BpfMap } from 'libbpfjs';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ReservedIdentity } from '../../api/v1alpha1/index.js';
import type { Logger } from '../../common/log.js';
import { ipcacheMap } from '../../common/maps/ipcache.js';
import { TypedMap } from '../maps/typed.js';
import { PolicyFlows, type ProxyState } from './flows.js';
import { L7Proxy, proxyMetrics } from './proxy.js';

export interface L7ProxyOptions {
  port: number;
  bpffsRoot: string;
  /** host:port for /metrics (in the node's namespace). */
  metricsAddress: string;
}

export async function runL7Proxy(opts: L7ProxyOptions, log: Logger): Promise<void> {
  const ipcache = new TypedMap(ipcacheMap, BpfMap.openPinned(join(opts.bpffsRoot, ipcacheMap.name)));
  const identityOf = (addr: string): number => {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(addr)) return ReservedIdentity.World;
    return ipcache.get({ prefixlen: 64, family: 4, addr })?.identity ?? ReservedIdentity.World;
  };
  const flows = new PolicyFlows(identityOf);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'weir_l7_proxy_' });
  const proxy = new L7Proxy(flows, log, proxyMetrics(registry), { transparent: true });

  // The agent's first state comes before the port opens: no request is judged on nothing.
  const lines = createInterface({ input: process.stdin });
  let first: () => void;
  const ready = new Promise<void>((r) => (first = r));
  lines.on('line', (line) => {
    try {
      flows.update(JSON.parse(line) as ProxyState);
      first();
    } catch (err) {
      log.error({ err }, 'l7 proxy: a state line the agent sent could not be read; keeping the last');
    }
  });
  // The agent is gone: so is the proxy (the next agent starts its own).
  lines.on('close', () => void shutdown('stdin closed'));
  await ready;
  const port = await proxy.listen(opts.port);

  const [host, metricsPort] = opts.metricsAddress.split(':');
  const metrics = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  await new Promise<void>((r) => metrics.listen(Number(metricsPort), host, r));
  log.info({ port, metrics: opts.metricsAddress }, 'l7 proxy listening');
  // The agent (supervisor.ts) hears it on fd 3.
  try {
    writeSync(3, 'listening\n');
  } catch {
    // Run by hand, without the agent.
  }

  let closing = false;
  async function shutdown(why: string): Promise<void> {
    if (closing) return;
    closing = true;
    log.info({ why }, 'l7 proxy stopping');
    metrics.close();
    await proxy.close();
    ipcache.raw.close();
    log.flush();
    process.exit(0);
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
