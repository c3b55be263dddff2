// The datapath with real traffic on one node: pods are network namespaces networked by the CNI
// bridge plugin inside a node namespace; the programs are attached as the agent attaches them
// (tcx on host-side veths, socket programs on a cgroup the pod processes run in); the maps are
// filled as the agent fills them. No agent or API server here: that is the agent's sandbox.
import { withNetns } from 'libbpfjs';
import { attachCgroup, attachEndpoint, attachSockmap, type CgroupLinks, type EndpointLinks } from '../../agent/datapath/attach.js';
import { ConfigFlags } from '../../common/maps/config.js';
import { CtFlags, CtPath, CtScope } from '../../common/maps/conntrack.js';
import { sock4Key, sockMap } from '../../common/maps/sockmap.js';
import { ServiceFlags } from '../../common/maps/lb.js';
import { Direction, Reason } from '../../common/maps/metrics.js';
import { readCounter } from '../../agent/maps/counters.js';
import { PolicyDir } from '../../common/maps/policy.js';
import type { PolicyEntry } from '../../operator/policy/model.js';
import { ChildCgroup } from '../../sandbox/cgroup.js';
import { CniNetwork, type CniPod } from '../../sandbox/cni.js';
import { TestDatapath } from '../harness/datapath.js';
import { Lab } from '../../sandbox/netns.js';
import { PodProcess, runInPod } from '../../sandbox/pods.js';
import { describePrivileged } from '../harness/privileged.js';
import { repoRoot } from '../../sandbox/paths.js';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { eventually } from '../harness/wait.js';
import type { MapAttachment } from 'libbpfjs';

const TCP = 6;
const UDP = 17;
const VIP = '10.96.0.10';
const UDP_VIP = '10.96.0.53';
const EMPTY_VIP = '10.96.0.99';
const ALLOW_ALL: PolicyEntry = { peer: 0, port: 0, protocol: 0, verdict: 'allow' };

const ID = { client: 1000, server: 1001, backend: 1002 };

