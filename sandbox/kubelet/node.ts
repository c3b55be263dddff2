// One real Kubernetes node on this host: a kubelet with its own containerd (and kube-proxy, as
// most clusters run it), isolated the way a container-based node is (kind's design, without a
// container engine): its own network namespace on the cluster's bridge, and mount, UTS and cgroup
// namespaces in which it sees its own /sys, cgroup tree, bpffs, /run and state directories
// (node-init.sh). Everything it starts lives in one cgroup per hierarchy, so stopping the node
// kills exactly its processes: the kubelet, containerd, shims and every container.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../netns.js';
import { repoRoot } from '../paths.js';
import { kubeconfigYaml, type ClusterPki } from './pki.js';

/** Where Debian's containernetworking-plugins keeps the CNI plugins. */
const CNI_PLUGINS = '/usr/lib/cni';
const CGROUP_TOP = '/sys/fs/cgroup';

export interface NodeSpec {
  name: string;
  ip: string;
  /** The bridge in this network namespace the node's eth0 is plugged into. */
  bridge: string;
  gateway: string;
  prefixLength: number;
  clusterCidr: string;
  /** Image archives (OCI) containerd imports before the kubelet starts. */
  images: string[];
  bins: { kubelet: string; 'kube-proxy': string };
}

/** The host's cgroup mounts under /sys/fs/cgroup: [type, directory, options] (v1 controllers, named hierarchies, the v2 tree). */
function cgroupMounts(): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, where, type, opts] = line.split(' ');
    if ((type !== 'cgroup' && type !== 'cgroup2') || !where) continue;
    if (where === CGROUP_TOP) return [['cgroup2', '.', '']]; // a pure v2 host
    if (!where.startsWith(`${CGROUP_TOP}/`)) continue;
    const keep = (opts ?? '').split(',').filter((o) => !['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(o));
    out.push([type, where.slice(CGROUP_TOP.length + 1), type === 'cgroup' ? (keep.length ? keep.join(',') : 'none') : '']);
  }
  return out;
}

export class KubeletNode {
  readonly dir: string;
  readonly netns: string;
  private init?: ChildProcess;
  private readonly mounts = cgroupMounts();
  private readonly cgroups: string[];

  constructor(
    private readonly lab: Lab,
    readonly spec: NodeSpec,
    clusterDir: string,
  ) {
    this.dir = join(clusterDir, 'nodes', spec.name);
    this.netns = `${lab.prefix}-${spec.name}`;
    this.cgroups = this.mounts.map(([, d]) => join(CGROUP_TOP, d, `${lab.prefix}-${spec.name}`));
  }

  get kubeletLog(): string {
    return join(this.dir, 'kubelet.log');
  }

