// Leader election against the real API server: one leader at a time, takeover after release
// and after a crashed leader's lease runs out.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector } from '../../common/runtime/leader.js';
import { useTestCluster, type TestCluster } from '../harness/cluster.js';
import { repoRoot } from '../harness/paths.js';
import { eventually } from '../harness/wait.js';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

function candidate(api: CoordinationV1Api, identity: string, releaseOnCancel = true, into?: Array<{ stop: AbortController; done: Promise<void> }>) {
  const elector = new LeaderElector(
    api,
    { namespace: 'default', name: 'weir-test', identity, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 250, releaseOnCancel },
    log,
  );
  const stop = new AbortController();
  let ledAt: number | null = null;
  const done = elector.run(stop.signal, {
    onStartedLeading: () => {
      ledAt = Date.now();
    },
    onStoppedLeading: () => undefined,
  });
  into?.push({ stop, done });
  return {
    elector,
    stop,
    done,
    get ledAt() {
      return ledAt;
    },
  };
}

describe('lease leader election', () => {
  let api: CoordinationV1Api;
  let cluster: TestCluster;
  useTestCluster(async (c) => {
    cluster = c;
    api = c.kubeConfig().makeApiClient(CoordinationV1Api);
  });
  const running: Array<{ stop: AbortController; done: Promise<void> }> = [];
  afterEach(async () => {
    for (const c of running.splice(0)) {
      c.stop.abort();
      await c.done;
    }
    await api.deleteNamespacedLease({ name: 'weir-test', namespace: 'default' }).catch(() => undefined);
  });

  it('elects exactly one and hands over at once when the leader releases', async () => {
    const a = candidate(api, 'a', true, running);
    await eventually('leadership', () => a.elector.isLeader, 5000);
    const b = candidate(api, 'b', true, running);
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.elector.isLeader).toBe(false);
    expect((await api.readNamespacedLease({ name: 'weir-test', namespace: 'default' })).spec?.holderIdentity).toBe('a');

    const released = Date.now();
    a.stop.abort();
    await a.done;
    await eventually('leadership', () => b.elector.isLeader, 5000);
    // A released lease is taken on the next retry, well before the 3 s lease would run out.
    expect(b.ledAt! - released).toBeLessThan(2500);
    const lease = await api.readNamespacedLease({ name: 'weir-test', namespace: 'default' });
    expect(lease.spec?.holderIdentity).toBe('b');
    expect(lease.spec?.leaseTransitions).toBe(0);
    b.stop.abort();
    await b.done;
  }, 30_000);

  it('takes over from a leader that stopped renewing once its lease has run out', async () => {
    const a = candidate(api, 'a', false, running);
    await eventually('leadership', () => a.elector.isLeader, 5000);
    const b = candidate(api, 'b', true, running);
    await new Promise((r) => setTimeout(r, 500));
    const crashed = Date.now();
    a.stop.abort(); // stops renewing without releasing, as a killed process would
    await a.done;
    await eventually('leadership', () => b.elector.isLeader, 10_000);
    expect(b.ledAt! - crashed).toBeGreaterThanOrEqual(2000);
    const lease = await api.readNamespacedLease({ name: 'weir-test', namespace: 'default' });
    expect(lease.spec?.holderIdentity).toBe('b');
    expect(lease.spec?.leaseTransitions).toBe(1);
    b.stop.abort();
    await b.done;
  }, 30_000);

  it('an operator whose run fails while leading hands the lease back and exits non-zero, so a standby need not wait it out', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'dist', 'cli', 'weir.js'), 'operator', '--kubeconfig', cluster.kubeconfigPath, '--http-address', '127.0.0.1:0', '--log-level', 'error'], {
      env: { ...process.env, WEIR_FAILPOINT: 'operator-run', WEIR_LEADER_ELECTION__NAMESPACE: 'default', WEIR_LEADER_ELECTION__LEASE_NAME: 'weir-failing' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect({ code, stderr: stderr.slice(0, 2000) }).toEqual({ code: 1, stderr: expect.any(String) });
    const lease = await api.readNamespacedLease({ name: 'weir-failing', namespace: 'default' });
    // It led (the lease was taken), then gave it back.
    expect(lease.spec?.acquireTime).toBeDefined();
    expect(lease.spec?.holderIdentity ?? '').toBe('');
  }, 60_000);
});
