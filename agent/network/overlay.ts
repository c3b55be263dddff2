// The node's VXLAN device and its routes to other nodes' pods. The device exists while the
// operator asks for it (spec.overlay.receive: some node sends or may send through the tunnel), so
// a node accepts what peers send it both ways while a mode change rolls out, and a native cluster
// has no listener on the VXLAN port; the mode decides how this node sends (routes.ts). The device
// is collect-metadata ("external"): one for every peer, the remote end and VNI set per packet by
// tc_to_overlay.
import { absentAs, CommandError, isMissingTable, NetnsCommands } from './ipcmd.js';
import { OVERLAY_RULE_PREF, OVERLAY_TABLE, parseRoutes, plannedRoutes, routeChanges, WEIR_ROUTE_PROTO, type NextHop, type OverlayMode, type Peer, type Route } from './routes.js';

export const OVERLAY_DEVICE = 'weir_vxlan';
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

export interface OverlayWant {
  /** How this node sends to other nodes' pods. */
  mode: OverlayMode;
  /** Keep the device to accept tunnelled packets (always in VXLAN mode). */
  receive: boolean;
  vxlanPort: number;
  peers: readonly Peer[];
  /** This node's address: the source of what it sends into the tunnel itself. */
  nodeAddress?: string;
  /** This node's pod CIDRs: in VXLAN mode, what they send to other nodes' addresses is tunnelled. */
  podCidrs: readonly string[];
  /** The underlay interface, whose MTU the tunnel's is taken from. */
  underlayDev?: string;
}

export interface OverlayOutcome {
  /** The device's index (its programs attach there); undefined when it could not be made. */
  ifindex?: number;
  /** The mode in effect: native while the device cannot be made. */
  mode: OverlayMode;
  routes: number;
  /** The MTU pods should have: the tunnel's in VXLAN mode, the underlay's natively. */
  podMtu?: number;
  /** The device is up: tunnelled packets are accepted. */
  receiving: boolean;
  /** Sysctls this pass set to 0 (reverse-path filtering), for the log. */
  changed?: string[];
  problems: string[];
}

interface LinkInfo {
  ifindex: number;
  mtu: number;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { port?: number; external?: boolean } };
}

export class NodeOverlay {
  constructor(private readonly cmd: NetnsCommands) {}

  private async link(name: string): Promise<LinkInfo | undefined> {
    try {
      return (JSON.parse(await this.cmd.ip(['-d', '-j', 'link', 'show', 'dev', name])) as LinkInfo[])[0];
    } catch {
      return undefined;
    }
  }

  /** The device with this port and MTU, up, without ARP (the tunnel needs no neighbours). */
  async ensureDevice(port: number, underlayDev: string | undefined): Promise<{ ifindex: number; mtu: number; changed: string[] }> {
    const underlay = underlayDev ? await this.link(underlayDev) : undefined;
    const mtu = (underlay?.mtu ?? 1500) - VXLAN_OVERHEAD;
    let dev = await this.link(OVERLAY_DEVICE);
    const info = dev?.linkinfo?.info_data;
    // A port cannot be changed in place: made again (a short gap, which the API allows only outside VXLAN mode).
    if (dev && (dev.linkinfo?.info_kind !== 'vxlan' || info?.port !== port || info?.external !== true)) {
      await this.cmd.ip(['link', 'del', OVERLAY_DEVICE]);
      dev = undefined;
    }
    if (!dev) await this.cmd.ip(['link', 'add', OVERLAY_DEVICE, 'type', 'vxlan', 'external', 'dstport', String(port)]);
    if (!dev || dev.mtu !== mtu || !dev.flags.includes('NOARP') || !dev.flags.includes('UP')) await this.cmd.ip(['link', 'set', OVERLAY_DEVICE, 'mtu', String(mtu), 'arp', 'off', 'up']);
    // Reverse-path filtering cannot judge the tunnel: what arrives here comes from pods and nodes
    // that routes may reach another way (natively while a mode change rolls out, a node's own
    // address always), and on a device without an address even the loose check refuses those.
    // The node-wide value is the floor of every device's, so it goes to 0 as well (as Cilium does);
    // each other interface keeps its own setting.
    const keys = [`net.ipv4.conf.${OVERLAY_DEVICE}.rp_filter`, 'net.ipv4.conf.all.rp_filter'];
    const values = (await this.cmd.exec('sysctl', ['-n', ...keys])).trim().split('\n');
    const changed = keys.filter((_k, i) => values[i]?.trim() !== '0');
    if (changed.length) await this.cmd.exec('sysctl', ['-qw', ...changed.map((k) => `${k}=0`)]);
    const now = await this.link(OVERLAY_DEVICE);
    if (!now) throw new Error(`${OVERLAY_DEVICE} not found after it was made`);
    return { ifindex: now.ifindex, mtu, changed };
  }

