// Processes "in a pod": inside the pod's network namespace and, when given, a cgroup v2 directory
// (where the socket-level programs are attached), running sandbox/traffic.mjs (or another tool).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { scaled } from './wait.js';

const TOOL = join(repoRoot, 'sandbox', 'traffic.mjs');

/** What `tcp-flow` reports: a steady echoed flow, and the longest stall in it. */
export interface TcpFlowResult {
  error: string | null;
  sent: number;
  received: number;
  intact: boolean;
  maxGapMs: number;
}

/** What `tcp-stream` reports: the bytes sent and the digests on each side (error: the socket's code). */
export interface TcpStreamResult {
  error?: string;
  greeting?: string;
  sent: number;
  localDigest: string;
  remoteDigest: string;
}

export interface PodProcessOptions {
  /** cgroup v2 directory to run in (the process moves itself there before it starts). */
  cgroup?: string;
  timeoutMs?: number;
  /** Outlives this process (`weir up`): own process group, not waited for. */
  detached?: boolean;
  /** The program and its first arguments, instead of `node sandbox/traffic.mjs`. */
  command?: string[];
}

function spawnIn(ns: string, args: string[], opts: PodProcessOptions): ChildProcess {
  const cmd = ['ip', 'netns', 'exec', ns, ...(opts.command ?? [process.execPath, TOOL]), ...args];
  const detached = opts.detached ?? false;
  if (!opts.cgroup) return spawn(cmd[0] ?? 'ip', cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached });
  // Join the cgroup first, then exec: no socket of the tool exists outside it.
  const quoted = cmd.map((c) => `'${c.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawn('sh', ['-c', `echo $$ > '${opts.cgroup}/cgroup.procs' && exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'], detached });
}

/** Runs a client mode to completion and returns its JSON result. */
export function runInPod<T = unknown>(ns: string, args: string[], opts: PodProcessOptions = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawnIn(ns, args, opts);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), scaled(opts.timeoutMs ?? 60_000));
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`traffic ${args.join(' ')} in ${ns} exited ${code}: ${stderr.trim() || stdout.trim() || 'no output'}`));
      }
    });
  });
}

/** A long-running mode (server, held connection): resolves once it prints "ready". */
export class PodProcess {
  private output = '';
  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static start(ns: string, args: string[], opts: PodProcessOptions = {}): Promise<PodProcess> {
    const p = new PodProcess(spawnIn(ns, args, opts));
    return new Promise((resolve, reject) => {
      let stderr = '';
      p.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => reject(new Error(`traffic ${args.join(' ')} in ${ns}: not ready after ${scaled(10_000)} ms: ${stderr}`)), scaled(10_000));
      const check = () => {
        if (p.output.includes('ready')) {
          clearTimeout(timer);
          p.child.removeAllListeners('exit');
          // A detached server keeps running after this process exits: let go of it.
          if (opts.detached) {
            p.child.stdout?.destroy();
            p.child.stderr?.destroy();
            p.child.unref();
          }
          resolve(p);
        }
      };
      p.child.stdout?.on('data', check);
      p.child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`traffic ${args.join(' ')} in ${ns} exited ${code}: ${stderr.trim()}`));
      });
    });
  }

  /** Waits for the process to finish and returns its last JSON line. */
  result<T>(): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = () => {
        const last = this.output.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(last) as T);
        } catch {
          reject(new Error(`no result: ${this.output}`));
        }
      };
      if (this.child.exitCode !== null) done();
      else this.child.on('close', done);
    });
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
