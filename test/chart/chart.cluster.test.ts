// The Helm chart against the real API server: lint, render + server-side dry-run against the
// API's own schemas, install / upgrade / uninstall. No kubelet or controller-manager runs here,
// so the Deployment and DaemonSet are created but never start pods: what is checked is that
// every object is accepted and that RBAC grants exactly what each component needs.
import { execFile as execFileCb } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binaries } from '../../sandbox/cluster.js';
import { useTestCluster } from '../harness/cluster.js';
import { repoRoot } from '../harness/paths.js';
import { parseIpsecSecret } from '../../common/encryption/ipsec-keys.js';

const execFile = promisify(execFileCb);
const CHART = join(repoRoot, 'charts', 'weir');
const NS = 'weir-system';

describe('Helm chart', () => {
  const cluster = useTestCluster(async (c) => {
    await c.applyCrds();
    await c.kubectl(['create', 'namespace', NS]);
  });
  const helm = async (args: string[]): Promise<string> => {
    const { stdout } = await execFile(binaries(['helm']).helm, [...args, '--kubeconfig', cluster().kubeconfigPath], { encoding: 'utf8', timeout: 120_000 });
    return stdout;
  };
  const helmFails = async (args: string[]): Promise<string> => {
    try {
      await helm(args);
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      return `${err.stdout ?? ''}${err.stderr ?? ''}`;
    }
    throw new Error(`helm ${args.join(' ')} succeeded`);
  };
  const kubectl = (args: string[]) => cluster().kubectl(args);

  it('lints clean, and bad values fail at install with the field named', async () => {
    await helm(['lint', CHART]);
    expect(await helmFails(['lint', CHART, '--set', 'datapathConfig.mapSizing.ctTCPMax=5'])).toContain('/datapathConfig/mapSizing/ctTCPMax');
    expect(await helmFails(['lint', CHART, '--set', 'datapathConfig.features.prefilter.denyCIDRs[0]=nonsense'])).toContain('denyCIDRs');
    expect(await helmFails(['lint', CHART, '--set', 'agent.xdpMode=offload'])).toContain('xdpMode');
  });

  it('renders objects the API server accepts (server-side dry run)', async () => {
    const rendered = await helm(['template', 'weir', CHART, '--namespace', NS, '--kube-version', '1.34.0', '--set', 'grafanaDashboard.enabled=true']);
    const out = await new Promise<string>((resolve, reject) => {
      const p = execFileCb('kubectl', ['--kubeconfig', cluster().kubeconfigPath, 'apply', '--dry-run=server', '-f', '-'], { encoding: 'utf8' }, (err, so, se) =>
        err ? reject(new Error(`dry run refused: ${se}`)) : resolve(so),
      );
      p.stdin?.end(rendered);
    });
    for (const kind of ['deployment.apps/weir-operator', 'daemonset.apps/weir-agent', 'clusterrole.rbac.authorization.k8s.io/weir-agent', 'datapathconfig.weir.dev/default', 'poddisruptionbudget.policy/weir-operator', 'configmap/weir-dashboard'])
      expect(out).toContain(kind);
  });

  it('installs, upgrades and uninstalls; RBAC is least privilege', async () => {
    await helm(['install', 'weir', CHART, '--namespace', NS, '--wait=false']);
    expect(await kubectl(['-n', NS, 'get', 'deployment/weir-operator', 'daemonset/weir-agent', '-o', 'name'])).toContain('daemonset.apps/weir-agent');
    expect(await kubectl(['get', 'datapathconfig', 'default', '-o', 'jsonpath={.spec.rollout.maxUnavailable}'])).toBe('1');

    /** `kubectl auth can-i` as a service account of the release; `what` as kubectl takes it (resource, or resource/name). */
    const can = async (sa: string, verb: string, what: string, extra: string[] = []) =>
      (await execFile('kubectl', ['--kubeconfig', cluster().kubeconfigPath, 'auth', 'can-i', verb, what, '--as', `system:serviceaccount:${NS}:${sa}`, ...extra]).then(
        (r) => r.stdout.trim(),
        (e: { stdout?: string }) => String(e.stdout ?? '').trim(),
      )) === 'yes';
    expect(await can('weir-agent', 'patch', 'nodedatapaths.weir.dev', ['--subresource=status'])).toBe(true);
    expect(await can('weir-agent', 'watch', 'endpointslices.discovery.k8s.io')).toBe(true);
    expect(await can('weir-agent', 'create', 'nodedatapaths.weir.dev')).toBe(false);
    expect(await can('weir-agent', 'patch', 'pods')).toBe(false);
    expect(await can('weir-operator', 'create', 'identities.weir.dev')).toBe(true);
    expect(await can('weir-operator', 'patch', 'datapathconfigs.weir.dev', ['--subresource=status'])).toBe(true);
    expect(await can('weir-operator', 'delete', 'pods')).toBe(false);
    expect(await can('weir-operator', 'get', 'secrets')).toBe(false);

    await helm(['upgrade', 'weir', CHART, '--namespace', NS, '--set', 'datapathConfig.features.prefilter.denyCIDRs[0]=192.0.2.0/24', '--set', 'agent.updateStrategy.maxUnavailable=25%']);
    expect(await kubectl(['get', 'datapathconfig', 'default', '-o', 'jsonpath={.spec.features.prefilter.denyCIDRs[0]}'])).toBe('192.0.2.0/24');
    expect(await kubectl(['-n', NS, 'get', 'daemonset/weir-agent', '-o', 'jsonpath={.spec.updateStrategy.rollingUpdate.maxUnavailable}'])).toBe('25%');

    // IPsec: the chart makes a key Secret in Cilium's format, keeps its key across upgrades, and
    // lets the agent and operator read that one Secret and no other.
    await helm(['upgrade', 'weir', CHART, '--namespace', NS, '--reuse-values', '--set', 'datapathConfig.features.encryption.enabled=true']);
    const keys = async () => Buffer.from(await kubectl(['-n', NS, 'get', 'secret', 'weir-ipsec-keys', '-o', 'jsonpath={.data.keys}']), 'base64').toString();
    const first = await keys();
    expect(parseIpsecSecret({ keys: Buffer.from(first).toString('base64') })).toEqual([expect.objectContaining({ id: 1, icvBits: 128 })]);
    expect(await kubectl(['get', 'datapathconfig', 'default', '-o', 'jsonpath={.spec.features.encryption.secretRef.namespace}'])).toBe(NS);
    await helm(['upgrade', 'weir', CHART, '--namespace', NS, '--reuse-values', '--set', 'datapathConfig.features.encryption.strictMode=false']);
    expect(await keys()).toBe(first);
    expect(await can('weir-agent', 'get', 'secrets/weir-ipsec-keys', ['-n', NS])).toBe(true);
    expect(await can('weir-operator', 'watch', 'secrets/weir-ipsec-keys', ['-n', NS])).toBe(true);
    expect(await can('weir-agent', 'get', 'secrets/other', ['-n', NS])).toBe(false);
    expect(await can('weir-agent', 'list', 'secrets', ['-n', NS])).toBe(false);

    await helm(['uninstall', 'weir', '--namespace', NS, '--wait']);
    // The key outlives the release (nodes may still encrypt with it).
    expect((await kubectl(['-n', NS, 'get', 'secret', 'weir-ipsec-keys', '-o', 'name'])).trim()).toBe('secret/weir-ipsec-keys');
    expect(await kubectl(['-n', NS, 'get', 'deployments,daemonsets,serviceaccounts,roles', '-l', 'app.kubernetes.io/instance=weir', '-o', 'name'])).toBe('');
    expect(await kubectl(['get', 'datapathconfigs', '-o', 'name'])).toBe('');
    // Helm never deletes CRDs (their objects would go with them).
    expect(await kubectl(['get', 'crd', 'nodedatapaths.weir.dev', '-o', 'name'])).toContain('nodedatapaths.weir.dev');
  }, 120_000);
});
