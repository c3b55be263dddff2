// Finds each pod's host-side veth from its IP, as a CNI-chained datapath must: the pod's
// namespace holds the address, the node's namespace holds the other end of its veth. For every
// veth in the node's namespace the kernel names the peer's namespace (link_netnsid) and index;
// named namespaces (what runtimes create under /var/run/netns) are then asked for that
// interface's addresses.
import { execFile as execFileCb } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);

export interface PodInterface {
  /** Host-side veth in the node's namespace. */
  ifname: string;
  ifindex: number;
  /** The pod's namespace name, where known. */
  podNetns?: string;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  link_index?: number;
  link_netnsid?: number;
  address?: string;
  operstate?: string;
}

interface IpAddrLink {
  ifindex: number;
  ifname: string;
  addr_info?: Array<{ family: string; local: string }>;
}

async function ipJson<T>(netns: string | null, args: string[]): Promise<T> {
  const full = netns ? ['-n', netns, '-j', ...args] : ['-j', ...args];
  const { stdout } = await execFile('ip', full, { maxBuffer: 64 * 1024 * 1024 });
  return (stdout.trim() ? JSON.parse(stdout) : []) as T;
}

/** What `ip` said on stderr when it failed, to tell "not there" from a real failure. */
const stderrOf = (err: unknown): string => {
  const e = (err as { stderr?: unknown }).stderr;
  return typeof e === 'string' ? e : Buffer.isBuffer(e) ? e.toString() : '';
};

/** Pod IPv4 address -> host-side veth. `nodeNetns` is a netns path (sandbox) or null (this one). */
export async function discoverPodInterfaces(nodeNetns: string | null): Promise<Map<string, PodInterface>> {
  const ns = nodeNetns ? basename(nodeNetns) : null;
  const [veths, ids] = await Promise.all([
    ipJson<IpLink[]>(ns, ['-d', 'link', 'show', 'type', 'veth']),
    ipJson<Array<{ nsid: number; name?: string }>>(ns, ['netns', 'list-id']),
  ]);
  const nameOf = new Map(ids.filter((i) => i.name).map((i) => [i.nsid, i.name ?? '']));
  const byPeerNs = new Map<string, IpLink[]>();
  for (const v of veths) {
    const name = v.link_netnsid === undefined ? undefined : nameOf.get(v.link_netnsid);
    if (!name) continue;
    byPeerNs.set(name, [...(byPeerNs.get(name) ?? []), v]);
  }
  const out = new Map<string, PodInterface>();
  await Promise.all(
    [...byPeerNs].map(async ([podNs, hostEnds]) => {
      let links: IpAddrLink[];
      try {
        links = await ipJson<IpAddrLink[]>(podNs, ['addr', 'show']);
      } catch (err) {
        // The pod's namespace went away meanwhile.
        if (stderrOf(err).includes('Cannot open network namespace')) return;
        throw err;
      }
      for (const h of hostEnds) {
        const peer = links.find((l) => l.ifindex === h.link_index);
        for (const a of peer?.addr_info ?? []) if (a.family === 'inet') out.set(a.local, { ifname: h.ifname, ifindex: h.ifindex, podNetns: podNs });
      }
    }),
  );
  return out;
}

/** An interface's index in the node's namespace, or undefined when it does not exist. */
export async function interfaceIndex(nodeNetns: string | null, ifname: string): Promise<number | undefined> {
  try {
    const links = await ipJson<IpLink[]>(nodeNetns ? basename(nodeNetns) : null, ['link', 'show', 'dev', ifname]);
    return links[0]?.ifindex;
  } catch (err) {
    if (stderrOf(err).includes('does not exist')) return undefined;
    throw err;
  }
}

/**
 * Every IPv4 address on the node's own interfaces (loopback aside): what the node sends from to
 * reach its pods (a CNI bridge's gateway address, not only the Node object's InternalIP).
 */
export async function hostAddresses(nodeNetns: string | null): Promise<string[]> {
  const links = await ipJson<IpAddrLink[]>(nodeNetns ? basename(nodeNetns) : null, ['-4', 'addr', 'show']);
  return links.filter((l) => l.ifname !== 'lo').flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local));
}

/** The interface holding `address` in the node's namespace (the node's NIC by default). */
export async function interfaceWithAddress(nodeNetns: string | null, address: string): Promise<{ ifname: string; ifindex: number } | undefined> {
  const links = await ipJson<IpAddrLink[]>(nodeNetns ? basename(nodeNetns) : null, ['addr', 'show']);
  const l = links.find((x) => x.addr_info?.some((a) => a.local === address));
  return l ? { ifname: l.ifname, ifindex: l.ifindex } : undefined;
}
