// The node's VXLAN device and its routes to other nodes' pods. The device exists in either mode,
// so a node accepts what peers send it both ways while a mode change rolls out; the mode decides
// only how this node sends (routes.ts). The device is collect-metadata ("external"): one for
// every peer, the remote end and VNI set per packet by tc_to_overlay.
import { NetnsCommands } from './ipcmd.js';
import { parseRoutes, plannedRoutes, routeChanges, WEIR_ROUTE_PROTO, type NextHop, type OverlayMode, type Peer, type Route } from './routes.js';

export const OVERLAY_DEVICE = 'weir_vxlan';
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;

export interface OverlayWant {
  /** How this node sends to other nodes' pods. */
  mode: OverlayMode;
  vxlanPort: number;
  peers: readonly Peer[];
  /** This node's address: the source of what it sends into the tunnel itself. */
  nodeAddress?: string;
  /** The underlay interface, whose MTU the tunnel's is taken from. */
  underlayDev?: string;
}

export interface OverlayOutcome {
  /** The device's index (its programs attach there); undefined when it could not be made. */
  ifindex?: number;
  /** The mode in effect: native while the device cannot be made. */
  mode: OverlayMode;
  routes: number;
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
  async ensureDevice(port: number, underlayDev: string | undefined): Promise<{ ifindex: number; mtu: number }> {
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
    await this.cmd.ip(['link', 'set', OVERLAY_DEVICE, 'mtu', String(mtu), 'arp', 'off', 'up']);
    // Decapsulated sources are other nodes' pods: routed back through here in VXLAN mode, through
    // the underlay natively; either way the reverse path is not this device, so loose.
    await this.cmd.exec('sysctl', ['-qw', `net.ipv4.conf.${OVERLAY_DEVICE}.rp_filter=2`]);
    const now = await this.link(OVERLAY_DEVICE);
    if (!now) throw new Error(`${OVERLAY_DEVICE} not found after it was made`);
    return { ifindex: now.ifindex, mtu };
  }

  private async nextHop(address: string): Promise<NextHop | undefined> {
    try {
      const [r] = JSON.parse(await this.cmd.ip(['-j', 'route', 'get', address])) as Array<{ gateway?: string; dev: string; type?: string }>;
      if (!r || r.dev === OVERLAY_DEVICE || r.dev === 'lo') return undefined;
      return { dev: r.dev, ...(r.gateway ? { gateway: r.gateway } : {}) };
    } catch {
      return undefined;
    }
  }

  /** Weir's routes to the peers' pod CIDRs, as the mode says; others' routes are never touched. */
  async syncRoutes(mode: OverlayMode, peers: readonly Peer[], nodeAddress: string | undefined): Promise<{ routes: number; problems: string[] }> {
    const hops = new Map<string, NextHop | undefined>();
    if (mode === 'none') for (const p of peers) hops.set(p.address, await this.nextHop(p.address));
    const { routes, problems } = plannedRoutes(mode, peers, (a) => hops.get(a), OVERLAY_DEVICE, nodeAddress);
    const have = parseRoutes(await this.cmd.ip(['-j', 'route', 'show', 'proto', String(WEIR_ROUTE_PROTO)]));
    const { replace, remove } = routeChanges(have, routes);
    for (const r of remove) await this.cmd.ip(['route', 'del', r.dst, 'proto', String(WEIR_ROUTE_PROTO)]).catch(() => undefined);
    for (const r of replace) {
      try {
        await this.cmd.ip(['route', 'replace', ...routeArgs(r)]);
      } catch (err) {
        problems.push(`route to ${r.dst} not installed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return { routes: routes.length, problems };
  }

  async sync(want: OverlayWant): Promise<OverlayOutcome> {
    const problems: string[] = [];
    let ifindex: number | undefined;
    try {
      ({ ifindex } = await this.ensureDevice(want.vxlanPort, want.underlayDev));
    } catch (err) {
      problems.push(`overlay device ${OVERLAY_DEVICE} not made: ${err instanceof Error ? err.message : String(err)}`);
    }
    // Without the device, VXLAN routes would lead nowhere: native meanwhile, and the problem said.
    const mode = ifindex === undefined ? 'none' : want.mode;
    const routes = await this.syncRoutes(mode, want.peers, want.nodeAddress);
    return { ...(ifindex !== undefined ? { ifindex } : {}), mode, routes: routes.routes, problems: [...problems, ...routes.problems] };
  }

  /** Every route Weir made and the device (uninstall). */
  async remove(): Promise<number> {
    const have = parseRoutes(await this.cmd.ip(['-j', 'route', 'show', 'proto', String(WEIR_ROUTE_PROTO)]).catch(() => '[]'));
    for (const r of have) await this.cmd.ip(['route', 'del', r.dst, 'proto', String(WEIR_ROUTE_PROTO)]).catch(() => undefined);
    if (await this.link(OVERLAY_DEVICE)) await this.cmd.ip(['link', 'del', OVERLAY_DEVICE]);
    return have.length;
  }
}

function routeArgs(r: Route): string[] {
  return [r.dst, ...(r.via ? ['via', r.via] : []), 'dev', r.dev, ...(r.src ? ['src', r.src] : []), 'proto', String(WEIR_ROUTE_PROTO)];
}

/** Removes Weir's routes and overlay device from a node's namespace (weir agent --uninstall). */
export async function removeOverlay(netns: string | null): Promise<number> {
  return new NodeOverlay(new NetnsCommands(netns)).remove();
}
