import { identityKey, namespacePart, podPart, securityLabels } from './identity.js';

describe('security labels', () => {
  it('drops per-replica labels and adds namespace labels and name', () => {
    const l = securityLabels({ app: 'web', 'pod-template-hash': 'abc', 'controller-revision-hash': 'x' }, 'shop', { team: 'a' });
    expect(l).toEqual({ app: 'web', 'ns:team': 'a', 'io.kubernetes.pod.namespace': 'shop' });
    expect(podPart(l)).toEqual({ app: 'web' });
    expect(namespacePart(l)).toEqual({ team: 'a' });
  });

  it('gives replicas of one workload the same key, and different namespaces different keys', () => {
    const a = securityLabels({ app: 'web', 'pod-template-hash': '1' }, 'shop', {});
    const b = securityLabels({ 'pod-template-hash': '2', app: 'web' }, 'shop', {});
    const c = securityLabels({ app: 'web' }, 'other', {});
    expect(identityKey(a)).toBe(identityKey(b));
    expect(identityKey(a)).not.toBe(identityKey(c));
  });
});
