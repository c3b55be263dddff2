// The agent's side of the L7 proxy: one `weir l7-proxy` child in the node's network namespace and
// in a cgroup of its own (the datapath knows the proxy's upstream connections by that cgroup),
// restarted with backoff when it exits, and sent the node's L7 state whenever it changes. Its log
// lines (the access log among them) go out with the agent's.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../../common/log.js';
import type { ProxyState } from './flows.js';

export interface ProxySupervisorOptions {
  /** The node's network namespace (a path), or null for the agent's own. */
  netns: string | null;
  /** A cgroup v2 directory made for the proxy (outside the pods' cgroups). */
  cgroup: string;
  pinRoot: string;
  port: number;
  metricsAddress: string;
  /** The weir CLI entry (dist/cli/weir.js). */
  cli: string;
}

/**
 * The cgroup a proxy runs in: beside the cgroup the agent's socket programs govern (a sandbox
 * node's), or, when that is the cgroup root (a real node), under it: the root has no sibling.
 * An agent in a cgroup namespace of its own (a container on a pure cgroup v2 host, containerd's
 * default) may move a process only between cgroups inside that namespace, so there the proxy's
 * cgroup is made under the agent's own (`own`, found by ownCgroupIn()).
 */
export function proxyCgroupFor(agentCgroup: string, own?: string): string {
  if (own) return join(own, 'weir-l7-proxy');
  const parent = dirname(agentCgroup);
  return existsSync(join(parent, 'cgroup.procs')) ? join(parent, `${basename(agentCgroup)}-weir-l7-proxy`) : join(agentCgroup, 'weir-l7-proxy');
}

/**
 * This process's cgroup in the host's tree mounted at `mount`, when it runs in a cgroup namespace
 * of its own (its /proc/self/cgroup says "/" while the mount's root does not hold it): the
 * directory whose cgroup.procs lists its pid (pids of other pid namespaces are not shown, so the
 * match is this process's). Undefined when the namespace is the host's.
 */
export function ownCgroupIn(mount: string, pid = process.pid, procSelfCgroup = readFileSync('/proc/self/cgroup', 'utf8')): string | undefined {
  const v2 = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
  if (v2?.slice(3).trim() !== '/') return undefined;
  const lists = (dir: string): boolean => {
    try {
      return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').includes(String(pid));
    } catch {
      return false;
    }
  };
  if (lists(mount)) return undefined;
  const walk = (dir: string, depth: number): string | undefined => {
    if (depth > 12) return undefined;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const child = join(dir, e.name);
      if (lists(child)) return child;
      const found = walk(child, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return walk(mount, 0);
}

export class ProxySupervisor {
  private child?: ChildProcess;
  private listening = false;
  private state = '';
  private failures = 0;
  private lastFailure?: string;
  private restartTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly opts: ProxySupervisorOptions,
    private readonly log: Logger,
    /** Called when the proxy starts or stops listening (the datapath's config follows it). */
    private readonly changed: () => void,
  ) {}

  /** Listening with the latest state: flows may be handed to it. */
  get ready(): boolean {
    return this.listening;
  }

  /** The proxy cgroup's id (its directory's inode, as cgroup v2 numbers them). */
  get cgroupId(): bigint {
    return existsSync(this.opts.cgroup) ? statSync(this.opts.cgroup, { bigint: true }).ino : 0n;
  }

  /** Runs the proxy (starting it if needed) with `state`. */
  ensure(state: ProxyState): void {
    this.stopped = false;
    const line = JSON.stringify(state);
    const changed = line !== this.state;
    this.state = line;
    if (!this.child && !this.restartTimer) this.start();
    else if (changed && this.child?.stdin?.writable) this.child.stdin.write(`${line}\n`);
  }

  /** Why the proxy is not running, when it failed to start or exited (cleared once it listens). */
  get failure(): string | undefined {
    return this.lastFailure;
  }

  private start(): void {
    try {
      mkdirSync(this.opts.cgroup, { recursive: true });
    } catch (err) {
      this.failed(`its cgroup ${this.opts.cgroup} cannot be made: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const args = [this.opts.cli, 'l7-proxy', '--bpffs-root', this.opts.pinRoot, '--port', String(this.opts.port), '--metrics-address', this.opts.metricsAddress];
    // nsenter, not `ip netns exec`: that one mounts a fresh /sys, hiding the bpffs the pins are in.
    const exec = this.opts.netns ? ['nsenter', `--net=${this.opts.netns}`, '--', process.execPath, ...args] : [process.execPath, ...args];
    // Into its cgroup before it runs anything: no socket of the proxy's exists outside it.
    // Its logs (an access-log line per request) go straight to the agent's stdout; it says it
    // listens on fd 3.
    const child = spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.opts.cgroup, ...exec], { stdio: ['pipe', 'inherit', 'pipe', 'pipe'] });
    this.child = child;
    child.stdin!.on('error', () => undefined);
    // Its stderr goes on to the agent's; the last line is kept to say why it stopped.
    let lastErr = '';
    createInterface({ input: child.stderr! }).on('line', (l) => {
      process.stderr.write(`${l}\n`);
      if (l.trim()) lastErr = l.trim();
    });
    child.stdin!.write(`${this.state}\n`);
    createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).on('line', (l) => {
      if (!this.listening && l === 'listening') {
        this.listening = true;
        this.failures = 0;
        this.lastFailure = undefined;
        this.changed();
      }
    });
    child.once('exit', (code, signal) => {
      this.child = undefined;
      const was = this.listening;
      this.listening = false;
      if (was) this.changed();
      if (this.stopped) return;
      this.failed(`it exited (${signal ?? `code ${code}`})${lastErr ? `: ${lastErr}` : ''}`);
    });
  }

  /** Records why the proxy is not running and starts it again after a backoff. */
  private failed(why: string): void {
    this.lastFailure = why;
    const delay = Math.min(10_000, 500 * 2 ** this.failures++);
    this.log.warn({ why, restartInMs: delay }, 'l7 proxy not running; restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.start();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    try {
      rmdirSync(this.opts.cgroup);
    } catch {
      // Not there, or still holding a process that is on its way out.
    }
  }

  /** The proxy's pid (tests kill it to see the datapath fail closed and the agent restart it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }
}
