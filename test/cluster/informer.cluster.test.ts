// ResilientInformer on the real API server: initial list, live events, and recovery after the
// API server goes away and comes back (same etcd, so state and resourceVersions survive).
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ResilientInformer, type InformerEvent } from '../../common/informer.js';
import { useTestCluster } from '../harness/cluster.js';
import { eventually } from '../harness/wait.js';

describe('ResilientInformer', () => {
  const cluster = useTestCluster();

  it('lists, follows changes, and keeps following after the API server restarts', async () => {
    const kc = cluster().kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'before', labels: { t: 'inf' } } } });

    const inf = new ResilientInformer<V1ConfigMap>(
      kc,
      {
        name: 'configmaps',
        path: '/api/v1/namespaces/default/configmaps',
        list: () => core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 't=inf' }),
        labelSelector: 't=inf',
        minBackoffMs: 200,
        maxBackoffMs: 1000,
      },
      pino({ level: 'silent' }),
    );
    const events: Array<[InformerEvent, string]> = [];
    inf.onEvent((e, o) => events.push([e, o.metadata!.name!]));
    await inf.start();
    try {
      expect(inf.synced).toBe(true);
      expect(inf.get('before', 'default')?.metadata?.name).toBe('before');

      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'live', labels: { t: 'inf' } }, data: { a: '1' } } });
      await eventually('live add', () => inf.get('live', 'default') !== undefined, 5000);
      // The cache drops server-side apply bookkeeping, from the list and from the watch alike.
      expect(await core.readNamespacedConfigMap({ name: 'live', namespace: 'default' })).toHaveProperty('metadata.managedFields');
      expect(inf.get('before', 'default')?.metadata).not.toHaveProperty('managedFields');
      expect(inf.get('live', 'default')?.metadata).not.toHaveProperty('managedFields');
      await core.deleteNamespacedConfigMap({ name: 'before', namespace: 'default' });
      await eventually('delete', () => inf.get('before', 'default') === undefined, 5000);

      await cluster().restartApiServer();
      await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'after', labels: { t: 'inf' } } } });
      await eventually('add after restart', () => inf.get('after', 'default') !== undefined, 20_000);
      expect(events).toEqual(expect.arrayContaining([['add', 'before'], ['add', 'live'], ['delete', 'before'], ['add', 'after']]));
    } finally {
      await inf.stop();
    }
  }, 90_000);
});
