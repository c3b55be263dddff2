// Two `weir operator` processes against the real API server: one leads (and writes), the
// other stands by; after `kill -9` of the leader the standby takes over within the lease
// period and keeps NodeDatapaths up to date. Runs the built CLI (dist/, made by set-up).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { useTestCluster } from '../harness/cluster.js';
import { repoRoot } from '../harness/paths.js';
import { addNode } from '../harness/objects.js';
import { eventually } from '../harness/wait.js';
import { API_VERSION, DatapathConfigResource, NodeDatapathResource, gvr } from '../../api/v1alpha1/index.js';

const cli = join(repoRoot, 'dist', 'cli', 'weir.js');

interface Replica {
  proc: ChildProcess;
  port: () => number | undefined;
  identity: () => string | undefined;
}

function startReplica(kubeconfig: string): Replica {
  const proc = spawn(process.execPath, [cli, 'operator', '--kubeconfig', kubeconfig, '--http-address', '127.0.0.1:0'], {
    env: {
      ...process.env,
      WEIR_LEADER_ELECTION__NAMESPACE: 'kube-system',
      WEIR_LEADER_ELECTION__LEASE_DURATION_SECONDS: '4',
      WEIR_LEADER_ELECTION__RENEW_DEADLINE_SECONDS: '3',
      WEIR_LEADER_ELECTION__RETRY_PERIOD_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let port: number | undefined;
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(out);
    if (m) port = Number(m[1]);
  });
  return { proc, port: () => port, identity: () => (proc.pid ? `_${proc.pid}` : undefined) };
}

async function leaderGauge(r: Replica): Promise<number | undefined> {
  const port = r.port();
  if (!port) return undefined;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^weir_operator_leader (\d)/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('operator replicas', () => {
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const cluster = useTestCluster(async (c) => {
    await c.applyCrds();
    const kc = c.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    await addNode(core, 'n1', { memory: '16Gi' });
    await custom.createClusterCustomObject({ ...gvr(DatapathConfigResource), body: { apiVersion: API_VERSION, kind: 'DatapathConfig', metadata: { name: 'default' }, spec: {} } });
  });

  const addPod = async (name: string, ip: string): Promise<void> => {
    await core.createNamespacedPod({ namespace: 'default', body: { metadata: { name, labels: { app: name } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'registry.invalid/none' }] } } });
    await core.patchNamespacedPodStatus({ name, namespace: 'default', body: { status: { phase: 'Running', podIP: ip } } }, merge);
  };
  const endpointsOfN1 = async (): Promise<string[]> => {
    const n = (await custom.getClusterCustomObject({ ...gvr(NodeDatapathResource), name: 'n1' })) as { spec: { endpoints: Array<{ name: string }> } };
    return n.spec.endpoints.map((e) => e.name).sort();
  };

  it('has one leader writing, and the standby takes over after the leader is killed', async () => {
    expect(existsSync(cli)).toBe(true);
    const replicas = [startReplica(cluster().kubeconfigPath), startReplica(cluster().kubeconfigPath)];
    try {
      const gauges = await eventually('one leader', async () => {
        const g = await Promise.all(replicas.map(leaderGauge));
        return g.every((x) => x !== undefined) && g.filter((x) => x === 1).length === 1 ? g : undefined;
      });
      const leader = replicas[gauges.indexOf(1)];
      const standby = replicas[gauges.indexOf(0)];
      const lease = await cluster().kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ name: 'weir-operator', namespace: 'kube-system' });
      expect(lease.spec?.holderIdentity).toMatch(new RegExp(`${leader.identity()}$`));

      await addPod('a', '10.244.0.10');
      await eventually('leader writes a', async () => ((await endpointsOfN1()).join() === 'a' ? true : undefined));

      const killedAt = Date.now();
      leader.proc.kill('SIGKILL');
      await eventually('standby leads', async () => ((await leaderGauge(standby)) === 1 ? true : undefined), 15_000);
      // Takeover needs the dead leader's lease (4 s) to run out, plus at most a retry period.
      expect(Date.now() - killedAt).toBeLessThan(4000 + 1000 + 2000);

      await addPod('b', '10.244.0.11');
      await eventually('new leader writes b', async () => ((await endpointsOfN1()).join() === 'a,b' ? true : undefined));
    } finally {
      for (const r of replicas) r.proc.kill('SIGKILL');
    }
  }, 60_000);
});
