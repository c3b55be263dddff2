// The agent's end of weir-cni (cni/weir-cni.c): a unix socket that takes the runtime's CNI
// request as the plugin forwards it, and answers with the plugin's exit code and output.
// ADD records the pod and answers once its interface is enforced (the agent attaches it at once,
// with the init identity until NodeDatapath names the pod: everything denied). DEL forgets it.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from '../../common/log.js';
import type { CniEndpoint, CniRegistry } from './registry.js';

export interface CniRequest {
  env: Record<string, string>;
  config: Record<string, unknown>;
}

export interface CniReply {
  code: number;
  output: string;
}

export interface CniHooks {
  registry: CniRegistry;
  /** Resolves once the interface of the pod with this address is attached (the agent reconciles at once). */
  enforced(ip: string, timeoutMs: number): Promise<void>;
  /** Something changed: reconcile soon. */
  changed(): void;
}

/** Parses the plugin's framing: CNI_* lines, an empty line, then the configuration JSON. */
export function parseRequest(raw: string): CniRequest {
  const split = raw.indexOf('\n\n');
  if (split < 0) throw new Error('malformed request from weir-cni');
  const env: Record<string, string> = {};
  for (const line of raw.slice(0, split).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const config = JSON.parse(raw.slice(split + 2)) as Record<string, unknown>;
  return { env, config };
}

const error = (code: number, msg: string, details = ''): CniReply => ({ code: 1, output: `${JSON.stringify({ cniVersion: '1.0.0', code, msg, details })}\n` });

interface PrevResult {
  cniVersion?: string;
  interfaces?: Array<{ name: string; sandbox?: string }>;
  ips?: Array<{ address: string; interface?: number }>;
}

/** The pod as the interface plugin left it: its IPv4 address (the agent finds its veth by it). */
export function endpointOf(req: CniRequest): CniEndpoint | string {
  const prev = req.config.prevResult as PrevResult | undefined;
  if (!prev) return 'weir-cni runs chained after an interface plugin: no prevResult in the configuration';
  const podIfIndex = (prev.interfaces ?? []).findIndex((i) => i.sandbox && i.name === req.env.CNI_IFNAME);
  const ip = (prev.ips ?? []).find((i) => !i.address.includes(':') && (i.interface === undefined || i.interface === podIfIndex))?.address.split('/')[0];
  if (!ip) return `the previous plugin reported no IPv4 address on ${req.env.CNI_IFNAME ?? 'the pod interface'}`;
  const args = Object.fromEntries((req.env.CNI_ARGS ?? '').split(';').filter((kv) => kv.includes('=')).map((kv) => kv.split('=') as [string, string]));
  return {
    containerId: req.env.CNI_CONTAINERID ?? '',
    ip,
    netns: req.env.CNI_NETNS ?? '',
    ...(args.K8S_POD_NAMESPACE ? { podNamespace: args.K8S_POD_NAMESPACE } : {}),
    ...(args.K8S_POD_NAME ? { podName: args.K8S_POD_NAME } : {}),
  };
}

export async function handle(req: CniRequest, hooks: CniHooks, log: Logger, addTimeoutMs: number): Promise<CniReply> {
  const command = req.env.CNI_COMMAND;
  const prev = req.config.prevResult as PrevResult | undefined;
  // A chained plugin passes on what it was given.
  const passOn = (): string => `${JSON.stringify({ ...(prev ?? {}), cniVersion: (req.config.cniVersion as string | undefined) ?? prev?.cniVersion ?? '1.0.0' })}\n`;
  switch (command) {
    case 'ADD': {
      const ep = endpointOf(req);
      if (typeof ep === 'string') return error(4, ep);
      hooks.registry.add(ep);
      hooks.changed();
      try {
        await hooks.enforced(ep.ip, addTimeoutMs);
      } catch (err) {
        // Not enforced in time: fail ADD (the runtime tears the pod down and the kubelet retries).
        hooks.registry.remove(ep.containerId);
        hooks.changed();
        return error(11, 'the weir agent could not enforce the pod in time; try again later', err instanceof Error ? err.message : String(err));
      }
      log.info({ pod: `${ep.podNamespace ?? ''}/${ep.podName ?? ''}`, ip: ep.ip }, 'cni add: pod enforced');
      return { code: 0, output: passOn() };
    }
    case 'DEL':
      hooks.registry.remove(req.env.CNI_CONTAINERID ?? '');
      hooks.changed();
      return { code: 0, output: '' };
    case 'CHECK':
      return hooks.registry.list().some((e) => e.containerId === req.env.CNI_CONTAINERID) ? { code: 0, output: '' } : error(11, 'the weir agent does not know this container');
    case 'STATUS':
    case 'GC':
      return { code: 0, output: '' };
    default:
      return error(4, `unsupported CNI_COMMAND ${JSON.stringify(command)}`);
  }
}

export function serveCni(socketPath: string, hooks: CniHooks, log: Logger, addTimeoutMs = 20_000): Server {
  mkdirSync(dirname(socketPath), { recursive: true });
  rmSync(socketPath, { force: true });
  // Half-open: the plugin shuts its side after the request and reads the answer after that.
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    const chunks: Buffer[] = [];
    conn.on('data', (d: Buffer) => chunks.push(d));
    conn.on('error', () => conn.destroy());
    conn.on('end', () => {
      void (async () => {
        let reply: CniReply;
        try {
          reply = await handle(parseRequest(Buffer.concat(chunks).toString('utf8')), hooks, log, addTimeoutMs);
        } catch (err) {
          reply = error(4, 'weir-cni request refused', err instanceof Error ? err.message : String(err));
        }
        conn.end(`${reply.code}\n${reply.output}`);
      })();
    });
  });
  server.listen(socketPath, () => chmodSync(socketPath, 0o600));
  return server;
}