  /** How the node reaches each address now (one `ip` for all of them): gateway or on-link. */
  private async nextHops(addresses: readonly string[]): Promise<Map<string, NextHop>> {
    const found = await this.cmd.ipBatchJson<{ dst: string; gateway?: string; dev: string; type?: string }>(addresses.map((a) => `route get ${a}`));
    const hops = new Map<string, NextHop>();
    for (const r of found) {
      // Reached through the tunnel or locally: no native next hop.
      if (r.dev === OVERLAY_DEVICE || r.dev === 'lo' || (r.type !== undefined && r.type !== 'unicast')) continue;
      hops.set(r.dst, { dev: r.dev, ...(r.gateway ? { gateway: r.gateway } : {}) });
    }
    return hops;
  }

  private async weirRoutes(): Promise<Route[]> {
    const [main, overlay] = await Promise.all([
      this.cmd.ip(['-j', 'route', 'show', 'proto', String(WEIR_ROUTE_PROTO)]),
      // The table exists once a route is in it: before that the kernel says so, which is "none".
      this.cmd.ip(['-j', 'route', 'show', 'table', String(OVERLAY_TABLE), 'proto', String(WEIR_ROUTE_PROTO)]).catch(absentAs(isMissingTable, '[]')),
    ]);
    return [...parseRoutes(main), ...parseRoutes(overlay, OVERLAY_TABLE)];
  }

