// Weir's own rules in a real router namespace with real traffic: a pod subnet behind it, a host
// outside. The FORWARD accept lets pod traffic past a DROP policy and nothing else; masquerade
// gives outside hosts the router's address and leaves cluster destinations alone; removal takes
// exactly Weir's rules away.
import { execFileSync } from 'node:child_process';
import { Lab } from '../../sandbox/netns.js';
import { PodProcess, runInPod } from '../../sandbox/pods.js';
import { NetnsCommands } from './ipcmd.js';
import { NodeRules, removeNodeRules } from './noderules.js';

const THEIRS = [
  '-A FORWARD -s 172.16.3.0/24 -j LOG --log-prefix "theirs_"',
  '-A FORWARD -s 10.244.9.0/24 -p tcp -m tcp --dport 7001 -j DROP',
  '-A FORWARD -j REJECT --reject-with icmp-port-unreachable',
];

describe("Weir's own netfilter rules in a namespace", () => {
  let lab: Lab;
  let router: string;
  let pod: string;
  let outside: string;
  let stray: string;
  const servers: PodProcess[] = [];
  const iptables = (args: string[]) => execFileSync('ip', ['netns', 'exec', router, 'iptables', ...args], { encoding: 'utf8' });
  const who = (from: string, to: string, port = 7000) => runInPod<Record<string, number>>(from, ['svc-probe', 'TCP', `${to}:${port}`, '1', '1500']).then((o) => Object.keys(o)[0]);

  beforeAll(async () => {
    lab = new Lab('wnr');
    router = lab.addNamespace('router');
    pod = lab.addNamespace('pod');
    outside = lab.addNamespace('out');
    stray = lab.addNamespace('stray');
    for (const [ns, name, net] of [[pod, 'p', '10.244.9'], [outside, 'o', '192.168.5'], [stray, 's', '172.16.3']] as const) {
      lab.addVeth({ ns: router, name: `r-${name}` }, { ns, name: 'eth0' });
      lab.addAddress(router, `r-${name}`, `${net}.1/24`);
      lab.addAddress(ns, 'eth0', `${net}.2/24`);
      execFileSync('ip', ['-n', ns, 'route', 'add', 'default', 'via', `${net}.1`]);
    }
    execFileSync('ip', ['netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    iptables(['-P', 'FORWARD', 'DROP']);
    // Someone else's rules in FORWARD, which must survive: a log, an administrator's refusal of
    // some pod traffic (which Weir's accept must not pre-empt), and a closing catch-all (which
    // must not refuse the rest).
    for (const rule of THEIRS) iptables(rule.split(' ').map((w) => w.replace(/^"|"$/g, '').replace('_', ' ')));
    for (const ns of [outside, pod, stray]) servers.push(await PodProcess.start(ns, ['serve-who', ns.split('-')[1], '7000']));
    servers.push(await PodProcess.start(outside, ['serve-who', 'out', '7001']));
  }, 60_000);

  afterAll(() => {
    for (const s of servers) s.stop();
    lab.cleanup();
  });

  it('lets pod traffic past a DROP policy, masquerades it to outside hosts, and is removed without a trace', async () => {
    // Refused by the closing catch-all.
    expect(await who(pod, '192.168.5.2')).toBe('refused');
    const rules = new NodeRules(new NetnsCommands(`/var/run/netns/${router}`));
    const out = await rules.sync({ masquerade: true, podCidrs: ['10.244.9.0/24'], cluster: ['10.244.9.0/24', '172.16.3.0/24'], nodePortMax: 32767 });
    expect(out).toEqual({ masquerade: true, forwardAccept: true, problems: [] });
    // Outside the cluster: the router's address; a cluster destination: the pod's own.
    expect(await who(pod, '192.168.5.2')).toBe('out:7000 192.168.5.1');
    expect(await who(pod, '172.16.3.2')).toBe('stray:7000 10.244.9.2');
    // The administrator's refusal still holds, and the accept sits before the catch-all.
    expect(await who(pod, '192.168.5.2', 7001)).toBe('timeout');
    expect(iptables(['-S', 'FORWARD']).split('\n').filter((l) => l.startsWith('-A')).map((l) => l.split(' -j ')[1]?.split(' ')[0])).toEqual(['LOG', 'DROP', 'WEIR-FORWARD', 'REJECT']);
    // Traffic that is not a pod's is still the host's policy to drop.
    expect(await who(outside, '172.16.3.2')).toBe('refused');
    await removeNodeRules(new NetnsCommands(`/var/run/netns/${router}`));
    expect(iptables(['-S', 'FORWARD'])).toBe(`-P FORWARD DROP\n${THEIRS.map((r) => r.replace('_', ' ')).join('\n')}\n`);
    expect(execFileSync('ip', ['netns', 'exec', router, 'nft', 'list', 'tables'], { encoding: 'utf8' })).not.toContain('weir');
    expect(await who(pod, '192.168.5.2')).toBe('refused');
  }, 60_000);
});
