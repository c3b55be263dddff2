// The README's main job end to end: `weir up` as a new user runs it, the printed kubeconfig with
// kubectl, the demo's allowed and denied traffic, then `weir down` leaving nothing behind.
import { execFile as execFileCb } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CGROUP2_ROOT } from '../../sandbox/cgroup.js';
import { NETNS_DIR } from '../../sandbox/netns.js';
import { repoRoot } from '../harness/paths.js';
import { describePrivileged } from '../harness/privileged.js';

const execFile = promisify(execFileCb);
const PREFIX = 'weirup';
const weir = (args: string[]) =>
  execFile(process.execPath, [join(repoRoot, 'dist', 'cli', 'weir.js'), ...args], { encoding: 'utf8', env: { ...process.env, WEIR_SANDBOX_PREFIX: PREFIX }, timeout: 300_000 });
const links = async (): Promise<number> => (JSON.parse((await execFile('bpftool', ['-j', 'link', 'show'])).stdout) as unknown[]).length;

describePrivileged('weir up / weir down', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-up-'));
  afterAll(async () => {
    await weir(['down', '--dir', dir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('brings up a working sandbox with the demo, and removes every trace of it', async () => {
    const linksBefore = await links();
    const { stdout } = await weir(['up', '--dir', dir]);
    // The demo's policy: the frontend reaches both backends, the intruder is refused.
    expect(stdout).toMatch(/frontend -> backend .*\n\s+expected allowed.*got \{"backend-[12]":\d+,"backend-[12]":\d+\}/);
    expect(stdout).toMatch(/intruder -> backend .*\n\s+expected denied \(timeout\); got timeout/);
    const kubeconfig = /export KUBECONFIG=(\S+);/.exec(stdout)?.[1] ?? '';
    expect(existsSync(kubeconfig)).toBe(true);
    const { stdout: ndps } = await execFile('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodedatapaths', '-o', 'name']);
    expect(ndps.trim().split('\n')).toEqual([`nodedatapath.weir.dev/${PREFIX}-n1`, `nodedatapath.weir.dev/${PREFIX}-n2`]);
    expect((await weir(['status', '--kubeconfig', kubeconfig])).stdout).toMatch(new RegExp(`${PREFIX}-n1\\s+\\d+/\\d+\\s+True`));
    // Pods look as a kubelet reports them: every container ready, running.
    const { stdout: pods } = await execFile('kubectl', ['--kubeconfig', kubeconfig, 'get', 'pods', '-A', '--no-headers']);
    const rows = pods.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => `${r[2]} ${r[3]}`)).toEqual(rows.map(() => '1/1 Running'));
    // The README's commands as written: `weir` is on the PATH after set-up.
    const onPath = await execFile('weir', ['status', '--kubeconfig', kubeconfig], { encoding: 'utf8', env: { ...process.env, WEIR_SANDBOX_PREFIX: PREFIX } });
    expect(onPath.stdout).toContain(`${PREFIX}-n1`);
    expect((await weir(['up', '--dir', dir]).catch((e: { stderr: string }) => ({ stdout: e.stderr }))).stdout).toContain('already up');

    const { stdout: removed } = await weir(['down', '--dir', dir]);
    expect(removed).toContain('removed etcd and kube-apiserver');
    expect(readdirSync(NETNS_DIR).filter((n) => n.startsWith(`${PREFIX}-`))).toEqual([]);
    expect(existsSync(`/sys/fs/bpf/${PREFIX}`)).toBe(false);
    expect(readdirSync(CGROUP2_ROOT).filter((n) => n.startsWith(`${PREFIX}-`))).toEqual([]);
    expect(existsSync(dir)).toBe(false);
    expect(await links()).toBe(linksBefore);
    const { stdout: ps } = await execFile('ps', ['-eo', 'args']);
    expect(ps.split('\n').filter((l) => l.includes(dir) || l.includes(`--bpffs-root /sys/fs/bpf/${PREFIX}`))).toEqual([]);
  }, 360_000);
});
