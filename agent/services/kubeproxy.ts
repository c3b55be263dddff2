// Finds kube-proxy's rules on the node, read-only: the iptables mode's KUBE-SERVICES chain (nat
// table, through whichever iptables backend the host uses) and the nftables mode's kube-proxy
// table. Weir never edits or removes them: they are kube-proxy's (`kube-proxy --cleanup`).
import { CommandError, isMissingCommand, type NetnsCommands } from '../network/ipcmd.js';

/** How often the node is looked at again: a listing of a large ruleset costs tens of ms. */
export const KUBE_PROXY_RECHECK_MS = 10_000;

/** What iptables says of a chain that is not there (nft and legacy backends), as opposed to a failure to look. */
const NO_CHAIN = /No chain\/target\/match|does not exist|Table does not exist/i;

export async function findKubeProxy(cmd: NetnsCommands): Promise<string[]> {
  const found: string[] = [];
  // -S of one rule: exits non-zero when the chain does not exist, without printing a long chain.
  // No iptables installed: no such chain. Any other failure (the xtables lock held past 5 s, no
  // permission) is not an answer, and throws.
  const chain = await cmd.exec('iptables', ['-w', '5', '-t', 'nat', '-S', 'KUBE-SERVICES', '1']).then(
    () => true,
    (err: unknown) => {
      if (isMissingCommand(err) || (err instanceof CommandError && NO_CHAIN.test(err.stderr))) return false;
      throw err;
    },
  );
  if (chain) found.push('iptables nat KUBE-SERVICES');
  const tables = await cmd.nftTables();
  for (const family of ['ip', 'ip6']) if (tables.includes(`${family} kube-proxy`)) found.push(`nftables ${family} kube-proxy`);
  return found;
}

/**
 * findKubeProxy at most once per KUBE_PROXY_RECHECK_MS. A look that fails keeps what the last
 * one found (a failed look is not "kube-proxy is gone"), says why, and is tried again next pass.
 */
export class KubeProxyWatch {
  private found: string[] = [];
  private at = -Infinity;

  constructor(
    private readonly find: () => Promise<string[]>,
    private readonly recheckMs = KUBE_PROXY_RECHECK_MS,
  ) {}

  async current(): Promise<{ found: string[]; problem?: string }> {
    if (Date.now() - this.at < this.recheckMs) return { found: this.found };
    try {
      this.found = await this.find();
      this.at = Date.now();
      return { found: this.found };
    } catch (err) {
      return { found: this.found, problem: `could not look for kube-proxy's rules (${err instanceof Error ? err.message : String(err)}); going by the last look` };
    }
  }
}
