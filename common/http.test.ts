import { Counter, Registry } from 'prom-client';
import { pino } from 'pino';
import { startHttpEndpoint } from './http.js';

const pick = ({ check, reason, msg }: Record<string, unknown>) => (reason === undefined ? { check, msg } : { check, reason, msg });

describe('http endpoint', () => {
  it('serves metrics, health and named readiness checks', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'weir_test_events_total', help: 'test events', registers: [registry] });
    c.inc(3);
    let synced: string | null = 'informers not synced';
    const logged: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logged.push(pick(JSON.parse(line) as Record<string, unknown>)) });
    const ep = await startHttpEndpoint({
      address: '127.0.0.1:0',
      registry,
      readiness: { informers: () => synced, kernel: () => null },
      log,
    });
    logged.length = 0;
    const get = (p: string): Promise<Response> => fetch(`http://127.0.0.1:${ep.port}${p}`);
    try {
      const m = await get('/metrics');
      expect(m.status).toBe(200);
      expect(m.headers.get('content-type')).toContain('text/plain');
      expect(await m.text()).toContain('weir_test_events_total 3');
      expect((await get('/healthz')).status).toBe(200);

      const notReady = await get('/readyz');
      expect(notReady.status).toBe(503);
      // The reason is for the log, not for whoever reaches the port.
      expect(await notReady.text()).toBe('[-]informers failed: reason withheld\n[+]kernel ok\nnot ready\n');
      expect(logged).toEqual([{ check: 'informers', reason: 'informers not synced', msg: 'readiness check fails' }]);
      await get('/readyz');
      expect(logged).toHaveLength(1);
      synced = null;
      const ready = await get('/readyz');
      expect(ready.status).toBe(200);
      expect(await ready.text()).toBe('ok\n');
      expect(await (await get('/readyz?verbose')).text()).toBe('[+]informers ok\n[+]kernel ok\nok\n');
      expect(logged.map((l) => l.msg)).toEqual(['readiness check fails', 'readiness check passes']);
      expect((await get('/nope')).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${ep.port}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await ep.close();
    }
  });

  it('fails to start on a port already taken', async () => {
    const log = pino({ level: 'silent' });
    const a = await startHttpEndpoint({ address: '127.0.0.1:0', registry: new Registry(), readiness: {}, log });
    await expect(startHttpEndpoint({ address: `127.0.0.1:${a.port}`, registry: new Registry(), readiness: {}, log })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
    await a.close();
  });
});
