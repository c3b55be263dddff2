// Weir's own netfilter rules, where a node needs them:
// - masquerade of pod traffic leaving the cluster (DatapathConfig masquerade), in the nftables
//   table weir_node: one set lookup a packet, and source ports above the node-port range so a
//   reply never lands on a NodePort frontend in the NIC program;
// - an ACCEPT of forwarded pod traffic when the host's FORWARD policy is DROP (Docker sets it),
//   in the iptables chain WEIR-FORWARD: a DROP policy is iptables', and an nftables accept in
//   another table cannot overrule it, so the jump must sit in the FORWARD chain itself; it goes
//   after the administrator's rules there and before a closing catch-all (jumpPosition).
// Nothing else is touched; `weir agent --uninstall` removes both.
import { absentAs, CommandError, isMissingCommand, type NetnsCommands } from './ipcmd.js';
import { cidrSet, replaceTable } from './nft.js';

export const NODE_TABLE = 'weir_node';
export const FORWARD_CHAIN = 'WEIR-FORWARD';
const FORWARD_RECHECK_MS = 10_000;
/** iptables' words for a kernel without the filter table (legacy and nft backends). */
const NO_FILTER_TABLE = /can't initialize iptables table|Table does not exist/i;
const JUMP = ['FORWARD', '-m', 'comment', '--comment', 'weir: forwarded pod traffic', '-j', FORWARD_CHAIN];

export interface NodeRulesWant {
  masquerade: boolean;
  /** This node's pod CIDRs: the sources masqueraded, and what the FORWARD accept covers. */
  podCidrs: readonly string[];
  /** Destinations never masqueraded: every pod CIDR and node address, and nonMasqueradeCIDRs. */
  cluster: readonly string[];
  /** Masquerade source ports start above it (serviceLB.nodePortRange.max). */
  nodePortMax: number;
}

export interface NodeRulesOutcome {
  masquerade: boolean;
  forwardAccept: boolean;
  problems: string[];
}

/** The masquerade table as one `nft -f` transaction. */
export function renderMasqueradeTable(want: NodeRulesWant): string {
  const leaving = 'ip saddr @pods ip daddr != @cluster';
  return replaceTable(NODE_TABLE, [
    cidrSet('pods', want.podCidrs),
    cidrSet('cluster', want.cluster),
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    `    ${leaving} meta l4proto { tcp, udp } masquerade to :${want.nodePortMax + 1}-65535`,
    `    ${leaving} masquerade`,
    '  }',
  ]);
}

/** A rule that ends the chain for every packet: a firewall's closing `-j DROP` or `-j REJECT`. */
const CATCH_ALL = /^-A FORWARD -j (DROP|REJECT( --reject-with \S+)?)$/;

/**
 * Where the jump to WEIR-FORWARD goes in FORWARD (`iptables -S FORWARD`): after the rules already
 * there, so an administrator's own DROP or REJECT of some pod traffic still wins, but before a
 * closing catch-all (firewalld's and many hosts' `-j REJECT`), which would otherwise refuse all
 * of it. A 1-based position for `iptables -I`, or 'append'.
 */
export function jumpPosition(forward: string): number | 'append' {
  const rules = forward.split('\n').filter((l) => l.startsWith('-A FORWARD '));
  const i = rules.findIndex((l) => CATCH_ALL.test(l));
  return i < 0 ? 'append' : i + 1;
}

/** WEIR-FORWARD's contents, for `iptables-restore --noflush` (declaring the chain empties it). */
export function renderForwardChain(podCidrs: readonly string[]): string {
  return ['*filter', `:${FORWARD_CHAIN} - [0:0]`, ...podCidrs.flatMap((c) => [`-A ${FORWARD_CHAIN} -s ${c} -j ACCEPT`, `-A ${FORWARD_CHAIN} -d ${c} -j ACCEPT`]), 'COMMIT', ''].join('\n');
}

/** Applies the rules, looking at the FORWARD policy and rewriting only what changed. */
export class NodeRules {
  private applied = '';
  private forwardKey = '';
  private forwardCheckedAt = -Infinity;
  private forwardAccept = false;
  private forwardProblem: string | undefined;

