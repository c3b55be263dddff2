// Encryption between nodes: the same pod-to-pod TCP stream between two sandbox nodes in clear,
// over IPsec and over WireGuard (iperf3, one stream), with the CPU the sending node's kernel
// spent. The host kernel has neither ESP nor WireGuard, so this runs in the test VM (Debian's 6.1
// kernel under QEMU with software emulation): the benchmark boots it and runs its own guest half
// there. Emulation makes every figure several times slower than hardware and hides what AES-NI
// or ChaCha20 SIMD would give: the table shows that each path works and what each costs relative
// to clear text on the same emulated machine, not real throughput.
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { DatapathConfigResource, NodeDatapathResource, gvr, type NodeDatapath } from '../api/v1alpha1/index.js';
import { LocalCluster } from '../sandbox/cluster.js';
import { merge, Sandbox, type SandboxNode } from '../sandbox/sandbox.js';
import { eventually } from '../sandbox/wait.js';
import { TestVm, vmUnavailable } from '../test/harness/vm.js';
import { report, type Row } from './common.js';

const SECONDS = Number(process.env.WEIR_BENCH_ENCRYPTION_SECONDS ?? 8);
const RESULT_PREFIX = 'weir-bench-encryption ';

interface Iperf {
  end?: { sum_sent?: { bits_per_second: number; retransmits?: number }; sum_received?: { bits_per_second: number }; cpu_utilization_percent?: { host_total: number } };
  error?: string;
}

/** In the guest: a two-node sandbox, then one stream per mode. Prints one result line per mode. */
async function guest(): Promise<void> {
  const cluster = await LocalCluster.start();
  let sb: Sandbox | undefined;
  try {
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wbe', nodes: 2 });
    const box = sb;
    const [n1, n2] = box.nodes as [SandboxNode, SandboxNode];
    await box.core.createNamespacedSecret({
      namespace: 'kube-system',
      body: { metadata: { name: 'weir-ipsec-keys' }, data: { keys: Buffer.from(`1 rfc4106(gcm(aes)) ${'3c'.repeat(36)} 128\n`).toString('base64') } },
    });
    await box.createDatapathConfig({});
    await box.startControlPlane(300_000);
    const client = await box.addPod(n1, 'client', { app: 'client' });
    const server = await box.addPod(n2, 'server', { app: 'server' });
    await box.settled(60_000);
    const modes: Array<{ mode: string; encryption: Record<string, unknown> }> = [
      { mode: 'clear', encryption: { enabled: false } },
      { mode: 'ipsec (AES-256-GCM)', encryption: { enabled: true, mode: 'ipsec' } },
      { mode: 'wireguard', encryption: { enabled: true, mode: 'wireguard' } },
    ];
    for (const m of modes) {
      await box.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { encryption: m.encryption } } } }, merge);
      await eventually(`${m.mode} in effect`, async () => {
        const ds = (await Promise.all([n1, n2].map((n) => box.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })))) as NodeDatapath[];
        return ds.every((d) => (m.encryption.enabled ? d.status?.encryption?.active && d.status.encryption.mode === m.encryption.mode && (d.status.encryption.peers ?? 0) > 0 : !d.status?.encryption));
      }, 120_000, 500);
      const srv = spawnSync('ip', ['netns', 'exec', server.net.ns, 'iperf3', '-s', '-D', '-1'], { encoding: 'utf8' });
      if (srv.status !== 0) throw new Error(`iperf3 server: ${srv.stderr}`);
      await new Promise((r) => setTimeout(r, 500));
      const r = spawnSync('ip', ['netns', 'exec', client.net.ns, 'iperf3', '-c', server.ip, '-t', String(SECONDS), '-J'], { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 });
      const j = JSON.parse(r.stdout || '{}') as Iperf;
      if (j.error || !j.end?.sum_received) throw new Error(`iperf3 ${m.mode}: ${j.error ?? r.stderr}`);
      const row: Row = {
        mode: m.mode,
        'Mbit/s': Math.round((j.end.sum_received.bits_per_second / 1e6) * 10) / 10,
        retransmits: j.end.sum_sent?.retransmits ?? 0,
        'sender CPU %': Math.round(j.end.cpu_utilization_percent?.host_total ?? 0),
      };
      console.log(`${RESULT_PREFIX}${JSON.stringify(row)}`);
    }
  } finally {
    await sb?.stop();
    await cluster.stop();
  }
}

/** On the host: the VM, the guest half in it, the table here. */
async function host(): Promise<void> {
  const why = vmUnavailable();
  if (why) throw new Error(`the encryption benchmark runs in the test VM: ${why}`);
  const vm = await TestVm.boot();
  try {
    const r = await vm.run('node dist/bench/run.js encryption', 1_800_000);
    const rows = r.out.split('\n').filter((l) => l.startsWith(RESULT_PREFIX)).map((l) => JSON.parse(l.slice(RESULT_PREFIX.length)) as Row);
    if (r.rc !== 0 || rows.length === 0) throw new Error(`the guest half failed (exit ${r.rc}):\n${r.out.slice(-3000)}`);
    const title = `encryption between two nodes, one TCP stream for ${SECONDS} s, in the VM (${vm.kernelRelease} under QEMU TCG on ${release()}): relative cost only, emulation hides real throughput`;
    report('encryption', title, rows);
  } finally {
    await vm.stop();
  }
}

export async function benchEncryption(): Promise<void> {
  await (process.env.WEIR_VM_GUEST ? guest() : host());
}
