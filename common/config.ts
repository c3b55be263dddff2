// Typed configuration shared by operator and agent. Precedence, lowest first: defaults, a YAML
// file (--config), WEIR_* environment variables, command-line flags. Invalid input fails at
// start with every offending field named, before anything is touched.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { cgroup2Root } from './cgroup.js';

const logLevel = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
// An IPv6 host in brackets or not ("fd00::1:9962": the last :N is the port, as a port is always
// given), so a chart can compose it from the node's address whatever its family.
const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[0-9a-fA-F]*:[0-9a-fA-F:]*|[0-9.]+|[a-zA-Z0-9.-]*):\d{1,5}$/, 'must be host:port, e.g. 0.0.0.0:9962');

const common = {
  logLevel: logLevel.default('info'),
  /** Path to a kubeconfig; empty means in-cluster service account, then ~/.kube/config. */
  kubeconfig: z.string().default(''),
  /** /metrics, /healthz and /readyz. */
  httpAddress: listenAddress,
};

// Strict objects: a key that is no setting (a typo in the file, a stray WEIR_ variable) is refused
// with its name, never dropped in silence.
export const operatorConfigSchema = z.strictObject({
  ...common,
  httpAddress: listenAddress.default('0.0.0.0:9963'),
  leaderElection: z
    .strictObject({
      enabled: z.boolean().default(true),
      namespace: z.string().min(1).default('kube-system'),
      leaseName: z.string().min(1).default('weir-operator'),
      leaseDurationSeconds: z.number().int().positive().default(15),
      renewDeadlineSeconds: z.number().int().positive().default(10),
      retryPeriodSeconds: z.number().int().positive().default(2),
    })
    .prefault({})
    .refine((l) => l.renewDeadlineSeconds < l.leaseDurationSeconds, {
      message: 'renewDeadlineSeconds must be less than leaseDurationSeconds',
      path: ['renewDeadlineSeconds'],
    }),
  /** Reconcile workers per controller. */
  workers: z.number().int().min(1).max(64).default(4),
});

export const agentConfigSchema = z.strictObject({
  ...common,
  httpAddress: listenAddress.default('0.0.0.0:9962'),
  /** This node's name, as in the Node object (the DaemonSet passes spec.nodeName). */
  nodeName: z
    .string({ error: 'nodeName is required (set WEIR_NODE_NAME or --node-name)' })
    .min(1, 'nodeName is required (set WEIR_NODE_NAME or --node-name)'),
  /** Directory on bpffs for this agent's pins. */
  bpffsRoot: z.string().startsWith('/').default('/sys/fs/bpf/weir'),
  /** cgroup v2 mount the socket programs attach to (default: where this host mounts it). */
  cgroupRoot: z.string().startsWith('/').default(() => cgroup2Root()),
  /** Compiled BPF objects. */
  bpfObjectDir: z.string().default('build/bpf'),
  /** cgroup v2 directory the socket programs attach to (default: cgroupRoot, every process). */
  cgroupPath: z.string().startsWith('/').optional(),
  /**
   * Network namespace (path) holding the node's interfaces, when it is not the agent's own: the
   * sandbox runs each node in a namespace; a DaemonSet runs in the host's (unset).
   */
  netns: z.string().startsWith('/').optional(),
  /** Node interfaces for the prefilter and NodePort NAT; empty: the one holding the node's InternalIP. */
  devices: z.array(z.string().min(1).max(15)).default([]),
  /** XDP attach mode on node interfaces. */
  xdpMode: z.enum(['driver', 'generic']).default('driver'),
  /** TC attach: tcx links where the kernel has them (6.6+), else cls_bpf filters (auto); or forced. */
  tcAttach: z.enum(['auto', 'tcx', 'legacy']).default('auto'),
  /** Full resync of kernel state (interfaces come and go between API events). */
  resyncSeconds: z.number().positive().max(3600).default(5),
  /** Conntrack garbage collection interval. */
  conntrackGcSeconds: z.number().positive().max(3600).default(30),
  /** Where weir-cni (chained after the interface plugin) reaches this agent. */
  cniSocket: z.string().startsWith('/').default('/run/weir/cni.sock'),
  /** The pods weir-cni reported, kept across agent restarts (a tmpfs: pods do not outlive a reboot). */
  cniStateDir: z.string().startsWith('/').default('/run/weir/cni'),
  /** The runtime's CNI configuration: the agent keeps the pod MTU there (the overlay's in VXLAN mode). */
  cniConfDir: z.string().startsWith('/').default('/etc/cni/net.d'),
  /**
   * Socket hooks to treat as missing although the kernel has them: what a node without them does
   * (the nftables fallback, or saying what is not served) can be tried on any node.
   */
  unavailableHooks: z.array(z.enum(['connect4', 'sendmsg4'])).default([]),
});

