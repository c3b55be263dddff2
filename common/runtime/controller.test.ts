import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Controller, controllerMetrics } from './controller.js';

const log = pino({ level: 'silent' });

describe('Controller', () => {
  it('reconciles each key, retries errors with backoff and counts results', async () => {
    const registry = new Registry();
    const seen: string[] = [];
    let failOnce = true;
    const stop = new AbortController();
    const c = new Controller(
      'test',
      async (key) => {
        seen.push(key);
        if (key === 'flaky' && failOnce) {
          failOnce = false;
          throw new Error('boom');
        }
        if (seen.length >= 3) stop.abort();
      },
      log,
      controllerMetrics(registry),
      { baseDelayMs: 1, maxDelayMs: 10 },
    );
    c.enqueue('a');
    c.enqueue('flaky');
    await c.run(2, stop.signal);
    expect(seen.sort()).toEqual(['a', 'flaky', 'flaky']);
    const text = await registry.metrics();
    expect(text).toContain('weir_controller_reconcile_total{controller="test",result="error"} 1');
    expect(text).toContain('weir_controller_reconcile_total{controller="test",result="success"} 2');
  });

  it('requeues a key after the delay the reconciler asks for', async () => {
    const times: number[] = [];
    const stop = new AbortController();
    const c = new Controller(
      'requeue',
      async () => {
        times.push(Date.now());
        if (times.length === 2) stop.abort();
        return { requeueAfterMs: 50 };
      },
      log,
    );
    c.enqueue('k');
    await c.run(1, stop.signal);
    expect(times).toHaveLength(2);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(45);
  });

  it('processes one key at a time even with several workers', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let runs = 0;
    const stop = new AbortController();
    const c = new Controller(
      'serial',
      async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 20));
        if (runs++ === 0) c.enqueue('k'); // changed mid-reconcile: must run again, not concurrently
        inFlight--;
        if (runs === 2) stop.abort();
      },
      log,
    );
    c.enqueue('k');
    await c.run(4, stop.signal);
    expect(runs).toBe(2);
    expect(maxInFlight).toBe(1);
  });
});
