// The service fallback (DatapathConfig iptablesFallback): where the socket hooks are missing,
// Services are served by netfilter NAT, programmed as one nftables table that Weir owns. Each
// packet takes one verdict-map lookup on (address, protocol, port), not kube-proxy's iptables
// walk down a chain per service; the chosen frontend's chain picks a backend with numgen.
import type { Frontend } from '../desired/services.js';
import { ServiceFlags } from '../../common/maps/lb.js';
import type { NetnsCommands } from '../network/ipcmd.js';
import { replaceTable } from '../network/nft.js';

export const FALLBACK_TABLE = 'weir_services';
/** conntrack mark bit of flows to masquerade (node ports, as kube-proxy does for Cluster policy). */
export const MASQUERADE_CT_MARK = 0x00800000;

const PROTO_NAME: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

/**
 * The whole table as one `nft -f` transaction: created, emptied and refilled, so a reader never
 * sees half of it. Chains are named by position in `frontends` (sorted by the caller).
 */
export function renderServiceTable(frontends: readonly Frontend[]): string {
  const nat: string[] = [];
  const empty: string[] = [];
  const chains: string[] = [];
  const sets: string[] = [];
  frontends.forEach((f, i) => {
    const proto = PROTO_NAME[f.proto];
    if (!proto) return;
    const key = `${f.address} . ${proto} . ${f.port}`;
    if (f.backends.length === 0) {
      // As kube-proxy: no endpoint rejects, except a Local policy's node without one, which drops.
      empty.push(`${key} : ${f.flags & ServiceFlags.LocalOnly ? 'drop' : 'goto refuse'}`);
      return;
    }
    nat.push(`${key} : goto fe_${i}`);
    // loadBalancerSourceRanges, as tc_nic judges them on the NIC: a client outside every range is
    // dropped before any translation (here: pods and the node itself, which the NIC never sees).
    const ranges = f.flags & ServiceFlags.SourceRanges && f.sourceRanges?.length ? `    ip saddr != { ${[...new Set(f.sourceRanges)].join(', ')} } drop\n` : '';
    const masq = f.flags & (ServiceFlags.NodePort | ServiceFlags.External) && !(f.flags & ServiceFlags.LocalOnly) ? `ct mark set ct mark | 0x${MASQUERADE_CT_MARK.toString(16)} ` : '';
    const to = (b: { address: string; port: number }) => `${b.address}:${b.port}`;
    if (f.flags & ServiceFlags.Affinity) {
      // ClientIP affinity: a client seen within the timeout goes back to its backend's chain.
      const body: string[] = [];
      f.backends.forEach((b, j) => {
        sets.push(`  set aff_${i}_${j} {\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout ${f.affinityTimeoutS}s\n  }`);
        chains.push(`  chain be_${i}_${j} {\n    update @aff_${i}_${j} { ip saddr }\n    meta l4proto ${proto} ${masq}dnat ip to ${to(b)}\n  }`);
        body.push(`    ip saddr @aff_${i}_${j} goto be_${i}_${j}`);
      });
      const pick = f.backends.length === 1 ? 'goto be_' + i + '_0' : `numgen random mod ${f.backends.length} vmap { ${f.backends.map((_, j) => `${j} : goto be_${i}_${j}`).join(', ')} }`;
      chains.push(`  chain fe_${i} {\n${ranges}${body.join('\n')}\n    ${pick}\n  }`);
      return;
    }
    const target = f.backends.length === 1 ? to(f.backends[0]) : `numgen random mod ${f.backends.length} map { ${f.backends.map((b, j) => `${j} : ${b.address} . ${b.port}`).join(', ')} }`;
    chains.push(`  chain fe_${i} {\n${ranges}    meta l4proto ${proto} ${masq}dnat ip to ${target}\n  }`);
  });
  const map = (name: string, elements: string[]) =>
    `  map ${name} {\n    type ipv4_addr . inet_proto . inet_service : verdict\n${elements.length ? `    elements = {\n      ${elements.join(',\n      ')}\n    }\n` : ''}  }`;
  const base = (name: string, type: 'nat' | 'filter', hook: string, priority: string, rule: string) =>
    `  chain ${name} {\n    type ${type} hook ${hook} priority ${priority}; policy accept;\n    ${rule}\n  }`;
  const lookup = (m: string) => `ip daddr . meta l4proto . th dport vmap @${m}`;
  return replaceTable(FALLBACK_TABLE, [
    map('frontends', nat),
    map('no_endpoints', empty),
    ...sets,
    // Just before kube-proxy's chains where both exist (dstnat -100, srcnat 100, filter 0), as the
    // eBPF path would be; numeric, as nft knows "dstnat" in prerouting only.
    base('prerouting', 'nat', 'prerouting', '-105', lookup('frontends')),
    base('output', 'nat', 'output', '-105', lookup('frontends')),
    base('postrouting', 'nat', 'postrouting', '95', `ct mark & 0x${MASQUERADE_CT_MARK.toString(16)} != 0 masquerade`),
    base('input', 'filter', 'input', '-5', lookup('no_endpoints')),
    base('forward', 'filter', 'forward', '-5', lookup('no_endpoints')),
    base('local_out', 'filter', 'output', '-5', lookup('no_endpoints')),
    '  chain refuse {\n    reject\n  }',
    ...chains,
  ]);
}

/** What `applied` holds when the namespace has no table (none was needed). */
const NO_TABLE = '';

/** The fallback table in the node's namespace, rewritten only when what it should hold changes. */
export class NftServiceTable {
  /** The text last applied, NO_TABLE, or undefined before the namespace was looked at. */
  private applied: string | undefined;

  constructor(private readonly cmd: NetnsCommands) {}

  /**
   * `frontends`: the table holds them. null: the node no longer needs the fallback; a table that
   * exists (this process's, or an earlier agent's) stays with empty maps, since the kernel
   * translates a NAT flow only while some NAT chain is registered in the namespace and deleting it
   * would cut the flows it translated; none is made. `--uninstall` removes it.
   */
  async sync(frontends: readonly Frontend[] | null): Promise<void> {
    if (frontends === null) {
      if (this.applied === NO_TABLE) return;
      if (this.applied === undefined && !(await tablePresent(this.cmd))) {
        this.applied = NO_TABLE;
        return;
      }
    }
    const text = renderServiceTable(frontends ?? []);
    if (text === this.applied) return;
    await this.cmd.exec('nft', ['-f', '-'], text);
    this.applied = text;
  }
}

const tablePresent = async (cmd: NetnsCommands): Promise<boolean> => (await cmd.nftTables()).includes(`ip ${FALLBACK_TABLE}`);

/** `--uninstall`: the table goes, with the translation of any flow it still carries. */
export async function removeServiceTable(cmd: NetnsCommands): Promise<boolean> {
  if (!(await tablePresent(cmd))) return false;
  await cmd.exec('nft', ['delete', 'table', 'ip', FALLBACK_TABLE]);
  return true;
}
