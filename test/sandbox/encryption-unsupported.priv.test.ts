// A node that cannot encrypt, on a kernel that really cannot: this host's kernel has neither ESP
// nor WireGuard (the VM's has both: encryption.guest.test.ts). Encryption turned on for a running
// two-node sandbox: each node says in status why it cannot, and in strict mode its pods' traffic
// to the other node is refused and counted, never sent in clear, while traffic on the node goes
// on. Without strict mode the traffic flows in clear, and status says so.
import { spawnSync } from 'node:child_process';
import { TestCluster } from '../harness/cluster.js';
import { describeGated, describeOnKernel, ensureBpffs, isRoot } from '../harness/privileged.js';
import { eventually } from '../harness/wait.js';
import { merge, Sandbox, type SandboxNode, type SandboxPod } from '../../sandbox/sandbox.js';
import { DatapathConfigResource, NodeDatapathResource, gvr, type DatapathConfig, type NodeDatapath } from '../../api/v1alpha1/index.js';

/** What this kernel can do, tried in a throwaway network namespace. */
function kernelCan(): { esp: boolean; wireguard: boolean } {
  const sh = (script: string) => spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' }).status === 0;
  return {
    esp: sh(`ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x1000 mode tunnel aead 'rfc4106(gcm(aes))' 0x${'00'.repeat(20)} 128`),
    wireguard: sh('ip link add wgprobe type wireguard'),
  };
}

const can = isRoot ? kernelCan() : { esp: false, wireguard: false };
// Chosen by what the kernel has: on one with ESP or WireGuard the node encrypts, which
// encryption.guest.test.ts proves in the VM; this case is about a kernel that cannot.
const other = can.esp || can.wireguard ? `it has ${[can.esp && 'ESP', can.wireguard && 'WireGuard'].filter(Boolean).join(' and ')}, which encryption.guest.test.ts covers` : null;

describeGated('encryption on a kernel without ESP and WireGuard', isRoot ? null : 'needs root', () =>
  describeOnKernel('the node fails closed', other, () => {
    let cluster: TestCluster;
    let sb: Sandbox;
    let n1: SandboxNode;
    const pod = (name: string): SandboxPod => sb.pods.get(name)!;
    const tryTcp = (from: string, to: string, ms = 1500) => sb.run<string>(pod(from), ['tcp-try', pod(to).ip, '8080', String(ms)]);
    const encryption = (e: Record<string, unknown>) =>
      sb.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { encryption: e } } } }, merge);
    const report = (n: SandboxNode, match: RegExp) =>
      eventually(
        `${n.name} reports ${match}`,
        async () => {
          const d = (await sb.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })) as NodeDatapath;
          return d.status?.encryption && match.test(d.status.encryption.message ?? '') ? d : undefined;
        },
        60_000,
        250,
      );
    const refused = (n: SandboxNode) => sb.metric(n, 'weir_datapath_packets_total', 'reason="no_encryption"');

    beforeAll(async () => {
      ensureBpffs();
      cluster = await TestCluster.start();
      await cluster.applyCrds();
      sb = await Sandbox.start(cluster, { prefix: 'wnc', nodes: 2 });
      n1 = sb.nodes[0]!;
      await sb.createDatapathConfig({});
      await sb.startControlPlane();
      await sb.addPod(n1, 'client', { app: 'client' });
      await sb.addPod(n1, 'near', { app: 'server' });
      await sb.addPod(sb.nodes[1], 'far', { app: 'server' });
      for (const p of ['near', 'far']) await sb.serve(pod(p), ['serve-tcp', '8080', p]);
      await sb.settled();
      await sb.core.createNamespacedSecret({ namespace: 'kube-system', body: { metadata: { name: 'weir-ipsec-keys' }, data: { keys: Buffer.from(`1 rfc4106(gcm(aes)) ${'5a'.repeat(20)} 128\n`).toString('base64') } } });
    }, 300_000);

    afterAll(async () => {
      await sb?.stop();
      await cluster?.stop();
    }, 60_000);

    it('IPsec in strict mode: status says why, traffic to the other node is refused and counted, traffic on the node flows', async () => {
      expect(await tryTcp('client', 'far')).toBe('connected');
      await encryption({ enabled: true, mode: 'ipsec' });
      const d = await report(n1, /the kernel cannot do IPsec ESP.*pod traffic to other nodes is dropped \(strictMode\)/);
      expect(d.status?.encryption).toMatchObject({ mode: 'ipsec', active: false });
      expect(d.status?.conditions?.find((c) => c.type === 'Encrypted')).toMatchObject({ status: 'False', reason: 'CannotEncrypt' });
      expect(d.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
      const before = await refused(n1);
      expect(await tryTcp('client', 'far')).toBe('timeout');
      expect(await refused(n1)).toBeGreaterThan(before);
      expect(await tryTcp('client', 'near')).toBe('connected');
      const cfg = await eventually('the config says encryption is not in effect', async () => {
        const c = (await sb.custom.getClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default' })) as DatapathConfig;
        const f = c.status?.conditions?.find((x) => x.type === 'FeaturesInEffect');
        return f?.status === 'False' && f.reason === 'EncryptionNotInEffect' ? f : undefined;
      }, 30_000);
      expect(cfg.message).toContain(`encryption not in effect on node ${n1.name}`);
      expect(await sb.metrics(n1)).toMatch(/^weir_encryption_active 0$/m);
    }, 180_000);

    it('without strict mode the traffic goes in clear, and status says so', async () => {
      await encryption({ strictMode: false });
      await report(n1, /pod traffic to other nodes goes in clear \(strictMode is off\)/);
      await eventually('client reaches far in clear', async () => (await tryTcp('client', 'far')) === 'connected', 30_000, 250);
    }, 120_000);

    it('WireGuard in strict mode: no WireGuard in the kernel, said and refused the same way', async () => {
      await encryption({ mode: 'wireguard', strictMode: true });
      await report(n1, /the kernel has no WireGuard.*dropped \(strictMode\)/);
      await eventually('client is refused far again', async () => (await tryTcp('client', 'far')) === 'timeout', 30_000, 250);
      expect(await tryTcp('client', 'near')).toBe('connected');
    }, 120_000);
  }),
);
