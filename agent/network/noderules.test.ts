import { CommandError, type NetnsCommands } from './ipcmd.js';
import { jumpPosition, NodeRules, renderForwardChain, renderMasqueradeTable } from './noderules.js';

describe("Weir's own netfilter rules", () => {
  it('masquerades pod traffic to outside the cluster, with source ports above the node-port range', () => {
    const text = renderMasqueradeTable({ masquerade: true, podCidrs: ['10.244.1.0/24'], cluster: ['10.244.1.0/24', '10.244.2.0/24', '192.168.77.11'], nodePortMax: 32767 });
    expect(text.split('\n').slice(0, 2)).toEqual(['table ip weir_node', 'delete table ip weir_node']);
    expect(text).toContain('elements = { 10.244.1.0/24 }');
    expect(text).toContain('elements = { 10.244.1.0/24, 10.244.2.0/24, 192.168.77.11 }');
    expect(text).toContain('ip saddr @pods ip daddr != @cluster meta l4proto { tcp, udp } masquerade to :32768-65535');
    expect(text).toContain('ip saddr @pods ip daddr != @cluster masquerade\n');
  });

  it('writes an empty set without elements (nft refuses an empty list)', () => {
    expect(renderMasqueradeTable({ masquerade: true, podCidrs: [], cluster: [], nodePortMax: 32767 })).not.toContain('elements');
  });

  it('accepts forwarded traffic from and to the pod CIDRs in its own chain', () => {
    expect(renderForwardChain(['10.244.1.0/24'])).toBe('*filter\n:WEIR-FORWARD - [0:0]\n-A WEIR-FORWARD -s 10.244.1.0/24 -j ACCEPT\n-A WEIR-FORWARD -d 10.244.1.0/24 -j ACCEPT\nCOMMIT\n');
  });
});

describe('where the FORWARD accept sits', () => {
  it("goes after the administrator's rules, before a closing DROP or REJECT", () => {
    expect(jumpPosition('-P FORWARD DROP\n')).toBe('append');
    expect(jumpPosition('-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -s 10.0.0.0/8 -j DROP\n')).toBe('append');
    expect(jumpPosition('-P FORWARD ACCEPT\n-A FORWARD -s 10.0.0.0/8 -j DROP\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n-A FORWARD -j LOG\n')).toBe(2);
    expect(jumpPosition('-P FORWARD DROP\n-A FORWARD -j DROP\n')).toBe(1);
    // A DROP of some traffic is the administrator's rule, not a catch-all.
    expect(jumpPosition('-P FORWARD DROP\n-A FORWARD -i eth1 -j DROP\n')).toBe('append');
  });
});

describe('NodeRules when iptables cannot be asked', () => {
  /** A namespace whose iptables answers from `forward` (a string, or an error to throw). */
  const fakeCmd = (state: { forward: string | Error; calls: string[] }) =>
    ({
      exec: async (cmd: string, args: string[]) => {
        state.calls.push(`${cmd} ${args.join(' ')}`);
        if (cmd === 'iptables' && args.includes('-S') && args.includes('FORWARD')) {
          if (state.forward instanceof Error) throw state.forward;
          return state.forward;
        }
        // `-C` and `-D`: the jump is not there (yet, or any more).
        if (cmd === 'iptables' && (args.includes('-C') || args.includes('-D'))) throw new CommandError(`iptables ${args.join(' ')}`, 'Bad rule (does a matching rule exist in that chain?)');
        return '';
      },
      nftTables: async () => [],
    }) as unknown as NetnsCommands;
  const want = { masquerade: false, podCidrs: ['10.244.1.0/24'], cluster: [], nodePortMax: 32767 };

  it('accepts pod traffic under an ACCEPT policy when a closing REJECT would end it, jumping in before that rule', async () => {
    const state = { forward: '-P FORWARD ACCEPT\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n' as string | Error, calls: [] as string[] };
    expect(await new NodeRules(fakeCmd(state)).sync(want)).toMatchObject({ forwardAccept: true, problems: [] });
    expect(state.calls.filter((c) => c.includes(' -I ') || c.includes(' -A FORWARD'))).toEqual([expect.stringMatching(/^iptables -w 5 -I FORWARD 1 -m comment/)]);
    state.forward = '-P FORWARD ACCEPT\n';
    expect(await new NodeRules(fakeCmd(state)).sync(want)).toMatchObject({ forwardAccept: false });
  });

  it('keeps the FORWARD accept it has and says why, instead of reading a failed listing as "no DROP policy"', async () => {
    const state = { forward: '-P FORWARD DROP\n' as string | Error, calls: [] as string[] };
    let now = 0;
    const rules = new NodeRules(fakeCmd(state), () => now);
    expect(await rules.sync(want)).toMatchObject({ forwardAccept: true, problems: [] });
    state.forward = new CommandError('iptables -w 5', 'Another app is currently holding the xtables lock. Stopped waiting after 5s.');
    state.calls = [];
    now += 60_000;
    const out = await rules.sync(want);
    expect(out.forwardAccept).toBe(true);
    expect(out.problems).toEqual([expect.stringContaining('xtables lock')]);
    // Nothing of the accept was removed on the strength of the failed look.
    expect(state.calls.filter((c) => c.includes(' -D ') || c.includes(' -X '))).toEqual([]);
  });
});
