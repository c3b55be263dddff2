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

/** What the child reports after each table: the ports it could not listen on, and why. */
export interface HealthServerReport {
  failed: Record<string, string>;
}

/** The child's main: the servers for the latest table from stdin, a report per table on stdout. */
export function runHealthServers(): void {
  const servers = new Map<number, Server>();
  let table = new Map<number, HealthCheck>();
  const failed: Record<string, string> = {};
  const report = () => process.stdout.write(`${JSON.stringify({ failed } satisfies HealthServerReport)}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    table = new Map((JSON.parse(line) as HealthCheck[]).map((h) => [h.port, h]));
    for (const [port, srv] of servers)
      if (!table.has(port)) {
        srv.close();
        servers.delete(port);
      }
    for (const k of Object.keys(failed)) if (!table.has(Number(k))) delete failed[k];
    const opening: Array<Promise<void>> = [];
    for (const port of table.keys()) {
      if (servers.has(port)) continue;
      // As kube-proxy answers: the service, its local endpoint count, 200 or 503.
      const srv = createServer((_req, res) => {
        const h = table.get(port);
        const body = JSON.stringify({ service: { namespace: h?.namespace, name: h?.name }, localEndpoints: h?.localEndpoints ?? 0, serviceProxyHealthy: true });
        res.writeHead(h && h.localEndpoints > 0 ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
        res.end(body);
      });
      servers.set(port, srv);
      opening.push(
        new Promise((resolve) => {
          srv.once('error', (err: NodeJS.ErrnoException) => {
            failed[String(port)] = err.code ?? err.message;
            servers.delete(port);
            resolve();
          });
          srv.listen(port, '0.0.0.0', () => {
            delete failed[String(port)];
            resolve();
          });
        }),
      );
    }
    void Promise.all(opening).then(report);
  });
  process.stdin.on('end', () => process.exit(0));
}

/** The agent's side: one child, started when the first table comes, restarted by the next pass after it exits. */
export class HealthServers {
  private child?: ChildProcess;
  private sent = '';
  private lastReport: HealthServerReport = { failed: {} };

  constructor(
    private readonly opts: { netns: string | null; cli: string },
    private readonly log: Logger,
  ) {}

  /** Ports that could not be served (held by another process: kube-proxy still running). */
  get problems(): string[] {
    return Object.entries(this.lastReport.failed).map(([port, why]) => `healthCheckNodePort ${port} cannot be served (${why})`);
  }

  sync(table: readonly HealthCheck[]): void {
    const line = JSON.stringify(table);
    if (table.length === 0 && !this.child) return;
    if (!this.child) {
      const args = [this.opts.cli, 'service-health'];
      const exec = this.opts.netns ? ['nsenter', `--net=${this.opts.netns}`, '--', process.execPath, ...args] : [process.execPath, ...args];
      const child = spawn(exec[0], exec.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
      this.child = child;
      this.sent = '';
      child.stdin.on('error', () => undefined);
      createInterface({ input: child.stdout }).on('line', (l) => {
        try {
          this.lastReport = JSON.parse(l) as HealthServerReport;
        } catch {
          // Not a report.
        }
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (code !== 0 && signal !== 'SIGTERM') this.log.warn({ code, signal }, 'health-check server exited; the next pass restarts it');
      });
    }
    if (line !== this.sent) {
      this.child.stdin!.write(`${line}\n`);
      this.sent = line;
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
