import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CniRegistry } from './registry.js';
import { handle, parseRequest, type CniHooks } from './server.js';

// A bridge plugin's result as containerd passes it on to the next plugin in the chain.
const prevResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'cni0', mac: 'aa:aa:aa:aa:aa:aa' }, { name: 'veth1234', mac: 'bb:bb:bb:bb:bb:bb' }, { name: 'eth0', mac: 'cc:cc:cc:cc:cc:cc', sandbox: '/var/run/netns/cni-1' }],
  ips: [{ address: '10.244.1.7/24', gateway: '10.244.1.1', interface: 2 }],
};
const request = (command: string, config: Record<string, unknown> = { cniVersion: '1.0.0', name: 'k8s', type: 'weir-cni', prevResult }) =>
  parseRequest(
    `CNI_COMMAND=${command}\nCNI_CONTAINERID=abc123\nCNI_NETNS=/var/run/netns/cni-1\nCNI_IFNAME=eth0\nCNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1\n\n${JSON.stringify(config)}`,
  );
const log = pino({ level: 'silent' });

describe('weir-cni requests', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const hooks = (enforced: CniHooks['enforced']): CniHooks & { changes: number } => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-cni-'));
    dirs.push(dir);
    const h = { registry: new CniRegistry(dir), enforced, changes: 0, changed: () => void h.changes++ };
    return h;
  };

  it('ADD records the pod, answers once it is enforced, and passes the previous result on', async () => {
    const waited: string[] = [];
    const h = hooks(async (ip) => void waited.push(ip));
    const r = await handle(request('ADD'), h, log, 1000);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.output)).toEqual(prevResult);
    expect(waited).toEqual(['10.244.1.7']);
    expect(h.registry.list()).toEqual([{ containerId: 'abc123', ip: '10.244.1.7', netns: '/var/run/netns/cni-1', podNamespace: 'shop', podName: 'web-1' }]);
    // DEL forgets it.
    expect((await handle(request('DEL'), h, log, 1000)).code).toBe(0);
    expect(h.registry.list()).toEqual([]);
  });

  it('ADD that cannot be enforced in time fails with "try again later" and forgets the pod', async () => {
    const h = hooks(() => Promise.reject(new Error('datapath not programmed yet')));
    const r = await handle(request('ADD'), h, log, 10);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.output)).toMatchObject({ code: 11, details: 'datapath not programmed yet' });
    expect(h.registry.list()).toEqual([]);
  });

  it('refuses to run first in a chain, with a CNI error naming why', async () => {
    const r = await handle(request('ADD', { cniVersion: '1.0.0', name: 'k8s', type: 'weir-cni' }), hooks(async () => {}), log, 10);
    expect(JSON.parse(r.output)).toMatchObject({ code: 4, msg: expect.stringContaining('chained after an interface plugin') });
  });
});