export type OperatorConfig = z.infer<typeof operatorConfigSchema>;
export type AgentConfig = z.infer<typeof agentConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly component: string,
    readonly issues: string[],
  ) {
    super(`invalid ${component} configuration:\n  ${issues.join('\n  ')}`);
  }
}

/**
 * WEIR_ variables that are not settings: the set-up's cache, the test and benchmark harnesses'
 * (scaled waits, the VM guest, fault injection, the sandbox's and benchmarks' own knobs).
 */
const NOT_SETTINGS = /^WEIR_(CACHE_DIR|TIME_SCALE|VM_GUEST|FAILPOINT|CGROUP2_ROOT|SANDBOX_[A-Z0-9_]+|BENCH_[A-Z0-9_]+)$/;

/** A setting's path as its environment variable: leaderElection.leaseName -> WEIR_LEADER_ELECTION__LEASE_NAME. */
export const envName = (path: readonly PropertyKey[]): string => `WEIR_${path.map((seg) => String(seg).replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()).join('__')}`;

/** WEIR_LOG_LEVEL -> logLevel, WEIR_LEADER_ELECTION__LEASE_NAME -> leaderElection.leaseName. */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(env)) {
    if (!k.startsWith('WEIR_') || raw === undefined || NOT_SETTINGS.test(k)) continue;
    const path = k
      .slice(5)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    setPath(out, path, coerce(raw));
  }
  return out;
}

function coerce(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    cur = (cur[seg] = typeof next === 'object' && next !== null ? next : {}) as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

function hasPath(obj: Record<string, unknown>, path: readonly PropertyKey[]): boolean {
  let cur: unknown = obj;
  for (const seg of path) {
    if (!isPlainObject(cur) || !(String(seg) in cur)) return false;
    cur = cur[String(seg)];
  }
  return true;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where later sources win; undefined leaves the earlier value. */
export function mergeConfig(...sources: Array<Record<string, unknown> | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const src of sources) {
    for (const [k, v] of Object.entries(src ?? {})) {
      if (v === undefined) continue;
      out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeConfig(out[k], v) : v;
    }
  }
  return out;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('file', [`${path}: ${(e as Error).message}`]);
  }
  const doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) throw new ConfigError('file', [`${path}: the top level must be a mapping`]);
  return doc;
}

function load<S extends z.ZodType>(
  component: string,
  schema: S,
  opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: Record<string, unknown> },
): z.infer<S> {
  const fromEnv = configFromEnv(opts.env ?? process.env);
  const merged = mergeConfig(opts.file ? readConfigFile(opts.file) : undefined, fromEnv, opts.flags);
  const r = schema.safeParse(merged);
  if (!r.success) {
    throw new ConfigError(
      component,
      r.error.issues.flatMap((i) => {
        if (i.code !== 'unrecognized_keys') return [`${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`];
        // Where the stray key came from: the environment names its variable, the file its key.
        return i.keys.map((key) => {
          const path = [...i.path, key];
          const env = hasPath(fromEnv, path) ? `${envName(path)} in the environment` : undefined;
          return `${path.join('.')}: not a setting of the ${component} (${env ?? (opts.file ? `in ${opts.file}` : 'given')})`;
        });
      }),
    );
  }
  return r.data;
}

export function loadOperatorConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: Record<string, unknown> } = {}): OperatorConfig {
  return load('operator', operatorConfigSchema, opts);
}

export function loadAgentConfig(opts: { file?: string; env?: NodeJS.ProcessEnv; flags?: Record<string, unknown> } = {}): AgentConfig {
  return load('agent', agentConfigSchema, opts);
}

/** "host:port" for a listen address, an IPv6 host in brackets. */
export const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Splits "host:port" (an IPv6 host in brackets or not: the last :N is the port) for server.listen. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(addr.slice(i + 1)) };
}
