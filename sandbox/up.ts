// `weir up` / `weir down`: the local sandbox as the main job. Everything it starts is detached
// and recorded in a state file, so `weir status` and `weir down` work from another shell.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { clusterBinaries, LocalCluster } from './cluster.js';
import { BACKEND_VIP, checkDemo, deployDemo } from './demo.js';
import { eventually } from './wait.js';
import { Sandbox, type SandboxState } from './sandbox.js';

// Namespaces, cgroups and pins of the sandbox start with it (tests use another to run beside one).
export const SANDBOX_PREFIX = process.env.WEIR_SANDBOX_PREFIX ?? 'weirsb';
export const defaultSandboxDir = (): string => process.env.WEIR_SANDBOX_DIR ?? join(homedir(), '.weir', 'sandbox');

export interface UpState {
  cluster: { dir: string; kubeconfig: string; pids: number[] };
  sandbox: SandboxState;
}

const statePath = (dir: string): string => join(dir, 'state.json');

export function readState(dir: string): UpState | undefined {
  const p = statePath(dir);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as UpState) : undefined;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export interface UpOptions {
  dir: string;
  nodes: number;
  progress: (line: string) => void;
}

export async function up(opts: UpOptions): Promise<{ state: UpState; checks: Awaited<ReturnType<typeof checkDemo>> }> {
  const existing = readState(opts.dir);
  if (existing && existing.cluster.pids.every(alive)) throw new Error(`a sandbox is already up (state in ${opts.dir}); \`weir status\` shows it, \`weir down\` removes it`);
  if (existing) {
    opts.progress('removing what a previous sandbox left');
    down(opts.dir);
  }
  mkdirSync(opts.dir, { recursive: true });
  opts.progress('cluster binaries (the first run builds kube-apiserver and etcd from Go modules: a few minutes)');
  clusterBinaries();
  opts.progress('starting etcd and kube-apiserver');
  const cluster = await LocalCluster.start({ dir: join(opts.dir, 'cluster'), detached: true });
  const record = (sb?: Sandbox): UpState => ({
    cluster: { dir: cluster.dir, kubeconfig: cluster.kubeconfigPath, pids: cluster.pids },
    sandbox: sb?.state() ?? { prefix: SANDBOX_PREFIX, logDir: join(opts.dir, 'logs'), nodes: [], pids: [] },
  });
  writeFileSync(statePath(opts.dir), JSON.stringify(record(), null, 2));
  opts.progress('applying the CRDs');
  await cluster.applyCrds();
  opts.progress(`creating ${opts.nodes} nodes (network namespaces on a bridge) and their Node objects`);
  const sb = await Sandbox.start(cluster, { prefix: SANDBOX_PREFIX, nodes: opts.nodes, detached: true, logDir: join(opts.dir, 'logs') });
  const save = () => writeFileSync(statePath(opts.dir), JSON.stringify(record(sb), null, 2));
  save();
  // Small maps: a sandbox holds a handful of pods, and several nodes share one machine.
  await sb.createDatapathConfig({ mapSizing: { ctTCPMax: 65536, ctAnyMax: 16384, natMax: 16384, lbMax: 4096, endpointMax: 4096, policyMax: 16384, prefilterMax: 1024 } });
  opts.progress('starting the operator and one agent per node');
  sb.startOperator();
  for (const n of sb.nodes) sb.startAgent(n);
  save();
  for (const n of sb.nodes) {
    await sb.agentReady(n, 120_000);
    await sb.programmed(n, 60_000);
  }
  // Pods after Weir, as on a real node: weir-cni holds each pod until its agent enforces it.
  opts.progress('deploying the demo: frontend, intruder and a backend service on two nodes, with a policy');
  const demo = await deployDemo(sb);
  save();
  await sb.settled(60_000);
  // Services reach each agent through its own informers, not NodeDatapath: the ClusterIP answers
  // once the agents have its backends (a connect before that is refused: a service without one).
  // Not in time: the check below shows what the frontend gets.
  await eventually('the demo service reaches the datapath', async () => (await sb.run<string>(demo.frontend, ['tcp-try', BACKEND_VIP, '80', '1000']).catch(() => '')) === 'connected', 30_000, 250).catch(() => undefined);
  opts.progress('checking the demo traffic');
  const checks = await checkDemo(sb, demo);
  return { state: record(sb), checks };
}

/** Removes everything `weir up` made; safe to run twice, and after a crashed `weir up`. */
export function down(dir: string): string[] {
  const state = readState(dir);
  const done: string[] = [];
  if (state) {
    Sandbox.teardown(state.sandbox);
    done.push(`${state.sandbox.pids.length} sandbox processes, ${state.sandbox.nodes.length} nodes' programs, links and pins`);
    for (const pid of state.cluster.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    done.push('etcd and kube-apiserver');
  } else {
    // No state: sweep by name whatever a sandbox could have left.
    Sandbox.teardown({ prefix: SANDBOX_PREFIX, logDir: '', nodes: [], pids: [] });
  }
  rmSync(dir, { recursive: true, force: true });
  done.push(`${dir}`);
  return done;
}
