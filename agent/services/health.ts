// healthCheckNodePort: a LoadBalancer Service of externalTrafficPolicy Local asks every node to
// answer HTTP on that port, 200 while the node has a ready local endpoint and 503 otherwise, so
// the load balancer sends only to nodes that will not drop. kube-proxy answers them; in replace
// mode Weir does. The servers run in a child process in the node's network namespace (the
// agent's own on a real node; a sandbox node's through nsenter), fed the table on stdin.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../common/log.js';

export interface HealthCheck {
  port: number;
  namespace: string;
  name: string;
  /** Ready endpoints of the service on this node. */
  localEndpoints: number;
}

/** The node's health-check ports, from Services and EndpointSlices as the API returns them. */
export function healthChecks(services: readonly V1Service[], slices: readonly V1EndpointSlice[], nodeName: string): HealthCheck[] {
  const local = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata?.namespace}/${svc}`;
    const set = local.get(key) ?? new Set<string>();
    local.set(key, set);
    for (const e of s.endpoints ?? []) if (e.nodeName === nodeName && e.conditions?.ready !== false) for (const a of e.addresses) set.add(a);
  }
  const out: HealthCheck[] = [];
  for (const svc of services) {
    const port = svc.spec?.healthCheckNodePort;
    if (svc.spec?.type !== 'LoadBalancer' || svc.spec.externalTrafficPolicy !== 'Local' || !port) continue;
    const namespace = svc.metadata?.namespace ?? '';
    const name = svc.metadata?.name ?? '';
    out.push({ port, namespace, name, localEndpoints: local.get(`${namespace}/${name}`)?.size ?? 0 });
  }
  return out.sort((a, b) => a.port - b.port);
}

/** What the child reports: for which table (`generation`), the ports it serves, those it could not listen on and why. */
export interface HealthServerReport {
  generation: number;
  serving: number[];
  failed: Record<string, string>;
}

/** A table line: the agent numbers each table so a report can be matched to it. */
interface HealthTable {
  generation: number;
  checks: HealthCheck[];
}

/**
 * How soon a port another process holds is tried again, doubling to the cap. A migration from
 * kube-proxy frees the port when kube-proxy stops; the load balancer's next probe must find Weir.
 */
export const HEALTH_RETRY_MS = { first: 500, max: 5000 };

/** The child's main: the servers for the latest table from stdin, a report on stdout whenever what it serves changes. */
export function runHealthServers(retry = HEALTH_RETRY_MS): void {
  const servers = new Map<number, Server>();
  let table = new Map<number, HealthCheck>();
  let generation = 0;
  const failed = new Map<number, string>();
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = retry.first;
  const report = () =>
    process.stdout.write(`${JSON.stringify({ generation, serving: [...servers.keys()].sort((a, b) => a - b), failed: Object.fromEntries([...failed].map(([p, why]) => [String(p), why])) } satisfies HealthServerReport)}\n`);

  // As kube-proxy answers: the service, its local endpoint count, 200 or 503.
  const listen = (port: number): Promise<void> => {
    const srv = createServer((_req, res) => {
      const h = table.get(port);
      const body = JSON.stringify({ service: { namespace: h?.namespace, name: h?.name }, localEndpoints: h?.localEndpoints ?? 0, serviceProxyHealthy: true });
      res.writeHead(h && h.localEndpoints > 0 ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
      res.end(body);
    });
    return new Promise((resolve) => {
      srv.once('error', (err: NodeJS.ErrnoException) => {
        failed.set(port, err.code ?? err.message);
        resolve();
      });
      srv.listen(port, '0.0.0.0', () => {
        // The table may have dropped the port while it opened.
        if (table.has(port)) {
          servers.set(port, srv);
          failed.delete(port);
        } else srv.close();
        resolve();
      });
    });
  };

  /** Ports of the table not served yet: tried now, and again with backoff while any still fails. */
  const open = async (): Promise<void> => {
    clearTimeout(retryTimer);
    retryTimer = undefined;
    await Promise.all([...table.keys()].filter((p) => !servers.has(p)).map(listen));
    report();
    if (failed.size > 0) {
      retryTimer = setTimeout(() => void open(), retryMs);
      retryMs = Math.min(retryMs * 2, retry.max);
    } else retryMs = retry.first;
  };

  let queue = Promise.resolve();
  createInterface({ input: process.stdin }).on('line', (line) => {
    const next = JSON.parse(line) as HealthTable;
    queue = queue.then(async () => {
      generation = next.generation;
      table = new Map(next.checks.map((h) => [h.port, h]));
      for (const [port, srv] of servers)
        if (!table.has(port)) {
          srv.close();
          servers.delete(port);
        }
      for (const port of failed.keys()) if (!table.has(port)) failed.delete(port);
      retryMs = retry.first;
      await open();
    });
  });
  process.stdin.on('end', () => process.exit(0));
}

/** The agent's side: one child, started when the first table comes, restarted by the next pass after it exits. */
export class HealthServers {
  private child?: ChildProcess;
  private sent = '';
  private generation = 0;
  private lastReport: HealthServerReport = { generation: 0, serving: [], failed: {} };

  /** `changed`: a report that differs from the last (a held port freed, a table applied): the agent's next pass reports it. */
  constructor(
    private readonly opts: { netns: string | null; cli: string },
    private readonly log: Logger,
    private readonly changed: () => void = () => undefined,
  ) {}

  /** Ports that could not be served (held by another process: kube-proxy still running), retried until free. */
  get problems(): string[] {
    return Object.entries(this.lastReport.failed).map(([port, why]) => `healthCheckNodePort ${port} cannot be served (${why}); retrying`);
  }

  /** The ports answering now, once the child has applied the latest table; undefined until then. */
  get serving(): number[] | undefined {
    return this.lastReport.generation === this.generation ? this.lastReport.serving : undefined;
  }

  sync(table: readonly HealthCheck[]): void {
    const checks = JSON.stringify(table);
    if (table.length === 0 && !this.child) return;
    if (!this.child) {
      const args = [this.opts.cli, 'service-health'];
      const exec = this.opts.netns ? ['nsenter', `--net=${this.opts.netns}`, '--', process.execPath, ...args] : [process.execPath, ...args];
      const child = spawn(exec[0], exec.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
      this.child = child;
      this.sent = '';
      child.stdin.on('error', () => undefined);
      createInterface({ input: child.stdout }).on('line', (l) => {
        let r: HealthServerReport;
        try {
          r = JSON.parse(l) as HealthServerReport;
        } catch {
          return; // Not a report.
        }
        const before = JSON.stringify(this.lastReport);
        this.lastReport = r;
        if (JSON.stringify(r) !== before) this.changed();
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        this.lastReport = { generation: -1, serving: [], failed: {} };
        if (code !== 0 && signal !== 'SIGTERM') {
          this.log.warn({ code, signal }, 'health-check server exited; the next pass restarts it');
          this.changed();
        }
      });
    }
    if (checks !== this.sent) {
      this.generation++;
      this.child.stdin!.write(`${JSON.stringify({ generation: this.generation, checks: [...table] } satisfies HealthTable)}\n`);
      this.sent = checks;
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
}
