// A real etcd + kube-apiserver on loopback for cluster tests (envtest conventions): binaries from
// KUBEBUILDER_ASSETS or built from test/tools into a cache, a token-authenticated admin
// kubeconfig, CRDs applied with kubectl, and teardown that leaves no process or file behind.
import { execFile as execFileCb, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterPki } from './kubelet/pki.js';
import { repoRoot } from './paths.js';
import { scaled } from './wait.js';

const execFile = promisify(execFileCb);

export const SERVICE_CIDR = '10.96.0.0/16';
/** The `kubernetes` Service's ClusterIP: the first address of SERVICE_CIDR. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

export interface ClusterOptions {
  /** Address the API server listens on; sandbox nodes in namespaces need a bridge address. */
  bindAddress?: string;
  /** How long to wait for etcd and the API server to become ready. */
  startTimeoutMs?: number;
  /** Directory for data, logs and kubeconfig (default: a fresh temporary one). */
  dir?: string;
  /** Processes outlive this one (`weir up`); stopped by pid later (`weir down`). */
  detached?: boolean;
  /**
   * For real kubelet nodes (sandbox/kubelet/): serve with this PKI's certificates (kubelets and
   * pods verify them), and turn on what nodes need: ServiceAccount tokens, the Node authorizer,
   * the `kubernetes` Service's endpoints, and a client certificate towards kubelets.
   */
  pki?: ClusterPki;
}

/** Paths of the control plane's binaries, building them on first use (scripts/cluster-bins.sh). */
export function clusterBinaries(): Record<'kube-apiserver' | 'etcd', string> {
  return binaries(['kube-apiserver', 'etcd']);
}