  constructor(
    private readonly cmd: NetnsCommands,
    private readonly now: () => number = Date.now,
  ) {}

  async sync(want: NodeRulesWant): Promise<NodeRulesOutcome> {
    const problems: string[] = [];
    let masquerade = false;
    try {
      if (want.masquerade) {
        const text = renderMasqueradeTable(want);
        if (text !== this.applied) await this.cmd.exec('nft', ['-f', '-'], text);
        this.applied = text;
        masquerade = true;
      } else if (this.applied !== 'none') {
        await removeMasquerade(this.cmd);
        this.applied = 'none';
      }
    } catch (err) {
      this.applied = '';
      problems.push(`masquerade not applied: ${err instanceof Error ? err.message : String(err)}`);
    }
    // The FORWARD policy can change under us (Docker starting): looked at again every 10 s.
    const key = want.podCidrs.join(',');
    if (key !== this.forwardKey || this.now() - this.forwardCheckedAt >= FORWARD_RECHECK_MS) {
      try {
        // No iptables installed, or no filter table in the kernel: no policy to get past. A
        // listing that fails otherwise is no answer: the accept stays as it is and the node says
        // why (the catch below).
        const noFilterTable = (err: unknown) => isMissingCommand(err) || (err instanceof CommandError && NO_FILTER_TABLE.test(err.stderr));
        const forward = await this.cmd.exec('iptables', ['-w', '5', '-S', 'FORWARD']).catch(absentAs(noFilterTable, ''));
        // Forwarded pod traffic needs an accept when FORWARD would end it: a DROP policy, or a
        // closing catch-all before the policy is reached.
        const refusesByDefault = /^-P FORWARD DROP$/m.test(forward) || jumpPosition(forward) !== 'append';
        if (refusesByDefault && want.podCidrs.length) {
          await this.cmd.exec('iptables-restore', ['-w', '5', '--noflush'], renderForwardChain(want.podCidrs));
          const jumped = await this.cmd.exec('iptables', ['-w', '5', '-C', ...JUMP]).then(() => true, () => false);
          if (!jumped) {
            const at = jumpPosition(forward);
            const [chain, ...rule] = JUMP;
            await this.cmd.exec('iptables', ['-w', '5', ...(at === 'append' ? ['-A', chain] : ['-I', chain, String(at)]), ...rule]);
          }
          this.forwardAccept = true;
        } else {
          await removeForwardAccept(this.cmd);
          this.forwardAccept = false;
        }
        this.forwardKey = key;
        this.forwardCheckedAt = this.now();
        this.forwardProblem = undefined;
      } catch (err) {
        this.forwardProblem = `forwarded pod traffic not accepted past the host's FORWARD policy: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    if (this.forwardProblem) problems.push(this.forwardProblem);
    const forwardAccept = this.forwardAccept;
    return { masquerade, forwardAccept, problems };
  }
}

async function removeMasquerade(cmd: NetnsCommands): Promise<boolean> {
  if (!(await cmd.nftTables()).includes(`ip ${NODE_TABLE}`)) return false;
  await cmd.exec('nft', ['delete', 'table', 'ip', NODE_TABLE]);
  return true;
}

async function removeForwardAccept(cmd: NetnsCommands): Promise<boolean> {
  let removed = false;
  while (await cmd.exec('iptables', ['-w', '5', '-D', ...JUMP]).then(() => true, () => false)) removed = true;
  if (await cmd.exec('iptables', ['-w', '5', '-S', FORWARD_CHAIN]).then(() => true, () => false)) {
    await cmd.exec('iptables', ['-w', '5', '-F', FORWARD_CHAIN]);
    await cmd.exec('iptables', ['-w', '5', '-X', FORWARD_CHAIN]);
    removed = true;
  }
  return removed;
}

/** `--uninstall`: both of Weir's rule sets, and nothing else. */
export async function removeNodeRules(cmd: NetnsCommands): Promise<{ masquerade: boolean; forwardAccept: boolean }> {
  return { masquerade: await removeMasquerade(cmd), forwardAccept: await removeForwardAccept(cmd) };
}
