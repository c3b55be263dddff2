// What a user sees when something is wrong: one clear line naming the problem, exit code 2.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../harness/paths.js';

const weir = (args: string[], opts: { asUser?: boolean } = {}) => {
  const cmd = [process.execPath, join(repoRoot, 'dist', 'cli', 'weir.js'), ...args];
  // setpriv runs the same command as nobody, to see the not-root message when tests run as root.
  const full = opts.asUser && process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd;
  const r = spawnSync(full[0] ?? '', full.slice(1), { encoding: 'utf8', env: { ...process.env, WEIR_SANDBOX_DIR: '/nonexistent-weir-sandbox' } });
  return { code: r.status, stderr: r.stderr };
};

describe('weir CLI errors', () => {
  it('names a kubeconfig that cannot be read', () => {
    const r = weir(['status', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('/nonexistent/kubeconfig');
  });

  it('says which API server cannot be reached', () => {
    const r = weir(['status', '--kubeconfig', join(repoRoot, 'test', 'cli', 'unreachable.kubeconfig')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read the cluster \(https:\/\/127\.0\.0\.1:1\)/);
  });

  it('asks for root where the datapath needs it', () => {
    const r = weir(['up'], { asUser: true });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('weir up needs root');
  });

  it('refuses a bad plan description with the field named', () => {
    const r = weir(['plan', '-f', join(repoRoot, 'package.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nodes');
  });
});
