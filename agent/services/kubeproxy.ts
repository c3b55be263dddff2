// Finds kube-proxy's rules on the node, read-only: the iptables mode's KUBE-SERVICES chain (nat
// table, through whichever iptables backend the host uses) and the nftables mode's kube-proxy
// table. Weir never edits or removes them: they are kube-proxy's (`kube-proxy --cleanup`).
import type { NetnsCommands } from '../network/ipcmd.js';

/** How often the node is looked at again: a listing of a large ruleset costs tens of ms. */
export const KUBE_PROXY_RECHECK_MS = 10_000;

export async function findKubeProxy(cmd: NetnsCommands): Promise<string[]> {
  const found: string[] = [];
  // -S of one rule: exits non-zero when the chain does not exist, without printing a long chain.
  if (await cmd.exec('iptables', ['-w', '5', '-t', 'nat', '-S', 'KUBE-SERVICES', '1']).then(() => true, () => false)) found.push('iptables nat KUBE-SERVICES');
  const tables = await cmd.nftTables();
  for (const family of ['ip', 'ip6']) if (tables.includes(`${family} kube-proxy`)) found.push(`nftables ${family} kube-proxy`);
  return found;
}

/** findKubeProxy at most once per KUBE_PROXY_RECHECK_MS. */
export class KubeProxyWatch {
  private found: string[] = [];
  private at = -Infinity;

  constructor(
    private readonly find: () => Promise<string[]>,
    private readonly recheckMs = KUBE_PROXY_RECHECK_MS,
  ) {}

  async current(): Promise<string[]> {
    if (Date.now() - this.at >= this.recheckMs) {
      this.found = await this.find();
      this.at = Date.now();
    }
    return this.found;
  }
}
