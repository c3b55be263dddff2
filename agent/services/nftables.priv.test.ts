// The fallback table as the kernel takes it: nft checks and loads it in a namespace of its own.
import { execFileSync } from 'node:child_process';
import { ServiceFlags } from '../../common/maps/lb.js';
import { Lab } from '../../sandbox/netns.js';
import { PodProcess, runInPod } from '../../sandbox/pods.js';
import { NetnsCommands } from '../network/ipcmd.js';
import { FALLBACK_TABLE, NftServiceTable, removeServiceTable } from './nftables.js';

const NS = `weir-nft-${process.pid}`;

describe('the nftables service table in the kernel', () => {
  beforeAll(() => execFileSync('ip', ['netns', 'add', NS]));
  afterAll(() => execFileSync('ip', ['netns', 'del', NS]));

  it('loads, reloads in place, and is removed leaving nothing of Weir', async () => {
    const cmd = new NetnsCommands(`/var/run/netns/${NS}`);
    const table = new NftServiceTable(cmd);
    const backends = [{ address: '10.244.1.2', port: 8080 }, { address: '10.244.2.2', port: 8080 }];
    await table.sync([
      { service: 'a/b', address: '10.96.0.10', port: 80, proto: 6, flags: ServiceFlags.ClusterIp | ServiceFlags.Affinity, affinityTimeoutS: 60, backends },
      { service: 'a/c', address: '10.96.0.11', port: 53, proto: 17, flags: ServiceFlags.ClusterIp, affinityTimeoutS: 0, backends },
      { service: 'a/d', address: '10.96.0.12', port: 80, proto: 6, flags: ServiceFlags.ClusterIp, affinityTimeoutS: 0, backends: [] },
    ]);
    const listed = await cmd.exec('nft', ['list', 'map', 'ip', FALLBACK_TABLE, 'frontends']);
    expect(listed).toContain('10.96.0.10 . tcp . 80 : goto fe_0');
    await table.sync([{ service: 'a/c', address: '10.96.0.11', port: 53, proto: 17, flags: ServiceFlags.ClusterIp, affinityTimeoutS: 0, backends }]);
    expect(await cmd.exec('nft', ['list', 'map', 'ip', FALLBACK_TABLE, 'frontends'])).not.toContain('10.96.0.10');
    expect(await cmd.nftTables()).toContain(`ip ${FALLBACK_TABLE}`);
    // A foreign table is not Weir's to remove.
    await cmd.exec('nft', ['add', 'table', 'ip', 'someone_else']);
    expect(await removeServiceTable(cmd)).toBe(true);
    expect(await removeServiceTable(cmd)).toBe(false);
    expect((await cmd.exec('nft', ['list', 'tables'])).trim()).toBe('table ip someone_else');
  });

  it('serves a load-balancer address only to clients inside loadBalancerSourceRanges, with real connections', async () => {
    const lab = new Lab('wnsr');
    let server: PodProcess | undefined;
    try {
      const node = lab.addNamespace('node');
      const nets = { in: '10.244.1', out: '10.244.3', be: '10.244.2' } as const;
      const ns: Record<string, string> = {};
      for (const [name, net] of Object.entries(nets)) {
        ns[name] = lab.addNamespace(name);
        lab.addVeth({ ns: node, name: `n-${name}` }, { ns: ns[name], name: 'eth0' });
        lab.addAddress(node, `n-${name}`, `${net}.1/24`);
        lab.addAddress(ns[name], 'eth0', `${net}.2/24`);
        execFileSync('ip', ['-n', ns[name], 'route', 'add', 'default', 'via', `${net}.1`]);
      }
      execFileSync('ip', ['netns', 'exec', node, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      server = await PodProcess.start(ns.be, ['serve-who', 'be', '8080']);
      await new NftServiceTable(new NetnsCommands(`/var/run/netns/${node}`)).sync([
        { service: 'a/lb', address: '203.0.113.7', port: 80, proto: 6, flags: ServiceFlags.External | ServiceFlags.SourceRanges, sourceRanges: [`${nets.in}.0/24`], affinityTimeoutS: 0, backends: [{ address: `${nets.be}.2`, port: 8080 }] },
      ]);
      const who = (from: string) => runInPod<Record<string, number>>(from, ['svc-probe', 'TCP', '203.0.113.7:80', '1', '1500']).then((o) => Object.keys(o)[0]);
      expect(await who(ns.in)).toMatch(/^be:8080 /);
      // Outside the ranges: no translation, no answer.
      expect(await who(ns.out)).toBe('timeout');
    } finally {
      server?.stop();
      lab.cleanup();
    }
  });
});
