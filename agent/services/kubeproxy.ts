// Finds kube-proxy's rules on the node, read-only: the iptables mode's KUBE-SERVICES chain (nat
// table, through whichever iptables backend the host uses) and the nftables mode's kube-proxy
// table. Weir never edits or removes them: they are kube-proxy's (`kube-proxy --cleanup`).
import { isMissingCommand, type NetnsCommands } from '../network/ipcmd.js';

/** How often the node is looked at again: a listing of a large ruleset costs tens of ms. */
export const KUBE_PROXY_RECHECK_MS = 10_000;

/** Whether the nat table has kube-proxy's KUBE-SERVICES chain; throws when iptables cannot be asked. */
async function kubeServicesChain(cmd: NetnsCommands): Promise<boolean> {
  // -S of one rule answers quickly even under kube-proxy's thousands of rules. It also fails when
  // the chain is absent, in words that vary by backend and version (iptables-nft 1.8.9 calls a
  // missing chain "incompatible"), so a failure is settled by listing the table's chains, which is
  // short when kube-proxy is not there. No iptables installed: no chain.
  const quick = await cmd.exec('iptables', ['-w', '5', '-t', 'nat', '-S', 'KUBE-SERVICES', '1']).then(
    () => true,
    (err: unknown) => (isMissingCommand(err) ? false : undefined),
  );
  if (quick !== undefined) return quick;
  return /^-N KUBE-SERVICES$/m.test(await cmd.exec('iptables', ['-w', '5', '-t', 'nat', '-S']));
}

export async function findKubeProxy(cmd: NetnsCommands): Promise<string[]> {
  const found: string[] = [];
  if (await kubeServicesChain(cmd)) found.push('iptables nat KUBE-SERVICES');
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
