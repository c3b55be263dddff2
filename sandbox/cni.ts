// Pod networking as a container runtime does it: a CNI chain (the bridge plugin from Debian's
// containernetworking-plugins, then Weir's weir-cni when the node runs an agent) called with CNI_*
// variables and each plugin's config on stdin (prevResult passed along), inside the node's
// namespace so the bridge and host-side veths land there. DEL runs the chain in reverse; an ADD
// that a plugin answers "try again later" is undone and retried, as a kubelet does.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { activeConflist, chained, PLUGIN_TYPE } from '../agent/cni/install.js';
import { join } from 'node:path';
import type { Lab } from './netns.js';
import { repoRoot } from './paths.js';
import { scaled } from './wait.js';

export const CNI_PATH = '/usr/lib/cni';
const WEIR_CNI = join(repoRoot, 'build', 'cni', 'weir-cni');
/** CNI's "try again later" error code. */
const TRY_AGAIN = 11;

export interface CniPod {
  ns: string;
  containerId: string;
  /** The pod's IPv4 address (no prefix). */
  ip: string;
  /** Host-side veth, in the node's namespace. */
  hostVeth: string;
  hostIfindex: number;
}

interface CniResult {
  interfaces?: Array<{ name: string; sandbox?: string }>;
  ips?: Array<{ address: string; interface?: number }>;
}

export class CniNetwork {
  readonly dataDir: string;
  /** The node's CNI configuration directory, as a runtime has it (the agent keeps the pod MTU there). */
  readonly confDir: string;

  constructor(
    private readonly lab: Lab,
    readonly nodeNs: string,
    readonly opts: {
      name: string;
      bridge: string;
      subnet: string;
      /** Chain weir-cni after the bridge, reaching the node agent on this socket. */
      weirSocket?: string;
    },
  ) {
    this.dataDir = `/run/${lab.prefix}-cni/${nodeNs}`;
    this.confDir = `/run/${lab.prefix}-cni/${nodeNs}.d`;
    // The node's namespace is new, so any address recorded here is a killed run's leftover and
    // would make host-local refuse to hand it out again.
    for (const d of [this.dataDir, this.confDir]) {
      rmSync(d, { recursive: true, force: true });
      mkdirSync(d, { recursive: true });
    }
    // The bridge plugin's conflist, with weir-cni chained as `weir cni-install` chains it.
    const conflist = { cniVersion: '1.0.0', name: opts.name, plugins: [this.bridgeConfig()] };
    writeFileSync(join(this.confDir, '10-sandbox.conflist'), JSON.stringify(opts.weirSocket ? chained(conflist, opts.weirSocket) : conflist, null, 2));
  }

  private bridgeConfig(): Record<string, unknown> {
    return {
      type: 'bridge',
      bridge: this.opts.bridge,
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet: this.opts.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.dataDir },
    };
  }

  /** The conflist's plugins, in order, read for each call as a runtime reads it: binary and config. */
  private chain(): Array<{ binary: string; config: Record<string, unknown> }> {
    const conf = JSON.parse(readFileSync(activeConflist(this.confDir), 'utf8')) as { plugins: Array<Record<string, unknown>> };
    return conf.plugins.map((config) => ({ binary: config.type === PLUGIN_TYPE ? WEIR_CNI : `${CNI_PATH}/${String(config.type)}`, config }));
  }

  private exec(binary: string, command: 'ADD' | 'DEL', config: Record<string, unknown>, podNs: string, containerId: string) {
    return spawnSync('ip', ['netns', 'exec', this.nodeNs, binary], {
      input: JSON.stringify({ cniVersion: '1.0.0', name: this.opts.name, ...config }),
      encoding: 'utf8',
      env: {
        ...process.env,
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_NETNS: this.lab.netnsPath(podNs),
        CNI_IFNAME: 'eth0',
        CNI_PATH,
        // As containerd passes them: plugins that do not know the K8S_* keys ignore them.
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=sandbox;K8S_POD_NAME=${podNs}`,
      },
    });
  }

  /** ADD through the chain; the result of the last plugin. A failure undoes what was added. */
  private add(podNs: string, containerId: string): { ok: true; result: CniResult } | { ok: false; code: number; message: string } {
    let prev: unknown;
    for (const p of this.chain()) {
      const r = this.exec(p.binary, 'ADD', prev === undefined ? p.config : { ...p.config, prevResult: prev }, podNs, containerId);
      if (r.status !== 0) {
        this.del(podNs, containerId);
        let code = 0;
        try {
          code = (JSON.parse(r.stdout) as { code?: number }).code ?? 0;
        } catch {
          // Not a CNI error document: keep the raw output below.
        }
        return { ok: false, code, message: `CNI ADD ${podNs} (${p.binary}): ${(r.stdout || r.stderr).trim()}` };
      }
      prev = JSON.parse(r.stdout);
    }
    return { ok: true, result: prev as CniResult };
  }

  private del(podNs: string, containerId: string): void {
    for (const p of [...this.chain()].reverse()) {
      const r = this.exec(p.binary, 'DEL', p.config, podNs, containerId);
      if (r.status !== 0) throw new Error(`CNI DEL ${podNs} (${p.binary}): ${(r.stdout || r.stderr).trim()}`);
    }
  }

  /**
   * Creates the pod's namespace and networks it. With weir-cni in the chain this returns only
   * once the node's agent enforces the pod; while the agent cannot (not up yet), ADD is retried
   * for up to `retryMs` (stretched on a slower machine), as a kubelet retries a pod sandbox.
   */
  async addPod(name: string, retryMs = 60_000): Promise<CniPod> {
    const ns = this.lab.addNamespace(name);
    const containerId = `${ns}-id`;
    const deadline = Date.now() + scaled(retryMs);
    let r = this.add(ns, containerId);
    while (!r.ok && r.code === TRY_AGAIN && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 500));
      r = this.add(ns, containerId);
    }
    if (!r.ok) throw new Error(r.message);
    const res = r.result;
    const host = res.interfaces?.find((i) => !i.sandbox && i.name !== this.opts.bridge);
    const addr = res.ips?.[0]?.address;
    if (!host || !addr) throw new Error(`CNI ADD ${ns}: no host veth or address in ${JSON.stringify(res)}`);
    const link = JSON.parse(this.lab.exec(this.nodeNs, 'ip', ['-j', 'link', 'show', host.name])) as Array<{ ifindex: number }>;
    return { ns, containerId, ip: addr.split('/')[0] ?? '', hostVeth: host.name, hostIfindex: link[0]?.ifindex ?? 0 };
  }

  delPod(pod: CniPod): void {
    this.del(pod.ns, pod.containerId);
  }

  cleanup(): void {
    rmSync(`/run/${this.lab.prefix}-cni`, { recursive: true, force: true });
  }
}
