// The kernel layers on Debian's 6.1 kernel (the long-term kernel of Debian 12 and many cloud
// images), in one VM booted and warmed once for the whole layer: the same test files as on the
// host, run by jest inside the guest as root, each result reported back here by name; and the
// encryption suite, which only this kernel can run (the host has neither ESP nor WireGuard).
import { describeVm } from '../harness/vm-describe.js';
import { failures, jestInVm as jestIn } from '../harness/vm-jest.js';

describeVm("the datapath on Debian's 6.1 kernel", (testVm) => {

  const jestInVm = (paths: string, names?: string) => jestIn(testVm(), 'privileged', paths, names);

  it('boots the 6.1 kernel', () => {
    expect(testVm().kernelRelease).toMatch(/^6\.1\./);
  });

  it('passes the kernel scenario tests: every program loads and judges crafted packets as on the host', async () => {
    const j = await jestInVm('test/kernel/');
    console.log(`kernel scenario tests on ${testVm().kernelRelease}: ${j.numPassedTests} passed, ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(j.numPassedTests).toBeGreaterThan(30);
  }, 1_800_000);

  it('passes libbpfjs and the agent backend: maps, programs, links, and TC attached as cls_bpf without tcx', async () => {
    const j = await jestInVm('libbpfjs/src/|agent/datapath/');
    console.log(`libbpfjs and agent backend tests on ${testVm().kernelRelease}: ${j.numPassedTests} passed, ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(j.numPassedTests).toBeGreaterThan(40);
  }, 1_800_000);

  it('names what 6.1 lacks and what covers it (weir preflight)', async () => {
    const r = await testVm().run('node dist/cli/weir.js preflight');
    expect(r.out).toMatch(/ok\*\s+tcx\s+no tcx before Linux 6\.6: TC programs attach as cls_bpf filters on clsact/);
    expect(r.out).toMatch(/ok\s+kernel-version/);
    expect(r.rc).toBe(0);
  }, 120_000);

  // One sandbox run on 6.1 for each thing only a sandbox shows: the L7 redirect (bpf_sk_assign on
  // loopback behind cls_bpf, transparent sockets, policy routing), with pod traffic within and
  // across nodes and a ClusterIP on the way; and encryption, which only this kernel has. Each
  // sandbox costs the emulated guest about five minutes to bring up, so the rest of the
  // two-node integration (NodePort from outside, the socket fast path, an agent killed
  // mid-stream) runs on the host, and on 6.1 its programs run in the kernel scenario tests above.
  // Cases about timing under load or about user space alone (a policy change mid-connection, a
  // proxy restart, an Upgrade with a 100 MiB body) stay on the host, where no emulated CPU
  // stretches them.
  it('enforces L7 policy through the node proxy and encrypts between nodes (IPsec, then WireGuard)', async () => {
    const j = await jestIn(
      testVm(),
      ['privileged', 'guest'],
      'test/sandbox/(l7\\.priv|encryption\\.guest)',
      'ingress on one node|ingress across nodes|egress: directly|both the client|IPsec|WireGuard',
    );
    const of = (file: string) => j.testResults.filter((f) => f.name.includes(file)).flatMap((f) => f.assertionResults).filter((a) => a.status === 'passed').length;
    console.log(`L7 sandbox on ${testVm().kernelRelease}: ${of('l7.priv')} passed; encryption: ${of('encryption.guest')} passed; ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(of('l7.priv')).toBe(4);
    expect(of('encryption.guest')).toBe(5);
  }, 3_600_000);
});
