// The encryption guard (guard.ts) in a real node namespace with real traffic, on any kernel: the
// host's has no ESP or WireGuard, so the tunnel is played by the routing both use, a rule for the
// mark into a table that leads into a device named weir_wg0 (here a veth to a namespace standing
// for the encrypted path). The other node's pod address exists twice, behind the underlay
// ("clear") and behind that device ("tunnel"), and each answers with its name: what a connection
// reaches says which way the node sent it. A ClusterIP is translated by netfilter (as kube-proxy
// and Weir's nftables fallback do), and a node process sends from a pod's address (as the L7 proxy
// does): before the guard both leave in clear, which is the leak the guard closes.
import { execFileSync } from 'node:child_process';
import { Lab } from '../../sandbox/netns.js';
import { PodProcess, runInPod } from '../../sandbox/pods.js';
import { scaled } from '../../sandbox/wait.js';
import { NetnsCommands } from '../network/ipcmd.js';
import { EncryptionGuard, ENCRYPT_TABLE, removeGuard, type GuardWant } from './guard.js';
import { WG_DEVICE } from './wireguard.js';

const MARK = 0x1e00;
const VIP = '10.96.0.10';
const REMOTE_POD = '10.244.2.5';
const LOCAL_POD = '10.244.1.2';
/** One datagram from an address the node does not have, on a transparent socket as the L7 proxy's are. */
const SEND_AS = [
  'import json, socket, sys',
  's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
  's.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT',
  's.bind((sys.argv[3], 0))',
  'try:',
  '    s.sendto(sys.argv[4].encode() if len(sys.argv) > 4 else b"a" * 8, (sys.argv[1], int(sys.argv[2])))',
  '    print(json.dumps({"error": None}))',
  'except OSError as e:',
  '    print(json.dumps({"error": e.strerror}))',
].join('\n');

