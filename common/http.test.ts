import { Counter, Registry } from 'prom-client';
import { pino } from 'pino';
import { startHttpEndpoint } from './http.js';

describe('http endpoint', () => {
  it('serves metrics, health and named readiness checks', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'weir_test_events_total', help: 'test events', registers: [registry] });
    c.inc(3);
    let synced: string | null = 'informers not synced';
    const ep = await startHttpEndpoint({
      address: '127.0.0.1:0',
      registry,
      readiness: { informers: () => synced, kernel: () => null },
      log: pino({ level: 'silent' }),
    });
    const get = (p: string): Promise<Response> => fetch(`http://127.0.0.1:${ep.port}${p}`);
    try {
      const m = await get('/metrics');
      expect(m.status).toBe(200);
      expect(m.headers.get('content-type')).toContain('text/plain');
      expect(await m.text()).toContain('weir_test_events_total 3');
      expect((await get('/healthz')).status).toBe(200);

      const notReady = await get('/readyz');
      expect(notReady.status).toBe(503);
      expect(await notReady.text()).toBe('informers: informers not synced\n');
      synced = null;
      expect((await get('/readyz')).status).toBe(200);
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