describePrivileged('datapath sandbox: one node, real traffic', () => {
  let lab: Lab;
  let cni: CniNetwork;
  let t: TestDatapath;
  let cg: ChildCgroup;
  const pods: Record<string, CniPod> = {};
  const endpointLinks: EndpointLinks[] = [];
  let cgLinks: CgroupLinks | undefined;
  let skMsg: MapAttachment | undefined;
  const servers: PodProcess[] = [];

  const serve = async (pod: string, args: string[]) => {
    servers.push(await PodProcess.start(pods[pod]?.ns ?? '', args, { cgroup: cg.path }));
  };
  const client = <T>(args: string[], timeoutMs?: number) => runInPod<T>(pods.client?.ns ?? '', args, { cgroup: cg.path, timeoutMs });
  const ip = (pod: string) => pods[pod]?.ip ?? '';
  const counter = (reason: number, dir: Direction) => readCounter(t.dp.rawMap('weir_metrics'), reason, dir);
  let gen = 1;
  const bumpPolicy = () => t.config({ flags: ConfigFlags.SockmapFastpath, policyGen: ++gen });

  beforeAll(async () => {
    lab = new Lab('wsd');
    const node = lab.addNamespace('node');
    cni = new CniNetwork(lab, node, { name: 'wsd', bridge: 'cni0', subnet: '10.244.1.0/24' });
    for (const name of ['client', 'server', 'be1', 'be2', 'be3']) pods[name] = await cni.addPod(name);

    t = await TestDatapath.load(undefined, 'wsd-');
    t.config({ flags: ConfigFlags.SockmapFastpath, policyGen: gen });
    const ifindex = (pod: string) => pods[pod]?.hostIfindex ?? 0;
    t.endpoint(ip('client'), ID.client, { ifindex: ifindex('client') });
    t.endpoint(ip('server'), ID.server, { enforce: true, ifindex: ifindex('server') });
    for (const b of ['be1', 'be2', 'be3']) t.endpoint(ip(b), ID.backend, { ifindex: ifindex(b) });
    t.policy(ID.server, PolicyDir.Ingress, [
      { peer: ID.client, port: 8080, protocol: TCP, verdict: 'allow' },
      { peer: ID.client, port: 7000, protocol: TCP, verdict: 'allow' },
      { peer: ID.client, port: 5300, protocol: UDP, verdict: 'allow' },
    ]);
    t.policy(ID.server, PolicyDir.Egress, [ALLOW_ALL]);
    t.service({
      vip: VIP,
      port: 80,
      proto: TCP,
      flags: ServiceFlags.ClusterIp,
      revNat: 1,
      backends: ['be1', 'be2', 'be3'].map((b, i) => ({ id: i + 1, addr: ip(b), port: 8080 })),
    });
    t.service({ vip: EMPTY_VIP, port: 80, proto: TCP, flags: ServiceFlags.ClusterIp, revNat: 3, backends: [] });
    t.service({ vip: UDP_VIP, port: 53, proto: UDP, flags: ServiceFlags.ClusterIp, revNat: 2, backends: [{ id: 10, addr: ip('be1'), port: 5353 }] });

    withNetns(lab.netnsPath(node), () => {
      for (const p of Object.values(pods)) endpointLinks.push(attachEndpoint(t.dp, p.hostIfindex));
    });
    cg = new ChildCgroup('weir-test-wsd');
    cgLinks = attachCgroup(t.dp, cg.path);
    skMsg = attachSockmap(t.dp);

    await serve('server', ['serve-tcp', '8080', 'server']);
    await serve('server', ['serve-tcp', '9090', 'server']);
    await serve('server', ['serve-tcp', '7000', 'server']);
    for (const b of ['be1', 'be2', 'be3']) await serve(b, ['serve-tcp', '8080', b]);
    await serve('be1', ['serve-udp', '5353', 'be1']);
  }, 60_000);

  afterAll(() => {
    for (const s of servers) s.stop();
    skMsg?.detach();
    if (cgLinks) for (const l of [cgLinks.connect4, cgLinks.sendmsg4, cgLinks.recvmsg4, cgLinks.sockOps]) l.detach();
    for (const l of endpointLinks) {
      l.fromEndpoint.detach();
      l.toEndpoint.detach();
    }
    cg?.cleanup();
    t?.close();
    for (const p of Object.values(pods)) cni.delPod(p);
    cni?.cleanup();
    lab?.cleanup();
  });

  it('a policy allowing port 8080 and not 9090 lets one connect and refuses the other', async () => {
    const denied = counter(Reason.PolicyDefaultDeny, Direction.Ingress).packets;
    expect(await client(['tcp-try', ip('server'), '8080', '3000'])).toBe('connected');
    expect(await client(['tcp-try', ip('server'), '9090', '1500'])).toBe('timeout');
    expect(counter(Reason.PolicyDefaultDeny, Direction.Ingress).packets).toBeGreaterThan(denied);
  });

  it('a ClusterIP connects to each of three backends over many connections', async () => {
    const seen = await client<Record<string, number>>(['tcp-names', VIP, '80', '90']);
    expect(Object.keys(seen).sort()).toEqual(['be1', 'be2', 'be3']);
    expect(Object.values(seen).reduce((a, b) => a + b, 0)).toBe(90);
    for (const n of Object.values(seen)) expect(n).toBeGreaterThanOrEqual(10);
  });

  it('a service without backends refuses the connection at once', async () => {
    expect(await client(['tcp-try', EMPTY_VIP, '80', '3000'])).toBe('refused');
  });

  it('UDP service replies come back from the service address', async () => {
    for (const connected of ['0', '1'])
      expect(await client(['udp-ask', UDP_VIP, '53', connected])).toEqual({ from: UDP_VIP, port: 53, reply: 'be1:hi' });
  });

  it('the sockmap fast path carries a long stream byte-exact, and its counters show it', async () => {
    const before = counter(Reason.SockmapRedirect, Direction.Egress).bytes;
    const size = 64 * 1024 * 1024;
    // The client half-closes after its stream and reads the server's digest after the FIN: the
    // close sequence that lost the digest (see the close sequences below).
    const r = await client<{ greeting: string; sent: number; localDigest: string; remoteDigest: string; remoteBytes: number }>(
      ['tcp-stream', ip('server'), '7000', String(size)],
      120_000,
    );
    expect(r).toMatchObject({ greeting: 'server', sent: size, remoteBytes: size });
    expect(r.remoteDigest).toBe(r.localDigest);
    expect(Number(counter(Reason.SockmapRedirect, Direction.Egress).bytes - before)).toBeGreaterThanOrEqual(size);
  });

  /**
   * Close sequences on the socket fast path. Each runs once with the fast path and once on the
   * plain stack (the fast path off), and each side reports digests of what it sent and received
   * and how its reading ended: the two runs must agree with each other and with the script. The
   * receivers are Node (libuv), whose "short read + POLLHUP = end of stream" shortcut turned a
   * read split across the psock and TCP queues into lost bytes (enum ct_path, bpf/lib/conntrack.h).
   */
  describe('close sequences keep every byte on the fast path as on the stack', () => {
    interface Side { sent: number; received: number; end: string | null; sentDigest: string; receivedDigest: string; localPort?: number }
    interface Run { client: Side; server: Side; path: number; flags: number; sockets: number }
    const KiB = 1024;
    // [scenario, bytes each streaming side sends, how the client's and the server's reading end]
    const cases: Array<[string, number, string, string]> = [
      ['client-half-close', 8 * 1024 * KiB, 'eof', 'eof'],
      ['server-half-close', 8 * 1024 * KiB, 'eof', 'eof'],
      ['both-close', 4 * 1024 * KiB, 'eof', 'eof'],
      ['client-reset', 1024 * KiB, 'reset', 'ECONNRESET'],
      ['server-reset', 1024 * KiB, 'ECONNRESET', 'reset'],
      ['peer-shut-rd', 16 * KiB, 'eof', 'eof'],
    ];
    let port = 7100;
    const server = () => pods.be2?.ns ?? '';

    const run = async (scenario: string, bytes: number, fast: boolean): Promise<Run> => {
      t.config({ flags: fast ? ConfigFlags.SockmapFastpath : 0, policyGen: gen });
      const p = String(port++);
      // Sides Node cannot play (shut down reading, leave bytes unread) are Python.
      const python: Record<string, string> = { 'peer-shut-rd': 'shut-rd', 'close-unread': 'close-unread' };
      const mode = python[scenario];
      const srv = mode
        ? await PodProcess.start(server(), [mode, p], { cgroup: cg.path, command: ['python3', join(repoRoot, 'sandbox', 'closepeer.py')] })
        : await PodProcess.start(server(), ['close-serve', p, scenario, String(bytes)], { cgroup: cg.path });
      servers.push(srv);
      const clientSide = await client<Side>(['close-client', ip('be2'), p, scenario, String(bytes)], 30_000);
      const serverSide = await srv.result<Side>();
      // The flow's conntrack entry at the client's egress, and what is left in the sockhash.
      const key = { saddr: ip('client'), daddr: ip('be2'), sport: clientSide.localPort ?? 0, dport: Number(p), proto: TCP, scope: CtScope.Egress, pad: 0 };
      const e = t.ctTcp.get(key);
      const sockets = [...t.dp.rawMap(sockMap.name).keys()].map((k) => sock4Key.decode(k)).filter((k) => k.sport === Number(p) || k.dport === Number(p)).length;
      return { client: clientSide, server: serverSide, path: e?.path ?? -1, flags: e?.flags ?? -1, sockets };
    };
    const exact = (r: Run) => ({
      clientGotAllServerSent: r.client.receivedDigest === r.server.sentDigest && r.client.received === r.server.sent,
      serverGotAllClientSent: r.server.receivedDigest === r.client.sentDigest && r.server.received === r.client.sent,
      clientEnd: r.client.end,
      serverEnd: r.server.end,
    });
    afterAll(() => t.config({ flags: ConfigFlags.SockmapFastpath, policyGen: gen }));

    it.each(cases)('%s', async (scenario, bytes, clientEnd, serverEnd) => {
      const stack = await run(scenario, bytes, false);
      const fast = await run(scenario, bytes, true);
      const want = { clientGotAllServerSent: true, serverGotAllClientSent: true, clientEnd, serverEnd };
      expect({ stack: exact(stack), fast: exact(fast) }).toEqual({ stack: want, fast: want });
      // The stack run never touched the fast path. The fast run redirected, and no direction
      // travelled both ways (a direction's first payload after a FIN may take the stack).
      expect(stack.path & (CtPath.TxFast | CtPath.RxFast)).toBe(0);
      expect(fast.path & (CtPath.TxFast | CtPath.RxFast)).not.toBe(0);
      expect(fast.path & CtPath.TxFast && fast.path & CtPath.TxStack).toBeFalsy();
      expect(fast.path & CtPath.RxFast && fast.path & CtPath.RxStack).toBeFalsy();
      // Both runs end with the flow closing in conntrack and neither socket left in the sockhash.
      for (const r of [stack, fast]) {
        expect(r.flags & CtFlags.TxClosing || r.flags & CtFlags.RxClosing).toBeTruthy();
        expect(r.sockets).toBe(0);
      }
    }, 60_000);

    // The one difference the kernel leaves: a socket closed with redirected bytes unread drops
    // them with its psock (sock_map_close) and sends FIN, where TCP would answer unread data with
    // a reset. The sender still learns: its next write after the close is reset.
    it('close-unread: the reader closes with bytes queued; the sender sees a reset on the stack, a FIN on the fast path', async () => {
      const stack = await run('close-unread', 64 * KiB, false);
      const fast = await run('close-unread', 64 * KiB, true);
      expect(stack.client).toMatchObject({ sent: 64 * KiB, end: 'ECONNRESET' });
      expect(fast.client).toMatchObject({ sent: 64 * KiB, end: 'eof' });
      for (const r of [stack, fast]) expect(r.server).toMatchObject({ received: 0, end: 'closed' });
      expect(fast.path & (CtPath.TxStack | CtPath.RxStack)).toBe(0);
      expect(fast.sockets).toBe(0);
    }, 60_000);
  });

  it('a pod sends only from its own address: a raw packet forged as its neighbour is dropped and counted', async () => {
    const logger = await PodProcess.start(pods.be2?.ns ?? '', ['udp-log', '4', '6100', '2000']);
    servers.push(logger);
    const spoofed = counter(Reason.InvalidSource, Direction.Egress).packets;
    const raw = (src: string, msg: string) => runInPod(pods.client?.ns ?? '', [src, ip('be2'), '6100', msg], { command: ['python3', join(repoRoot, 'sandbox', 'rawsend.py')] });
    // The same tool with the client's own address gets through: the deny is the forged source.
    await raw(ip('client'), 'own');
    await raw(ip('be1'), 'forged');
    const r = await logger.result<{ got: Array<{ from: string; msg: string }> }>();
    expect(r.got).toEqual([{ from: ip('client'), msg: 'own' }]);
    expect(counter(Reason.InvalidSource, Direction.Egress).packets).toBe(spoofed + 1n);
  });

  it("an enforced endpoint's IPv6 (link-local too) fails closed and is counted; an unenforced one's passes; IPv4 and ARP work", async () => {
    const linkLocal = async (pod: string): Promise<string> =>
      eventually(`${pod} link-local address`, () => {
        const addrs = JSON.parse(execFileSync('ip', ['-n', pods[pod]?.ns ?? '', '-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'], { encoding: 'utf8' })) as Array<{
          addr_info: Array<{ local: string; tentative?: boolean }>;
        }>;
        const a = addrs[0]?.addr_info.find((x) => !x.tentative);
        return a ? `${a.local}%eth0` : undefined;
      }, 10_000);
    const [clientLL, serverLL] = [await linkLocal('client'), await linkLocal('server')];
    const send = (from: string, to: string, msg: string) => runInPod(pods[from]?.ns ?? '', ['udp6-send', to, '6200', msg], { cgroup: cg.path });
    const out = counter(Reason.NotIpv4, Direction.Egress).packets;
    const into = counter(Reason.NotIpv4, Direction.Ingress).packets;

    const atClient = await PodProcess.start(pods.client?.ns ?? '', ['udp-log', '6', '6200', '2500']);
    const atServer = await PodProcess.start(pods.server?.ns ?? '', ['udp-log', '6', '6200', '2500']);
    servers.push(atClient, atServer);
    await send('be1', clientLL, 'from be1'); // neither end enforced: passes
    await send('server', clientLL, 'from server'); // enforced sender: dropped leaving it
    await send('client', serverLL, 'to server'); // enforced receiver: dropped reaching it
    expect((await atClient.result<{ got: Array<{ msg: string }> }>()).got.map((g) => g.msg)).toEqual(['from be1']);
    expect((await atServer.result<{ got: unknown[] }>()).got).toEqual([]);
    expect(counter(Reason.NotIpv4, Direction.Egress).packets).toBeGreaterThan(out);
    expect(counter(Reason.NotIpv4, Direction.Ingress).packets).toBeGreaterThan(into);
    // IPv4 to the enforced pod still resolves its neighbour (ARP) and connects.
    expect(await client(['tcp-try', ip('server'), '8080', '3000'])).toBe('connected');
  });

  it('a datagram larger than the MTU reaches a pod whose policy allows its port, in fragments, and not one whose policy does not', async () => {
    const logger = await PodProcess.start(pods.server?.ns ?? '', ['udp-log', '4', '5300', '2500']);
    const other = await PodProcess.start(pods.server?.ns ?? '', ['udp-log', '4', '5301', '2500']);
    servers.push(logger, other);
    expect(await client(['udp-send', ip('server'), '5300', '3000'])).toEqual({ error: null });
    expect(await client(['udp-send', ip('server'), '5301', '3000'])).toEqual({ error: null });
    expect((await logger.result<{ got: Array<{ msg: string }> }>()).got.map((g) => g.msg)).toEqual(['3000 bytes']);
    expect((await other.result<{ got: unknown[] }>()).got).toEqual([]);
    // The later fragments were judged with the first one's ports, remembered in weir_frag4.
    expect(t.dp.rawMap('weir_frag4').count()).toBeGreaterThan(0);
  });

  it("path MTU discovery works from an enforced pod: the node's 'fragmentation needed' reaches it though policy allows nothing from the node", async () => {
    // A far host whose own MTU is 1500 (its SYN-ACK announces an MSS of 1460) behind a hop the
    // node can only send 1000 bytes over: the smaller MTU is in the middle of the path.
    const node = `${lab.prefix}-node`;
    const far = lab.addNamespace('far');
    lab.addVeth({ ns: node, name: 'far0' }, { ns: far, name: 'eth0' });
    lab.exec(node, 'ip', ['link', 'set', 'far0', 'mtu', '1000']);
    lab.addAddress(node, 'far0', '10.99.0.1/24');
    lab.addAddress(far, 'eth0', '10.99.0.2/24');
    lab.addRoute(far, '10.244.1.0/24', '10.99.0.1');
    lab.exec(node, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const sink = await PodProcess.start(far, ['serve-tcp', '9000', 'far']);
    servers.push(sink);
    // The server pod streams with DF set (TCP's default): 1500-byte frames do not fit the link.
    const size = 512 * 1024;
    const r = await runInPod<{ sent: number; localDigest: string; remoteDigest: string; remoteBytes: number }>(pods.server?.ns ?? '', ['tcp-stream', '10.99.0.2', '9000', String(size)], { cgroup: cg.path, timeoutMs: 20_000 });
    expect(r).toMatchObject({ sent: size, remoteBytes: size });
    expect(r.remoteDigest).toBe(r.localDigest);
    // The pod learned the path's MTU: the ICMP error got through its ingress policy.
    expect(execFileSync('ip', ['-n', pods.server?.ns ?? '', 'route', 'get', '10.99.0.2'], { encoding: 'utf8' })).toMatch(/mtu 1000/);
  });

  it('a policy change that revokes a connection stops it on the fast path too', async () => {
    const hold = await PodProcess.start(pods.client?.ns ?? '', ['tcp-hold', ip('server'), '7000', '4000'], { cgroup: cg.path });
    await new Promise((r) => setTimeout(r, 500));
    const redirected = counter(Reason.SockmapRedirect, Direction.Egress).packets;
    expect(redirected).toBeGreaterThan(0n);
    t.policy(ID.server, PolicyDir.Ingress, [{ peer: ID.client, port: 8080, protocol: TCP, verdict: 'allow' }]);
    bumpPolicy();
    const r = await hold.result<{ error: string | null; sent: number }>();
    expect(r.error).toBe('EACCES');
    expect(r.sent).toBeGreaterThan(0);
    expect(counter(Reason.PolicyDefaultDeny, Direction.Egress).packets).toBeGreaterThan(0n);
  });
});
