// The health-check child as the agent runs it (its own process, from the built CLI): answers 200
// or 503 by local endpoints, follows table changes, and reports a port another process holds
// until it is freed, then serves it (the migration from kube-proxy: Weir first, kube-proxy gone second).
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../../sandbox/paths.js';
import { createLogger } from '../../common/log.js';
import { eventually } from '../../sandbox/wait.js';
import { HealthServers } from './health.js';

const status = (port: number) => fetch(`http://127.0.0.1:${port}/`).then(async (r) => [r.status, await r.json()] as const);

describe('the healthCheckNodePort servers', () => {
  let changes = 0;
  const servers = new HealthServers({ netns: null, cli: join(repoRoot, 'dist', 'cli', 'weir.js') }, createLogger('agent', 'silent'), () => changes++);
  let squatter: Server;
  beforeAll(async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(32599, '127.0.0.1', r));
  });
  afterAll(async () => {
    await servers.stop();
    if (squatter.listening) squatter.close();
  });

  it('answers by local endpoints, follows the table, and reports a port it cannot take', async () => {
    servers.sync([
      { port: 32598, namespace: 'shop', name: 'web', localEndpoints: 2 },
      { port: 32597, namespace: 'shop', name: 'api', localEndpoints: 0 },
      { port: 32599, namespace: 'shop', name: 'held', localEndpoints: 1 },
    ]);
    await eventually('health servers listening', async () => (await status(32598).catch(() => undefined)) !== undefined, 10_000);
    expect(await status(32598)).toEqual([200, { service: { namespace: 'shop', name: 'web' }, localEndpoints: 2, serviceProxyHealthy: true }]);
    expect((await status(32597))[0]).toBe(503);
    await eventually('the held port reported', async () => servers.problems.length > 0, 10_000);
    expect(servers.problems).toEqual(['healthCheckNodePort 32599 cannot be served (EADDRINUSE); retrying']);
    expect(servers.serving).toEqual([32597, 32598]);
    // The other process goes: the port is taken without a new table, and the agent is told.
    const seen = changes;
    await new Promise((r) => squatter.close(r));
    await eventually('the freed port served', async () => (await status(32599).catch(() => [0]))[0] === 200, 15_000);
    expect(servers.problems).toEqual([]);
    expect(servers.serving).toEqual([32597, 32598, 32599]);
    expect(changes).toBeGreaterThan(seen);
    servers.sync([{ port: 32597, namespace: 'shop', name: 'api', localEndpoints: 1 }]);
    await eventually('the table followed', async () => (await status(32597).catch(() => [0]))[0] === 200, 10_000);
    await expect(status(32598)).rejects.toThrow();
    expect(servers.problems).toEqual([]);
    await eventually('the new table applied', async () => JSON.stringify(servers.serving) === '[32597]', 10_000);
  });
});
