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

  it('runs two nodes: policy across nodes, a ClusterIP, a NodePort from outside, the socket fast path, and an agent killed mid-stream', async () => {
    const j = await jestInVm('test/sandbox/agent.priv', 'pod to pod across nodes|ClusterIP spreads|NodePort answers|socket to socket|kill -9 of an agent');
    console.log(`two-node sandbox on ${testVm().kernelRelease}: ${j.numPassedTests} passed, ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(j.numPassedTests).toBe(5);
  }, 1_800_000);

  // The cases that exercise the kernel (the redirect, the socket assignment, transparent sockets);
  // those about timing under load (a policy change mid-connection, a proxy restart) stay on the host,
  // where an emulated CPU does not stretch them.
  it('enforces L7 policy through the node proxy: bpf_sk_assign on loopback behind cls_bpf, transparent sockets, both directions', async () => {
    const j = await jestInVm('test/sandbox/l7.priv', 'ingress on one node|ingress across nodes|egress: directly|both the client|Upgrade');
    console.log(`L7 sandbox on ${testVm().kernelRelease}: ${j.numPassedTests} passed, ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(j.numPassedTests).toBe(5);
  }, 1_800_000);

  it('encrypts between nodes (IPsec and WireGuard): only ciphertext on the underlay, a wrong key counted, a key rotation under streams, the move to WireGuard', async () => {
    const j = await jestIn(testVm(), 'guest', 'test/sandbox/encryption.guest');
    console.log(`encryption on ${testVm().kernelRelease}: ${j.numPassedTests} passed, ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(j.numPassedTests).toBe(4);
  }, 1_800_000);
});
