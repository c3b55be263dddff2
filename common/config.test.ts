import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, configFromEnv, loadAgentConfig, loadOperatorConfig, hostPort, mergeConfig, splitHostPort } from './config.js';

const file = (content: string): string => {
  const p = join(mkdtempSync(join(tmpdir(), 'weir-cfg-')), 'config.yaml');
  writeFileSync(p, content);
  return p;
};

describe('config', () => {
  it('gives the operator its defaults', () => {
    const c = loadOperatorConfig({ env: {} });
    expect(c).toMatchObject({
      logLevel: 'info',
      httpAddress: '0.0.0.0:9963',
      workers: 4,
      leaderElection: { enabled: true, namespace: 'kube-system', leaseName: 'weir-operator', leaseDurationSeconds: 15 },
    });
  });

  it('layers file, environment and flags, later winning', () => {
    const path = file('logLevel: warn\nnodeName: from-file\nbpffsRoot: /sys/fs/bpf/x\n');
    const c = loadAgentConfig({
      file: path,
      env: { WEIR_NODE_NAME: 'from-env', WEIR_LOG_LEVEL: 'debug', HOME: '/root' },
      flags: { nodeName: 'from-flag', logLevel: undefined },
    });
    expect(c.nodeName).toBe('from-flag');
    expect(c.logLevel).toBe('debug');
    expect(c.bpffsRoot).toBe('/sys/fs/bpf/x');
  });

  it('maps nested environment variables with a double underscore', () => {
    expect(configFromEnv({ WEIR_LEADER_ELECTION__LEASE_NAME: 'x', WEIR_WORKERS: '8', WEIR_LEADER_ELECTION__ENABLED: 'false', PATH: '/bin' })).toEqual({
      leaderElection: { leaseName: 'x', enabled: false },
      workers: 8,
    });
  });

  it('names every invalid field', () => {
    let err: unknown;
    try {
      loadOperatorConfig({
        env: {},
        flags: { logLevel: 'loud', workers: 0, httpAddress: 'nope', leaderElection: { leaseDurationSeconds: 5, renewDeadlineSeconds: 10 } },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues.join('\n');
    expect(issues).toMatch(/^logLevel: /m);
    expect(issues).toMatch(/^workers: /m);
    expect(issues).toMatch(/^httpAddress: must be host:port/m);
    expect(issues).toMatch(/^leaderElection.renewDeadlineSeconds: renewDeadlineSeconds must be less/m);
  });

  it('requires the agent node name', () => {
    expect(() => loadAgentConfig({ env: {} })).toThrow(/nodeName: nodeName is required/);
  });

  it('refuses a config file that is missing or not a mapping', () => {
    expect(() => loadAgentConfig({ file: '/nonexistent.yaml', env: {} })).toThrow(/nonexistent.yaml/);
    expect(() => loadAgentConfig({ file: file('- a\n- b\n'), env: {} })).toThrow(/must be a mapping/);
  });

  it('merges deeply without letting undefined erase values', () => {
    expect(mergeConfig({ a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: undefined })).toEqual({ a: { b: 1, c: 3 } });
  });

  it('splits listen addresses', () => {
    expect(splitHostPort('0.0.0.0:9962')).toEqual({ host: '0.0.0.0', port: 9962 });
    expect(splitHostPort('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(splitHostPort(':9962')).toEqual({ host: '0.0.0.0', port: 9962 });
    // As the chart composes it from the node's address, whatever its family.
    expect(splitHostPort('fd00::1:9962')).toEqual({ host: 'fd00::1', port: 9962 });
    expect(loadAgentConfig({ env: {}, flags: { nodeName: 'n1', httpAddress: 'fd00::1:9962' } }).httpAddress).toBe('fd00::1:9962');
    expect(loadAgentConfig({ env: {}, flags: { nodeName: 'n1', httpAddress: '192.168.1.7:9962' } }).httpAddress).toBe('192.168.1.7:9962');
    expect(hostPort('fd00::1', 9964)).toBe('[fd00::1]:9964');
    expect(hostPort('192.168.1.7', 9964)).toBe('192.168.1.7:9964');
  });

  it('refuses a key that is no setting, naming where it came from: a typo in the file, a stray WEIR_ variable', () => {
    const path = file('logLevel: warn\nleaderElecton:\n  enabled: false\n');
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as ConfigError).issues;
      }
      throw new Error('accepted');
    };
    expect(refused(() => loadOperatorConfig({ file: path, env: {} }))).toEqual([`leaderElecton: not a setting of the operator (in ${path})`]);
    expect(refused(() => loadOperatorConfig({ env: { WEIR_LEADER_ELECTION__LEASE_DURATON_SECONDS: '30' } }))).toEqual([
      'leaderElection.leaseDuratonSeconds: not a setting of the operator (WEIR_LEADER_ELECTION__LEASE_DURATON_SECONDS in the environment)',
    ]);
    // An agent's setting in the operator's environment does nothing there: said, not ignored.
    expect(refused(() => loadOperatorConfig({ env: { WEIR_NODE_NAME: 'n1' } }))).toEqual(['nodeName: not a setting of the operator (WEIR_NODE_NAME in the environment)']);
  });

  it("leaves the harnesses' own WEIR_ variables alone", () => {
    const env = { WEIR_TIME_SCALE: '5', WEIR_VM_GUEST: '1', WEIR_FAILPOINT: 'x', WEIR_SANDBOX_PREFIX: 'wsb', WEIR_BENCH_NODES: '10', WEIR_CACHE_DIR: '/tmp/c', WEIR_CGROUP2_ROOT: '/sys/fs/cgroup' };
    expect(loadAgentConfig({ env: { ...env, WEIR_NODE_NAME: 'n1' } }).nodeName).toBe('n1');
    expect(loadOperatorConfig({ env }).workers).toBe(4);
  });
});
