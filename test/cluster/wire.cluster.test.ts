// Kubernetes objects as the API server sends them, through the informers the operator and agents
// use: a NetworkPolicy listed at start and one that arrives by watch must reach the cache in one
// form (client-node's model: `_from`, Date timestamps) and translate alike. Before common/wire.ts,
// the list gave models and the watch raw JSON, and a policy created while the operator ran
// allowed every source.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { kubeInformers } from '../../common/kinds.js';
import { fromK8sPolicy } from '../../operator/policy/translate.js';
import { useTestCluster } from '../harness/cluster.js';
import { eventually } from '../harness/wait.js';

const policy = (name: string) => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ${name}, namespace: default}
spec:
  podSelector: {matchLabels: {app: backend}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: frontend}}}]
      ports: [{protocol: UDP, port: 5353}]
`;

describe('objects as the API server sends them, through the product informers', () => {
  const cluster = useTestCluster();

  it('a NetworkPolicy from the initial list and one from the watch are cached and translated alike', async () => {
    const c = cluster();
    const apply = async (name: string) => {
      const f = join(c.dir, `${name}.yaml`);
      writeFileSync(f, policy(name));
      await c.kubectl(['apply', '-f', f]);
    };
    await apply('listed');
    const inf = kubeInformers(c.kubeConfig(), pino({ level: 'silent' })).networkPolicies;
    await inf.start();
    try {
      await inf.waitForSync();
      await apply('watched');
      await eventually('watched policy cached', () => inf.get('watched', 'default') !== undefined, 10_000);
      for (const name of ['listed', 'watched']) {
        const np = inf.get(name, 'default')!;
        expect(np.spec?.ingress?.[0]?._from).toEqual([{ podSelector: { matchLabels: { app: 'frontend' } } }]);
        expect(np.metadata?.creationTimestamp).toBeInstanceOf(Date);
        const n = fromK8sPolicy(np);
        expect(n.ingress).toEqual([{ peers: { kind: 'endpoints', selectors: [{ matchLabels: { app: 'frontend' } }] }, ports: [{ port: 5353, protocol: 'UDP' }] }]);
      }
    } finally {
      await inf.stop();
    }
  }, 60_000);
});
