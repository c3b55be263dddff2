// Pod networking as a container runtime does it: the standard CNI plugins (Debian's
// containernetworking-plugins) called with CNI_* variables and a network config on stdin, run
// inside the node's namespace so the bridge and host-side veths land there.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import type { Lab } from './netns.js';

export const CNI_PATH = '/usr/lib/cni';

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

  constructor(
    private readonly lab: Lab,
    readonly nodeNs: string,
    readonly opts: { name: string; bridge: string; subnet: string },
  ) {
    this.dataDir = `/run/${lab.prefix}-cni/${nodeNs}`;
    // The node's namespace is new, so any address recorded here is a killed run's leftover and
    // would make host-local refuse to hand it out again.
    rmSync(this.dataDir, { recursive: true, force: true });
    mkdirSync(this.dataDir, { recursive: true });
  }

  private config(): string {
    return JSON.stringify({
      cniVersion: '1.0.0',
      name: this.opts.name,
      type: 'bridge',
      bridge: this.opts.bridge,
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', ranges: [[{ subnet: this.opts.subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: this.dataDir },
    });
  }

  private call(command: 'ADD' | 'DEL', podNs: string, containerId: string): string {
    const r = spawnSync('ip', ['netns', 'exec', this.nodeNs, `${CNI_PATH}/bridge`], {
      input: this.config(),
      encoding: 'utf8',
      env: {
        ...process.env,
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_NETNS: this.lab.netnsPath(podNs),
        CNI_IFNAME: 'eth0',
        CNI_PATH,
      },
    });
    if (r.status !== 0) throw new Error(`CNI ${command} ${podNs}: ${(r.stdout || r.stderr).trim()}`);
    return r.stdout;
  }

  /** Creates the pod's namespace and networks it. */
  addPod(name: string): CniPod {
    const ns = this.lab.addNamespace(name);
    const containerId = `${ns}-id`;
    const res = JSON.parse(this.call('ADD', ns, containerId)) as CniResult;
    const host = res.interfaces?.find((i) => !i.sandbox && i.name !== this.opts.bridge);
    const addr = res.ips?.[0]?.address;
    if (!host || !addr) throw new Error(`CNI ADD ${ns}: no host veth or address in ${JSON.stringify(res)}`);
    const link = JSON.parse(this.lab.exec(this.nodeNs, 'ip', ['-j', 'link', 'show', host.name])) as Array<{ ifindex: number }>;
    return { ns, containerId, ip: addr.split('/')[0] ?? '', hostVeth: host.name, hostIfindex: link[0]?.ifindex ?? 0 };
  }

  delPod(pod: CniPod): void {
    this.call('DEL', pod.ns, pod.containerId);
  }

  cleanup(): void {
    rmSync(`/run/${this.lab.prefix}-cni`, { recursive: true, force: true });
  }
}