  /** Writes the node's files and starts its first process; the kubelet registers on its own. */
  start(pki: ClusterPki, server: string, kubeProxyToken: string): void {
    const { spec } = this;
    mkdirSync(join(this.dir, 'root', 'opt', 'cni', 'bin'), { recursive: true });
    for (const f of readdirSync(CNI_PLUGINS)) copyFileSync(join(CNI_PLUGINS, f), join(this.dir, 'root', 'opt', 'cni', 'bin', f));

    const ns = this.lab.addNamespace(spec.name);
    this.lab.addVeth({ ns, name: 'eth0' }, { ns: null, name: `${this.lab.prefix}-${spec.name}` });
    this.lab.enslave(null, `${this.lab.prefix}-${spec.name}`, spec.bridge);
    this.lab.addAddress(ns, 'eth0', `${spec.ip}/${spec.prefixLength}`);
    this.lab.addRoute(ns, 'default', spec.gateway);

    writeFileSync(join(this.dir, 'kubelet.kubeconfig'), kubeconfigYaml(server, pki.ca.cert, { cert: pki.kubelet(spec.name) }), { mode: 0o600 });
    writeFileSync(join(this.dir, 'kube-proxy.kubeconfig'), kubeconfigYaml(server, pki.ca.cert, { token: kubeProxyToken }), { mode: 0o600 });
    writeFileSync(join(this.dir, 'kubelet.yaml'), this.kubeletConfig(pki.ca.cert));
    writeFileSync(join(this.dir, 'containerd.toml'), CONTAINERD_CONFIG);
    writeFileSync(join(this.dir, 'cgroup-mounts'), this.mounts.map((m) => m.join(' ')).join('\n') + '\n');

    // The node's cgroups, one per hierarchy (cpuset needs its cpus and mems before it takes a task).
    for (const cg of this.cgroups) {
      KubeletNode.removeCgroup(cg);
      mkdirSync(cg);
      if (cg.includes('/cpuset/')) for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(cg, f), readFileSync(join(cg, '..', f)));
    }
    // Into the cgroups first, then into the network namespace and new mount, UTS and cgroup
    // namespaces: the cgroup namespace is rooted where the shell stands when it is made.
    const join_ = this.cgroups.map((cg) => `echo $$ > ${cg}/cgroup.procs`).join(' && ');
    const init = join(repoRoot, 'sandbox', 'kubelet', 'node-init.sh');
    const log = join(this.dir, 'init.log');
    this.init = spawn('sh', ['-c', `${join_} && exec nsenter --net=${this.lab.netnsPath(ns)} unshare --mount --uts --cgroup --propagation private bash ${init} >${log} 2>&1`], {
      stdio: 'ignore',
      env: {
        ...process.env,
        NODE_NAME: spec.name,
        NODE_IP: spec.ip,
        NODE_DIR: this.dir,
        CLUSTER_CIDR: spec.clusterCidr,
        KUBELET: spec.bins.kubelet,
        KUBE_PROXY: spec.bins['kube-proxy'],
        IMAGES: spec.images.join(' '),
      },
    });
  }

  /** Whether the node's first process (the kubelet, after set-up) still runs. */
  get running(): boolean {
    return this.init !== undefined && this.init.exitCode === null && this.init.signalCode === null;
  }

  /** Runs a command in the node's namespaces, as its own processes see the host. */
  execArgs(cmd: string, args: string[]): string[] {
    const pid = this.init?.pid;
    if (!pid) throw new Error(`node ${this.spec.name} is not running`);
    return ['nsenter', '-t', String(pid), '-m', '-n', '-u', '-C', '--', cmd, ...args];
  }

  /** Kills every process of the node (containers included) and removes its cgroups. */
  stop(): void {
    for (const cg of [...this.cgroups].reverse()) KubeletNode.removeCgroup(cg);
    this.init = undefined;
  }

  /** Kills what a cgroup (and its children) holds, then removes the directories, deepest first. */
  static removeCgroup(path: string): void {
    if (!existsSync(path)) return;
    for (let round = 0; round < 50; round++) {
      const pids = KubeletNode.pidsUnder(path);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
    const rm = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rm(join(dir, e.name));
      try {
        rmdirSync(dir);
      } catch {
        // A process on its way out still holds it; the next start tries again.
      }
    };
    rm(path);
  }

  private static pidsUnder(dir: string): number[] {
    const pids: number[] = [];
    const walk = (d: string): void => {
      try {
        for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.push(Number(p));
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
      } catch {
        // Removed meanwhile.
      }
    };
    walk(dir);
    return pids;
  }

  private kubeletConfig(caCert: string): string {
    return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroupfs under the node's cgroup namespace root: the node's cgroup on the host.
cgroupDriver: cgroupfs
cgroupRoot: /
# This host mounts cgroup v1 controllers beside the v2 tree (hybrid), and has swap.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${caCert}}
authorization: {mode: Webhook}
address: ${this.spec.ip}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
resolvConf: ""
# The host's disk and memory are shared by every node: eviction would judge the host, not the node.
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
serializeImagePulls: false
`;
  }
}

// containerd's CRI as a node runs it, with two departures this host needs: the images are
// imported, never pulled (no registry), and the host withholds CAP_SYS_RESOURCE, so the OOM
// score the kubelet asks for is held at containerd's own (restrict_oom_score_adj).
const CONTAINERD_CONFIG = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
`;
