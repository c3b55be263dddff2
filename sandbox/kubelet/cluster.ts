// A Kubernetes cluster with real nodes on this host: etcd, kube-apiserver (with a CA, as kubeadm
// sets it up), kube-controller-manager (which hands out pod CIDRs and service account tokens) and
// kube-scheduler, and kubelet nodes (node.ts) on one bridge. Each node's CNI configuration is the
// common bridge + host-local one, written once the controller manager has given the node its pod
// CIDR, as a cluster's network add-on would. Images come from scripts/image.sh (no registry).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { binaries, freePort, LocalCluster, SERVICE_CIDR, startProcess, stopProcess, tail } from '../cluster.js';
import { Lab } from '../netns.js';
import { repoRoot } from '../paths.js';
import { scaled } from '../wait.js';
import { KubeletNode } from './node.js';
import { ClusterPki } from './pki.js';

export const CLUSTER_CIDR = '10.244.0.0/16';

export interface KubeletClusterOptions {
  /** Prefix of every namespace, link and cgroup made (1-8 of [a-z0-9-]). */
  prefix: string;
  nodes: number;
  /** The bridge's /24, e.g. '192.168.80': .1 is the API server, .11, .12, ... the nodes. */
  subnet?: string;
  dir: string;
}

/** The images scripts/image.sh builds, as archive paths. */
export function buildImages(): Record<'weir' | 'workload' | 'pause', string> {
  const out = execFileSync('bash', [join(repoRoot, 'scripts', 'image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split('=', 2) as [string, string])) as Record<'weir' | 'workload' | 'pause', string>;
}

export class KubeletCluster {
  readonly nodes: KubeletNode[] = [];
  private readonly controllers: ChildProcess[] = [];

  private constructor(
    readonly api: LocalCluster,
    readonly lab: Lab,
    readonly dir: string,
    /** The cluster's CA and certificates (clients outside it trust pki.ca.cert). */
    readonly pki: ClusterPki,
  ) {}

  static async start(opts: KubeletClusterOptions): Promise<KubeletCluster> {
    const subnet = opts.subnet ?? '192.168.80';
    KubeletCluster.sweep(opts.prefix);
    rmSync(opts.dir, { recursive: true, force: true });
    mkdirSync(opts.dir, { recursive: true });
    const lab = new Lab(opts.prefix);
    const bridge = `${opts.prefix}-br`;
    lab.addBridge(null, bridge, `${subnet}.1/24`);
    const images = buildImages();
    const bins = binaries(['kubelet', 'kube-proxy', 'kube-controller-manager', 'kube-scheduler']);
    const pki = new ClusterPki(join(opts.dir, 'pki'));
    let api: LocalCluster | undefined;
    let c: KubeletCluster | undefined;
    try {
      api = await LocalCluster.start({ bindAddress: `${subnet}.1`, pki, dir: join(opts.dir, 'control-plane') });
      c = new KubeletCluster(api, lab, opts.dir, pki);
      await c.startControllers(bins, pki);
      for (let i = 1; i <= opts.nodes; i++) {
        const node = new KubeletNode(
          lab,
          {
            name: `n${i}`,
            ip: `${subnet}.${10 + i}`,
            bridge,
            gateway: `${subnet}.1`,
            prefixLength: 24,
            clusterCidr: CLUSTER_CIDR,
            images: [images.pause, images.weir, images.workload],
            bins,
          },
          opts.dir,
        );
        c.nodes.push(node);
        node.start(pki, api.server, api.token);
      }
      await c.waitNodesReady(scaled(180_000));
      return c;
    } catch (e) {
      if (c) await c.stop();
      else {
        await api?.stop();
        lab.cleanup();
      }
      throw e;
    }
  }

  private async startControllers(bins: Record<'kube-controller-manager' | 'kube-scheduler', string>, pki: ClusterPki): Promise<void> {
    const kc = this.api.kubeconfigPath;
    const common = [`--kubeconfig=${kc}`, `--authentication-kubeconfig=${kc}`, `--authorization-kubeconfig=${kc}`, '--leader-elect=false', '--bind-address=127.0.0.1'];
    this.controllers.push(
      startProcess(
        bins['kube-controller-manager'],
        [
          ...common,
          `--secure-port=${await freePort('127.0.0.1')}`,
          '--allocate-node-cidrs',
          `--cluster-cidr=${CLUSTER_CIDR}`,
          '--node-cidr-mask-size=24',
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          `--root-ca-file=${pki.ca.cert}`,
          `--service-account-private-key-file=${join(this.api.dir, 'sa.key')}`,
          '--use-service-account-credentials',
        ],
        join(this.dir, 'kube-controller-manager.log'),
      ),
      startProcess(bins['kube-scheduler'], [...common, `--secure-port=${await freePort('127.0.0.1')}`], join(this.dir, 'kube-scheduler.log')),
    );
  }

  /** Each node registered, given a pod CIDR (its CNI configuration then written) and Ready. */
  private async waitNodesReady(timeoutMs: number): Promise<void> {
    const core = this.api.kubeConfig().makeApiClient(CoreV1Api);
    const deadline = Date.now() + timeoutMs;
    const written = new Set<string>();
    let last: V1Node[] = [];
    while (Date.now() < deadline) {
      for (const n of this.nodes) if (!n.running) throw new Error(`node ${n.spec.name} stopped:\n${tail(join(n.dir, 'init.log'))}\n${tail(n.kubeletLog)}`);
      for (const p of this.controllers) if (p.exitCode !== null) throw new Error(`a controller exited:\n${tail(join(this.dir, 'kube-controller-manager.log'))}\n${tail(join(this.dir, 'kube-scheduler.log'))}`);
      last = (await core.listNode().catch(() => ({ items: [] as V1Node[] }))).items;
      for (const n of last) {
        const name = n.metadata?.name ?? '';
        const node = this.nodes.find((k) => k.spec.name === name);
        if (node && n.spec?.podCIDR && !written.has(name)) {
          writeBridgeConf(node, n.spec.podCIDR);
          written.add(name);
        }
      }
      const ready = last.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      if (ready.length === this.nodes.length) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    const state = last.map((n) => `${n.metadata?.name}: ${n.status?.conditions?.find((c) => c.type === 'Ready')?.message ?? 'no Ready condition'}`);
    throw new Error(`nodes not Ready after ${timeoutMs} ms: ${state.join('; ') || 'none registered'}\n${this.nodes.map((n) => tail(n.kubeletLog, 10)).join('\n')}`);
  }

  /** Runs kubectl against the cluster as its administrator. */
  kubectl(args: string[], timeoutMs?: number): Promise<string> {
    return this.api.kubectl(args, timeoutMs);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) n.stop();
    for (const p of this.controllers) await stopProcess(p);
    await this.api.stop();
    this.lab.cleanup();
  }

  /** Kills and removes the cgroups an earlier run with this prefix left (its nodes' processes). */
  static sweep(prefix: string): void {
    for (const top of ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join('/sys/fs/cgroup', e.name))]) {
      let entries: string[] = [];
      try {
        entries = readdirSync(top);
      } catch {
        continue;
      }
      for (const e of entries) {
        if (!e.startsWith(`${prefix}-`)) continue;
        const p = join(top, e);
        if (!existsSync(join(p, 'cgroup.procs'))) continue;
        KubeletNode.removeCgroup(p);
      }
    }
  }
}

/** The node's CNI configuration as a cluster's network add-on writes it: bridge, host-local, portmap. */
function writeBridgeConf(node: KubeletNode, podCidr: string): void {
  const conf = {
    cniVersion: '1.0.0',
    name: 'podnet',
    plugins: [
      {
        type: 'bridge',
        bridge: 'cni0',
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: podCidr }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  const dir = join(node.dir, 'root', 'etc', 'cni', 'net.d');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '10-bridge.conflist'), `${JSON.stringify(conf, null, 2)}\n`);
}
