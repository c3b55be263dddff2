// What the agent's control loop needs from a node's datapath and network. The kernel
// (KernelDatapath, HostNetwork) is the real one; an in-memory backend (memory.ts) runs the same
// control loop without a kernel for hollow nodes in scale benchmarks, as kubemark does for kubelets.
import type { Logger } from '../../common/log.js';
import type { GcResult } from '../conntrack/gc.js';
import type { NodeSettings } from '../../common/maps/config.js';
import type { MetricsKey, MetricsValue } from '../../common/maps/metrics.js';
import { NetnsCommands } from '../network/ipcmd.js';
import { NodeOverlay, type OverlayOutcome, type OverlayWant } from '../network/overlay.js';
import { NodeRules, type NodeRulesOutcome, type NodeRulesWant } from '../network/noderules.js';
import { findKubeProxy } from '../services/kubeproxy.js';
import { NftServiceTable } from '../services/nftables.js';
import type { Frontend } from '../desired/services.js';
import { discoverPodInterfaces, hostAddresses, interfaceIndex, interfaceWithAddress, type PodInterface } from './interfaces.js';
import type { DesiredMaps, MapStatus, MapSyncCount } from './kernel.js';
import type { LinkReport, WantedLink } from './links.js';
import type { ResizeReport } from './resize.js';

export interface DatapathBackend {
  readonly isLoaded: boolean;
  /** Maps whose size differs from what NodeDatapath asks: they wait for the resize gate. */
  readonly resizePending: ReadonlyArray<{ map: string; pinned: number; wanted: number }>;
  /** What start-up did with a resize a crashed agent left. */
  readonly recovered: 'rolled-back' | 'rolled-forward' | undefined;
  ensureLoaded(sizes: ReadonlyMap<string, number>, log?: Logger): Promise<unknown>;
  refreshPending(sizes: ReadonlyMap<string, number>): void;
  resize(sizes: ReadonlyMap<string, number>, drainTimeoutMs: number, log: Logger): Promise<ResizeReport>;
  syncMaps(m: DesiredMaps): Promise<MapSyncCount[]>;
  readConfig(): NodeSettings | undefined;
  writeConfig(c: NodeSettings): void;
  reconcileLinks(wanted: readonly WantedLink[]): LinkReport;
  attachSockmap(): void;
  programId(name: string): number;
  mapStatus(): MapStatus[];
  /** Backend ids and reverse-NAT indices as the maps hold them (kept stable across restarts). */
  lbNumbering(): { backends: Array<{ id: number; address: string; port: number; proto: number }>; revNat: Array<{ index: number; address: string; port: number }> };
  counters(): Array<MetricsKey & MetricsValue>;
  collectConntrack(): Promise<Array<{ map: string } & GcResult>>;
  close(): void;
}

export interface NodeNetwork {
  /** Pod IPv4 address -> host-side veth. */
  podInterfaces(): Promise<Map<string, PodInterface>>;
  /** Node interfaces: the named devices, else the one holding the first of `addresses`. */
  nics(devices: readonly string[], addresses: readonly string[]): Promise<Array<{ ifname: string; ifindex: number }>>;
  /** IPv4 addresses on the node's own interfaces: the host identity's, besides the Node object's. */
  hostAddresses(): Promise<string[]>;
  /** The overlay device and Weir's routes to other nodes' pod CIDRs (network/overlay.ts). */
  syncOverlay(want: OverlayWant): Promise<OverlayOutcome>;
  /** Weir's own netfilter rules: masquerade, the FORWARD accept (network/noderules.ts). */
  syncNodeRules(want: NodeRulesWant): Promise<NodeRulesOutcome>;
  /** kube-proxy's rules found on the node, read-only (services/kubeproxy.ts). */
  kubeProxyRules(): Promise<string[]>;
  /** The nftables service fallback: these frontends, or null once not needed (services/nftables.ts). */
  syncServiceTable(frontends: readonly Frontend[] | null): Promise<void>;
}

/** The node's real interfaces, in `netns` (a path) or the agent's own namespace. */
export class HostNetwork implements NodeNetwork {
  private readonly overlay: NodeOverlay;
  private readonly rules: NodeRules;
  private readonly serviceTable: NftServiceTable;
  private readonly cmd: NetnsCommands;

  constructor(private readonly netns: string | null) {
    this.cmd = new NetnsCommands(netns);
    this.overlay = new NodeOverlay(this.cmd);
    this.rules = new NodeRules(this.cmd);
    this.serviceTable = new NftServiceTable(this.cmd);
  }

  syncOverlay(want: OverlayWant): Promise<OverlayOutcome> {
    return this.overlay.sync(want);
  }

  syncNodeRules(want: NodeRulesWant): Promise<NodeRulesOutcome> {
    return this.rules.sync(want);
  }

  kubeProxyRules(): Promise<string[]> {
    return findKubeProxy(this.cmd);
  }

  syncServiceTable(frontends: readonly Frontend[] | null): Promise<void> {
    return this.serviceTable.sync(frontends);
  }

  podInterfaces(): Promise<Map<string, PodInterface>> {
    return discoverPodInterfaces(this.netns);
  }

  hostAddresses(): Promise<string[]> {
    return hostAddresses(this.netns);
  }

  async nics(devices: readonly string[], addresses: readonly string[]): Promise<Array<{ ifname: string; ifindex: number }>> {
    if (devices.length) {
      const out: Array<{ ifname: string; ifindex: number }> = [];
      for (const d of devices) {
        const ifindex = await interfaceIndex(this.netns, d);
        if (ifindex !== undefined) out.push({ ifname: d, ifindex });
      }
      return out;
    }
    for (const a of addresses) {
      const i = await interfaceWithAddress(this.netns, a);
      if (i) return [i];
    }
    return [];
  }
}