describe('the encryption guard in a namespace', () => {
  let lab: Lab;
  let node: string;
  let pod: string;
  let clear: string;
  let tunnel: string;
  const servers: PodProcess[] = [];
  const cmd = () => new NetnsCommands(`/var/run/netns/${node}`);
  const ip = (ns: string, args: string) => execFileSync('ip', ['-n', ns, ...args.split(' ')]);
  /** Who answers a connection, and from which source it saw it: "tunnel:8080 10.244.1.2". */
  const who = (from: string, to: string, port: number) => runInPod<Record<string, number>>(from, ['svc-probe', 'TCP', `${to}:${port}`, '1', '1500']).then((o) => Object.keys(o)[0]);
  /**
   * Which way a datagram the node itself sends from the pod's address (as the L7 proxy does) goes:
   * one way only, since the answer to a pod's address would be routed to the pod, not to this socket.
   */
  const sentAsPod = async (to: string, port: number): Promise<string[]> => {
    const sinks = [clear, tunnel].map((ns) => runInPod<{ got: Array<{ from: string; msg: string }> }>(ns, ['udp-log', '4', '9000', '2000']));
    await new Promise((r) => setTimeout(r, 800));
    const sent = await runInPod<{ error: string | null }>(node, [to, String(port), LOCAL_POD], { command: ['python3', '-c', SEND_AS] });
    const got = await Promise.all(sinks);
    return [...(sent.error ? [`not sent: ${sent.error}`] : []), ...got.flatMap((g, i) => g.got.map((m) => `${i === 0 ? 'clear' : 'tunnel'} ${m.from}`))];
  };
  const want = (w: Partial<GuardWant>): GuardWant => ({ localPods: ['10.244.1.0/24'], remotePods: ['10.244.2.0/24'], mark: MARK, strict: true, mode: 'ipsec', ...w });

  beforeAll(async () => {
    lab = new Lab('wgd');
    node = lab.addNamespace('node');
    pod = lab.addNamespace('pod');
    clear = lab.addNamespace('clear');
    tunnel = lab.addNamespace('tunnel');
    // The pod, behind its veth.
    lab.addVeth({ ns: node, name: 'lxc1' }, { ns: pod, name: 'eth0' });
    lab.addAddress(node, 'lxc1', '10.244.1.1/24');
    lab.addAddress(pod, 'eth0', `${LOCAL_POD}/24`);
    ip(pod, 'route add default via 10.244.1.1');
    // The underlay to the other node, which routes the other pod CIDR natively.
    lab.addVeth({ ns: node, name: 'eth0' }, { ns: clear, name: 'eth0' });
    lab.addAddress(node, 'eth0', '192.168.50.1/24');
    lab.addAddress(clear, 'eth0', '192.168.50.2/24');
    ip(clear, `addr add ${REMOTE_POD}/32 dev lo`);
    ip(clear, `route add 10.244.1.0/24 via 192.168.50.1 src ${REMOTE_POD}`);
    ip(node, 'route add 10.244.2.0/24 via 192.168.50.2');
    // The node's way to everything else, the service range included (a node process's ClusterIP is routed before it is translated).
    ip(node, 'route add default via 192.168.50.2');
    // The tunnel: marked traffic is routed into weir_wg0, as WireGuard's rule and table do (and
    // as IPsec's policies take what carries the mark).
    lab.addVeth({ ns: node, name: WG_DEVICE }, { ns: tunnel, name: 'eth0' });
    lab.addAddress(node, WG_DEVICE, '172.31.0.1/30');
    lab.addAddress(tunnel, 'eth0', '172.31.0.2/30');
    ip(tunnel, `addr add ${REMOTE_POD}/32 dev lo`);
    ip(tunnel, `route add 10.244.1.0/24 via 172.31.0.1 src ${REMOTE_POD}`);
    ip(node, 'route add 10.244.2.0/24 via 172.31.0.2 dev weir_wg0 table 77');
    ip(node, `rule add pref 90 fwmark 0x${MARK.toString(16)}/0xff00 lookup 77`);
    for (const s of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', `net.ipv4.conf.${WG_DEVICE}.rp_filter=0`, 'net.ipv4.conf.eth0.rp_filter=0'])
      execFileSync('ip', ['netns', 'exec', node, 'sysctl', '-qw', s]);
    // A ClusterIP translated by netfilter, for pods (prerouting) and for the node itself (output).
    execFileSync('ip', ['netns', 'exec', node, 'nft', '-f', '-'], {
      input: [
        'table ip svc {',
        `  chain pre { type nat hook prerouting priority dstnat; ip daddr ${VIP} tcp dport 80 dnat to ${REMOTE_POD}:8080; }`,
        `  chain out { type nat hook output priority -100; ip daddr ${VIP} udp dport 90 dnat to ${REMOTE_POD}:9000; }`,
        '}',
        '',
      ].join('\n'),
    });
    servers.push(await PodProcess.start(clear, ['serve-who', 'clear', '8080']));
    servers.push(await PodProcess.start(tunnel, ['serve-who', 'tunnel', '8080']));
    servers.push(await PodProcess.start(pod, ['serve-who', 'pod', '7000']));
  }, 60_000);

  afterAll(() => {
    for (const s of servers) s.stop();
    lab.cleanup();
  });

  it('without it, a ClusterIP translated by netfilter and a node process sending as a pod reach the other node in clear (the leak)', async () => {
    expect(await who(pod, VIP, 80)).toBe(`clear:8080 ${LOCAL_POD}`);
    expect(await sentAsPod(REMOTE_POD, 9000)).toEqual([`clear ${LOCAL_POD}`]);
    expect(await sentAsPod(VIP, 90)).toEqual([`clear ${LOCAL_POD}`]);
    // And the other node's pod reaches this one's in clear.
    expect(await who(clear, LOCAL_POD, 7000)).toBe(`pod:7000 ${REMOTE_POD}`);
  });

  it('marks both after translation as the datapath marks pod traffic, so they take the tunnel', async () => {
    const guard = new EncryptionGuard(cmd());
    expect(await guard.sync(want({}))).toBe(true);
    expect(await who(pod, VIP, 80)).toBe(`tunnel:8080 ${LOCAL_POD}`);
    expect(await sentAsPod(REMOTE_POD, 9000)).toEqual([`tunnel ${LOCAL_POD}`]);
    expect(await sentAsPod(VIP, 90)).toEqual([`tunnel ${LOCAL_POD}`]);
    // The node's own traffic (its own address) is not pod traffic: left as it was.
    expect(await who(node, REMOTE_POD, 8080)).toBe('clear:8080 192.168.50.1');
  });

  it('in strict mode, drops them while the node cannot encrypt; without strict mode, lets them go in clear as configured', async () => {
    const guard = new EncryptionGuard(cmd());
    await guard.sync(want({ mark: 0 }));
    expect(await who(pod, VIP, 80)).toBe('timeout');
    // Refused in the node's output: the sender is told.
    expect(await sentAsPod(REMOTE_POD, 9000)).toEqual(['not sent: Operation not permitted']);
    expect(await guard.sync(want({ mark: 0, strict: false }))).toBe(false);
    expect(await who(pod, VIP, 80)).toBe(`clear:8080 ${LOCAL_POD}`);
  });

  it("WireGuard in strict mode: a peer pod's traffic in clear is refused, through the device it is delivered", async () => {
    const guard = new EncryptionGuard(cmd());
    await guard.sync(want({ mode: 'wireguard' }));
    expect(await who(clear, LOCAL_POD, 7000)).toBe('timeout');
    // The answer is marked too, so it goes back the way the tunnel brought the question.
    expect(await who(tunnel, LOCAL_POD, 7000)).toBe(`pod:7000 ${REMOTE_POD}`);
    // What re-enters through lo is not refused: the endpoint program hands the L7 proxy its flows
    // there, after they came in through the tunnel (here a datagram from the peer pod's address
    // to a node address in the local pod CIDR, which the kernel loops through lo).
    const sink = await PodProcess.start(node, ['udp-log', '4', '9001', String(scaled(10_000)), 'looped']);
    const sent = await runInPod<{ error: string | null }>(node, ['10.244.1.1', '9001', REMOTE_POD, 'looped'], { command: ['python3', '-c', SEND_AS] });
    expect(sent.error).toBeNull();
    expect((await sink.result<{ got: Array<{ from: string; msg: string }> }>()).got).toEqual([{ from: REMOTE_POD, msg: 'looped' }]);
  });

  it('is removed without a trace', async () => {
    const guard = new EncryptionGuard(cmd());
    await guard.sync(want({}));
    expect(await removeGuard(cmd())).toBe(true);
    expect(execFileSync('ip', ['netns', 'exec', node, 'nft', 'list', 'tables'], { encoding: 'utf8' })).not.toContain(ENCRYPT_TABLE);
    expect(await who(pod, VIP, 80)).toBe(`clear:8080 ${LOCAL_POD}`);
  });
});
