// A real kube-proxy on sandbox nodes (test infrastructure, built from k8s.io/kubernetes by
// scripts/cluster-bins.sh): one process a node, inside the node's namespace, with its own
// kubeconfig and the flags a kubeadm node gives it. The API server listens on the host's loopback,
// which a node namespace cannot reach, so the LAN gets a host address and a relay to it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import type { Sandbox, SandboxNode } from './sandbox.js';
import { eventually } from './wait.js';

export type KubeProxyMode = 'iptables' | 'nftables';

/** The host's address on the sandbox LAN, where the relay to the API server listens. */
const HOST_ON_LAN = '192.168.77.254';

export function kubeProxyBinary(): string {
  const out = execFileSync('bash', [join(repoRoot, 'scripts', 'cluster-bins.sh'), 'kube-proxy'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('=', 2)[1];
}

export class SandboxKubeProxies {
  private readonly procs = new Map<string, ChildProcess>();
  private constructor(
    private readonly sb: Sandbox,
    private readonly bin: string,
    private readonly relay: Server,
    private readonly kubeconfig: string,
  ) {}

  /** The LAN's way to the API server, and a kubeconfig for it. */
  static async start(sb: Sandbox): Promise<SandboxKubeProxies> {
    const bin = kubeProxyBinary();
    const hostEnd = `${sb.prefix}-api`;
    sb.lab.addVeth({ ns: null, name: hostEnd }, { ns: `${sb.prefix}-lan`, name: 'api' });
    sb.lab.enslave(`${sb.prefix}-lan`, 'api', 'br0');
    sb.lab.addAddress(null, hostEnd, `${HOST_ON_LAN}/32`);
    execFileSync('ip', ['route', 'replace', '192.168.77.0/24', 'dev', hostEnd, 'src', HOST_ON_LAN, 'scope', 'link']);
    const api = new URL(sb.cluster.server);
    const relay = createServer((client) => {
      const upstream = createConnection(Number(api.port), api.hostname);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => relay.once('error', reject).listen(0, HOST_ON_LAN, resolve));
    const port = (relay.address() as { port: number }).port;
    const kubeconfig = join(sb.logDir, 'kube-proxy.kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: sandbox, cluster: {server: "https://${HOST_ON_LAN}:${port}", insecure-skip-tls-verify: true}}]`,
        `users: [{name: kube-proxy, user: {token: "${sb.cluster.token}"}}]`,
        'contexts: [{name: sandbox, context: {cluster: sandbox, user: kube-proxy}}]',
        'current-context: sandbox',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return new SandboxKubeProxies(sb, bin, relay, kubeconfig);
  }

  /** kube-proxy on `n` in `mode`, until its rules for the cluster's Services are written. */
  async run(n: SandboxNode, mode: KubeProxyMode): Promise<void> {
    // As kubeadm requires of a node: bridged pod traffic passes netfilter, so replies between pods
    // on one bridge are translated back.
    execFileSync('ip', ['netns', 'exec', n.ns, 'sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1']);
    const metricsPort = 10249;
    const out = openSync(join(this.sb.logDir, `kube-proxy-${n.name}.log`), 'a');
    const p = spawn(
      'ip',
      [
        'netns', 'exec', n.ns, this.bin,
        `--kubeconfig=${this.kubeconfig}`,
        `--hostname-override=${n.name}`,
        `--proxy-mode=${mode}`,
        '--cluster-cidr=10.244.0.0/16',
        `--nodeport-addresses=${n.ip}/32`,
        `--metrics-bind-address=${n.ip}:${metricsPort}`,
        `--healthz-bind-address=${n.ip}:10256`,
        // nf_conntrack_max is the host's, not a namespace's: leave it.
        '--conntrack-max-per-core=0',
        '--v=2',
      ],
      { stdio: ['ignore', out, out] },
    );
    this.procs.set(n.name, p);
    await eventually(
      `kube-proxy on ${n.name} (${mode}) synced`,
      async () => {
        if (p.exitCode !== null) throw new Error(`kube-proxy on ${n.name} exited ${p.exitCode}; see ${this.sb.logDir}/kube-proxy-${n.name}.log`);
        const m = await fetch(`http://${n.ip}:${metricsPort}/metrics`).then((r) => r.text(), () => '');
        return /^kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} [1-9]/m.test(m);
      },
      60_000,
    );
  }

  /** Stops kube-proxy on `n` and removes its rules (`kube-proxy --cleanup`), as a migration does. */
  async remove(n: SandboxNode): Promise<void> {
    const p = this.procs.get(n.name);
    if (p && p.exitCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await gone;
    }
    this.procs.delete(n.name);
    execFileSync('ip', ['netns', 'exec', n.ns, this.bin, '--cleanup', '--v=0'], { stdio: 'ignore' });
  }

  async stop(): Promise<void> {
    for (const p of this.procs.values()) p.kill('SIGKILL');
    this.procs.clear();
    await new Promise((r) => this.relay.close(r));
  }
}
