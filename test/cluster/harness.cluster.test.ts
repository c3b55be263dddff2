// The harness itself: real etcd + kube-apiserver, kubectl apply of a CRD, an object created and
// watched through @kubernetes/client-node, and a teardown that leaves no process behind.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { CustomObjectsApi, Watch } from '@kubernetes/client-node';
import { TestCluster, useTestCluster } from '../harness/cluster.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test cluster harness', () => {
  const cluster = useTestCluster();

  it('applies a CRD with kubectl and refuses an invalid object with a field message', async () => {
    await cluster().applyCrds(fixtures);
    const out = await cluster().kubectl(['get', 'crd', 'widgets.harness.weir.dev', '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    expect(out).toBe('True');
    const api = cluster().kubeConfig().makeApiClient(CustomObjectsApi);
    await expect(
      api.createClusterCustomObject({
        group: 'harness.weir.dev',
        version: 'v1',
        plural: 'widgets',
        body: { apiVersion: 'harness.weir.dev/v1', kind: 'Widget', metadata: { name: 'bad' }, spec: { size: 0 } },
      }),
    ).rejects.toThrow(/spec.size/);
  });

  it('creates an object through client-node and sees it on a watch', async () => {
    const kc = cluster().kubeConfig();
    const events: Array<[string, string]> = [];
    const seen = new Promise<void>((resolve, reject) => {
      void new Watch(kc)
        .watch(
          '/apis/harness.weir.dev/v1/widgets',
          {},
          (type: string, obj: { metadata: { name: string } }) => {
            events.push([type, obj.metadata.name]);
            if (type === 'DELETED') resolve();
          },
          (err: unknown) => (err ? reject(err as Error) : undefined),
        )
        .then((ctl) => seen.finally(() => ctl.abort()), reject);
    });
    const api = kc.makeApiClient(CustomObjectsApi);
    const body = { apiVersion: 'harness.weir.dev/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } };
    // The watch may start after the create; a level-based check below tolerates either order.
    await new Promise((r) => setTimeout(r, 500));
    await api.createClusterCustomObject({ group: 'harness.weir.dev', version: 'v1', plural: 'widgets', body });
    const got = (await api.getClusterCustomObject({ group: 'harness.weir.dev', version: 'v1', plural: 'widgets', name: 'w1' })) as {
      spec: { size: number };
    };
    expect(got.spec.size).toBe(3);
    await api.deleteClusterCustomObject({ group: 'harness.weir.dev', version: 'v1', plural: 'widgets', name: 'w1' });
    await seen;
    expect(events).toEqual([
      ['ADDED', 'w1'],
      ['DELETED', 'w1'],
    ]);
  });

  it('stops with no process or file left', async () => {
    const second = await TestCluster.start();
    const pids = second.pids;
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    await second.stop();
    expect(pids.some(alive)).toBe(false);
    expect(existsSync(second.dir)).toBe(false);
  }, 120_000);
});