/** Paths of the named test-infrastructure binaries (scripts/cluster-bins.sh), built on first use. */
export function binaries<T extends string>(names: T[]): Record<T, string> {
  const out = execFileSync('bash', [join(repoRoot, 'scripts', 'cluster-bins.sh'), ...names], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=', 2) as [string, string])) as Record<T, string>;
}

export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const live = new Set<ChildProcess>();
// A test runner that dies mid-suite must not leave an API server behind.
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function startProcess(bin: string, args: string[], logPath: string, detached = false): ChildProcess {
  const log = openSync(logPath, 'a');
  const p = spawn(bin, args, { stdio: ['ignore', log, log], detached });
  if (detached) {
    p.unref();
    return p;
  }
  live.add(p);
  p.once('exit', () => live.delete(p));
  return p;
}

export async function stopProcess(p: ChildProcess, graceMs = 5000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, proc: ChildProcess, log: string): Promise<void> {
  timeoutMs = scaled(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${tail(log)}`);
    try {
      if (await check()) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms:\n${tail(log)}`);
}

export class LocalCluster {
  private constructor(
    readonly dir: string,
    readonly server: string,
    readonly token: string,
    readonly kubeconfigPath: string,
    readonly etcdUrl: string,
    private readonly etcd: ChildProcess,
    private apiserver: ChildProcess,
    private readonly apiserverCmd: { bin: string; args: string[]; log: string },
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<LocalCluster> {
    const bins = clusterBinaries();
    const host = opts.bindAddress ?? '127.0.0.1';
    const timeout = opts.startTimeoutMs ?? 90_000;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'weir-cluster-'));
    mkdirSync(dir, { recursive: true });
    const detached = opts.detached ?? false;
    const [etcdClient, etcdPeer, apiPort] = [await freePort('127.0.0.1'), await freePort('127.0.0.1'), await freePort(host)];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcdLog = join(dir, 'etcd.log');
    const etcd = startProcess(
      bins.etcd,
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      etcdLog,
      detached,
    );
    let apiserver: ChildProcess | undefined;
    try {
      await waitFor('etcd', async () => (await fetch(`${etcdUrl}/health`)).ok, timeout, etcd, etcdLog);

      const token = randomBytes(24).toString('hex');
      writeFileSync(join(dir, 'tokens.csv'), `${token},weir-admin,weir-admin,"system:masters"\n`, { mode: 0o600 });
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

      const apiLog = join(dir, 'kube-apiserver.log');
      const pki = opts.pki;
      const serving = pki?.apiServer(host, KUBERNETES_SERVICE_IP);
      const toKubelets = pki?.apiServerKubeletClient();
      const apiArgs = [
        `--etcd-servers=${etcdUrl}`,
        `--bind-address=${host}`,
        `--advertise-address=${host}`,
        `--secure-port=${apiPort}`,
        ...(pki && serving && toKubelets
          ? [
              `--tls-cert-file=${serving.cert}`,
              `--tls-private-key-file=${serving.key}`,
              `--client-ca-file=${pki.ca.cert}`,
              `--kubelet-client-certificate=${toKubelets.cert}`,
              `--kubelet-client-key=${toKubelets.key}`,
              '--kubelet-preferred-address-types=InternalIP',
              '--authorization-mode=Node,RBAC',
            ]
          : // No pods run: no service account tokens, no endpoints for the kubernetes Service.
            [`--cert-dir=${join(dir, 'certs')}`, '--authorization-mode=RBAC', '--disable-admission-plugins=ServiceAccount', '--endpoint-reconciler-type=none']),
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allow-privileged=true',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--enable-priority-and-fairness=false',
      ];
      apiserver = startProcess(bins['kube-apiserver'], apiArgs, apiLog, detached);
      const server = `https://${host}:${apiPort}`;
      const kubeconfigPath = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfigPath,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: weir-test',
          '  cluster:',
          `    server: ${server}`,
          // Without a PKI the API server made its own self-signed certificate; the test trusts it blindly.
          pki ? `    certificate-authority: ${pki.ca.cert}` : '    insecure-skip-tls-verify: true',
          'users:',
          '- name: weir-admin',
          '  user:',
          `    token: ${token}`,
          'contexts:',
          '- name: weir-test',
          '  context: {cluster: weir-test, user: weir-admin}',
          'current-context: weir-test',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      const cluster = new LocalCluster(dir, server, token, kubeconfigPath, etcdUrl, etcd, apiserver, {
        bin: bins['kube-apiserver'],
        args: apiArgs,
        log: apiLog,
      });
      await waitFor('kube-apiserver', () => cluster.isReady(), timeout, apiserver, apiLog);
      return cluster;
    } catch (e) {
      if (apiserver) await stopProcess(apiserver);
      await stopProcess(etcd);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  get pids(): number[] {
    return [this.etcd.pid, this.apiserver.pid].filter((p): p is number => p !== undefined);
  }

  async isReady(): Promise<boolean> {
    const out = await this.kubectl(['get', '--raw', '/readyz'], 5000).catch(() => '');
    return out.trim() === 'ok';
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    return kc;
  }

  /** Runs kubectl against this cluster; rejects with kubectl's stderr on failure. */
  async kubectl(args: string[], timeoutMs = 30_000): Promise<string> {
    try {
      const r = await execFile('kubectl', ['--kubeconfig', this.kubeconfigPath, ...args], {
        encoding: 'utf8',
        timeout: timeoutMs,
      });
      return r.stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`, { cause: e });
    }
  }

  /** Applies every manifest in `dir` (default: the repository's crds/) and waits until established. */
  async applyCrds(dir = join(repoRoot, 'crds')): Promise<void> {
    if (!existsSync(dir)) throw new Error(`no CRD directory at ${dir}`);
    await this.kubectl(['apply', '--server-side', '-f', dir]);
    await this.kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', dir]);
  }

  /** Stops the API server and starts it again on the same port and etcd (an API outage). */
  async restartApiServer(downMs = 0): Promise<void> {
    await stopProcess(this.apiserver);
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    this.apiserver = startProcess(this.apiserverCmd.bin, this.apiserverCmd.args, this.apiserverCmd.log);
    await waitFor('kube-apiserver', () => this.isReady(), 90_000, this.apiserver, this.apiserverCmd.log);
  }

  /** Stops the API server, then etcd, and removes every file the cluster wrote. */
  async stop(): Promise<void> {
    await stopProcess(this.apiserver);
    await stopProcess(this.etcd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
