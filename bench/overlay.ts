// Between nodes, native routing against the VXLAN overlay: one TCP stream's throughput (iperf3)
// and HTTP request/response latency over one keep-alive connection (wrk -c1, so the figure is a
// round trip, not a queue), from a pod on one node to a pod on the other, in the two-segment
// sandbox (a router namespace between the nodes). Each mode gets pods made in it, so they have
// the MTU that mode gives (the tunnel's 1450 with VXLAN). Everything shares this machine's CPUs:
// the figures compare the two paths, they are not a NIC's. One run; nothing passes or fails on it.
import { spawn, spawnSync } from 'node:child_process';
import { DatapathConfigResource, NodeDatapathResource, gvr, type NodeDatapath } from '../api/v1alpha1/index.js';
import { LocalCluster } from '../sandbox/cluster.js';
import { merge, Sandbox, type SandboxNode } from '../sandbox/sandbox.js';
import { eventually } from '../sandbox/wait.js';
import { report, type Row } from './common.js';

const SECONDS = Number(process.env.WEIR_BENCH_SECONDS ?? 5);

interface Iperf {
  end?: { sum_sent?: { retransmits?: number }; sum_received?: { bits_per_second: number } };
  error?: string;
}

function iperf(clientNs: string, serverNs: string, serverIp: string): { mbits: number; retransmits: number } {
  const srv = spawnSync('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-D', '-1'], { encoding: 'utf8' });
  if (srv.status !== 0) throw new Error(`iperf3 server: ${srv.stderr}`);
  spawnSync('sleep', ['0.5']);
  const r = spawnSync('ip', ['netns', 'exec', clientNs, 'iperf3', '-c', serverIp, '-t', String(SECONDS), '-J'], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  const j = JSON.parse(r.stdout || '{}') as Iperf;
  if (j.error || !j.end?.sum_received) throw new Error(`iperf3: ${j.error ?? r.stderr}`);
  return { mbits: Math.round(j.end.sum_received.bits_per_second / 1e5) / 10, retransmits: j.end.sum_sent?.retransmits ?? 0 };
}

function wrkLatency(clientNs: string, url: string): { rps: number; p50us: number; p99us: number } {
  const r = spawnSync('ip', ['netns', 'exec', clientNs, 'wrk', '-t1', '-c1', `-d${SECONDS}s`, '--latency', url], { encoding: 'utf8', timeout: (SECONDS + 30) * 1000 });
  const out = r.stdout ?? '';
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
  if (r.status !== 0 || !rps) throw new Error(`wrk ${url}: ${out}${r.stderr}`);
  const us = (q: string): number => {
    const m = new RegExp(`\\s${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    return m ? Number(m[1]) * (m[2] === 'us' ? 1 : m[2] === 'ms' ? 1000 : 1_000_000) : NaN;
  };
  return { rps: Math.round(Number(rps)), p50us: Math.round(us('50')), p99us: Math.round(us('99')) };
}

export async function benchOverlay(): Promise<Row[]> {
  const cluster = await LocalCluster.start();
  let sb: Sandbox | undefined;
  try {
    await cluster.applyCrds();
    sb = await Sandbox.start(cluster, { prefix: 'wbo', nodes: 2, segments: 2 });
    const box = sb;
    const [n1, n2] = box.nodes as [SandboxNode, SandboxNode];
    await box.createDatapathConfig({ features: { overlay: { mode: 'none' } } });
    await box.startControlPlane();
    const rows: Row[] = [];
    for (const mode of ['none', 'vxlan'] as const) {
      await box.custom.patchClusterCustomObject({ ...gvr(DatapathConfigResource), name: 'default', body: { spec: { features: { overlay: { mode } } } } }, merge);
      await eventually(`overlay ${mode} on both nodes`, async () => {
        const ds = (await Promise.all([n1, n2].map((n) => box.custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: n.name })))) as NodeDatapath[];
        return ds.every((d) => d.status?.overlay?.mode === mode);
      }, 120_000, 250);
      const client = await box.addPod(n1, `client-${mode}`, { app: 'client' });
      const server = await box.addPod(n2, `server-${mode}`, { app: 'server' });
      await box.serve(server, ['serve-http', '8080']);
      await box.settled(60_000);
      const mtu = (JSON.parse(spawnSync('ip', ['-n', client.net.ns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }).stdout) as Array<{ mtu: number }>)[0]?.mtu;
      const t = iperf(client.net.ns, server.net.ns, server.ip);
      const l = wrkLatency(client.net.ns, `http://${server.ip}:8080/`);
      rows.push({ mode: mode === 'none' ? 'native routing' : 'VXLAN (identity in the VNI)', 'pod MTU': mtu ?? 0, 'Mbit/s': t.mbits, retransmits: t.retransmits, 'req/s (1 conn)': l.rps, 'p50 µs': l.p50us, 'p99 µs': l.p99us });
    }
    report('overlay', `between pods on two nodes on two L3 segments: one TCP stream (iperf3) and one keep-alive HTTP connection (wrk -c1), ${SECONDS} s each`, rows);
    return rows;
  } finally {
    await sb?.stop();
    await cluster.stop();
    // iperf3 -s -1 exits after one test; one left by a failed run would hold its port.
    spawn('pkill', ['-f', 'iperf3 -s -D -1']);
  }
}