  /** Weir's routes to the peers' pod CIDRs, as the mode says; others' routes are never touched. */
  async syncRoutes(mode: OverlayMode, peers: readonly Peer[], nodeAddress: string | undefined, podCidrs: readonly string[] = []): Promise<{ routes: number; problems: string[] }> {
    const hops = mode === 'none' ? await this.nextHops(peers.map((p) => p.address)) : new Map<string, NextHop>();
    const { routes, problems } = plannedRoutes(mode, peers, (a) => hops.get(a), OVERLAY_DEVICE, nodeAddress);
    const { replace, remove } = routeChanges(await this.weirRoutes(), routes);
    for (const r of remove) {
      // Gone already (ESRCH: "No such process") is what was wanted; anything else stays and is said.
      await this.cmd.ip(['route', 'del', r.dst, ...tableArgs(r), 'proto', String(WEIR_ROUTE_PROTO)]).catch((err: unknown) => {
        if (!(err instanceof CommandError && /No such process/.test(err.stderr))) problems.push(`stale route to ${r.dst} not removed: ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    for (const r of replace) {
      try {
        await this.cmd.ip(['route', 'replace', ...routeArgs(r)]);
      } catch (err) {
        problems.push(`route to ${r.dst} not installed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await this.syncRules(mode === 'vxlan' ? podCidrs : []).catch((err: unknown) => problems.push(`overlay rule not installed: ${err instanceof Error ? err.message : String(err)}`));
    return { routes: routes.length, problems };
  }

  /** One rule per pod CIDR into the overlay table (only Weir's: its preference and table). */
  private async syncRules(podCidrs: readonly string[]): Promise<void> {
    const rules = JSON.parse((await this.cmd.ip(['-j', 'rule', 'show', 'pref', String(OVERLAY_RULE_PREF)])) || '[]') as Array<{ src?: string; srclen?: number; table?: string }>;
    const have = rules.filter((r) => r.table === String(OVERLAY_TABLE) && r.src).map((r) => `${r.src}/${r.srclen ?? 32}`);
    for (const c of have) if (!podCidrs.includes(c)) await this.cmd.ip(['rule', 'del', 'pref', String(OVERLAY_RULE_PREF), 'from', c, 'lookup', String(OVERLAY_TABLE)]);
    for (const c of podCidrs) if (!have.includes(c)) await this.cmd.ip(['rule', 'add', 'pref', String(OVERLAY_RULE_PREF), 'from', c, 'lookup', String(OVERLAY_TABLE)]);
  }

  async sync(want: OverlayWant): Promise<OverlayOutcome> {
    const problems: string[] = [];
    let ifindex: number | undefined;
    let tunnelMtu: number | undefined;
    let changed: string[] = [];
    if (want.receive || want.mode === 'vxlan') {
      try {
        ({ ifindex, mtu: tunnelMtu, changed } = await this.ensureDevice(want.vxlanPort, want.underlayDev));
      } catch (err) {
        problems.push(`overlay device ${OVERLAY_DEVICE} not made: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Without the device, VXLAN routes would lead nowhere: native meanwhile, and the problem said.
    const mode = ifindex === undefined ? 'none' : want.mode;
    // Natively, the routes go first: none may lead into a device about to go.
    const routes = await this.syncRoutes(mode, want.peers, want.nodeAddress, want.podCidrs);
    if (!want.receive && want.mode === 'none')
      await this.removeDevice().catch((err: unknown) => problems.push(`overlay device ${OVERLAY_DEVICE} not removed (it accepts tunnelled packets): ${err instanceof Error ? err.message : String(err)}`));
    const receiving = ifindex !== undefined || (!want.receive && (await this.link(OVERLAY_DEVICE)) !== undefined);
    const underlayMtu = ifindex === undefined ? (want.underlayDev ? (await this.link(want.underlayDev))?.mtu : undefined) ?? 1500 : undefined;
    const podMtu = tunnelMtu === undefined ? underlayMtu : mode === 'vxlan' ? tunnelMtu : tunnelMtu + VXLAN_OVERHEAD;
    return { ...(ifindex !== undefined ? { ifindex } : {}), ...(podMtu !== undefined ? { podMtu } : {}), ...(changed.length ? { changed } : {}), mode, receiving, routes: routes.routes, problems: [...problems, ...routes.problems] };
  }

  /** The device, when there is one (its programs go with it). */
  private async removeDevice(): Promise<void> {
    if (await this.link(OVERLAY_DEVICE)) await this.cmd.ip(['link', 'del', OVERLAY_DEVICE]);
  }

  /** Every route and rule Weir made, and the device (uninstall). */
  async remove(): Promise<number> {
    const have = await this.weirRoutes().catch(() => [] as Route[]);
    for (const r of have) await this.cmd.ip(['route', 'del', r.dst, ...tableArgs(r), 'proto', String(WEIR_ROUTE_PROTO)]).catch(() => undefined);
    await this.syncRules([]).catch(() => undefined);
    await this.removeDevice();
    return have.length;
  }
}

const tableArgs = (r: Route): string[] => (r.table !== undefined ? ['table', String(r.table)] : []);

function routeArgs(r: Route): string[] {
  return [r.dst, ...(r.via ? ['via', r.via] : []), 'dev', r.dev, ...(r.src ? ['src', r.src] : []), ...tableArgs(r), 'proto', String(WEIR_ROUTE_PROTO)];
}

/** Removes Weir's routes and overlay device from a node's namespace (weir agent --uninstall). */
export async function removeOverlay(netns: string | null): Promise<number> {
  return new NodeOverlay(new NetnsCommands(netns)).remove();
}
