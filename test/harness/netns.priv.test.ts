// The Lab helper: a node namespace with a bridge and two pod namespaces on veths, traffic between
// the pods, and a cleanup (also after a crashed run) that leaves no namespace or link behind.
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Lab, nodeIn, NETNS_DIR } from '../../sandbox/netns.js';
import { describePrivileged } from './privileged.js';

const ours = (prefix: string): string[] => (existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR).filter((n) => n.startsWith(`${prefix}-`)) : []);

describePrivileged('netns Lab', () => {
  it('builds node + pods on a bridge that carry TCP, and removes all of it', () => {
    const lab = new Lab('wlab');
    try {
      const node = lab.addNamespace('node');
      lab.addBridge(node, 'br0', '10.244.0.1/24');
      for (const [i, pod] of ['p1', 'p2'].entries()) {
        const ns = lab.addNamespace(pod);
        lab.addVeth({ ns, name: 'eth0' }, { ns: node, name: `veth${pod}` });
        lab.enslave(node, `veth${pod}`, 'br0');
        lab.addAddress(ns, 'eth0', `10.244.0.${10 + i}/24`);
        lab.addRoute(ns, 'default', '10.244.0.1');
      }
      expect(ours('wlab').sort()).toEqual(['wlab-node', 'wlab-p1', 'wlab-p2']);

      // A TCP echo in p2, a client in p1: real traffic across the bridge.
      const server = `require('net').createServer(s=>s.pipe(s)).listen(8080,'10.244.0.11',()=>{});setTimeout(()=>process.exit(0),5000)`;
      const bg = execFileSync('sh', ['-c', `ip netns exec wlab-p2 ${process.execPath} -e "${server}" >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
      try {
        const reply = nodeIn(
          lab,
          'wlab-p1',
          `const go=()=>{const c=require('net').connect(8080,'10.244.0.11',()=>c.end('ping'));let d='';c.on('data',x=>d+=x);c.on('end',()=>process.stdout.write(d));c.on('error',()=>setTimeout(go,100))};go();`,
        );
        expect(reply).toBe('ping');
      } finally {
        process.kill(Number(bg.trim()), 'SIGKILL');
      }
    } finally {
      lab.cleanup();
    }
    expect(ours('wlab')).toEqual([]);
  });

  it('sweeps what a crashed run with the same prefix left', () => {
    const crashed = new Lab('wlab2');
    crashed.addNamespace('left');
    crashed.addVeth({ ns: null, name: 'wlab2-x' }, { ns: 'wlab2-left', name: 'eth0' });
    // A new lab with the prefix starts clean without the first one's cleanup having run.
    const fresh = new Lab('wlab2');
    expect(ours('wlab2')).toEqual([]);
    expect(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })).not.toContain('wlab2-x');
    fresh.cleanup();
  });

  it('refuses prefixes that could collide with other namespaces', () => {
    expect(() => new Lab('Bad_Prefix')).toThrow(/lab prefix/);
  });
});
