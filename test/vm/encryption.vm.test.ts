// Encryption between nodes needs ESP and WireGuard, which the host kernel lacks: the sandbox test
// for it (test/sandbox/encryption.guest.test.ts) runs in the VM on Debian's 6.1 kernel, which has
// both as modules, in a VM booted for this suite.
import { describeVm } from '../harness/vm-describe.js';
import { failures, jestInVm } from '../harness/vm-jest.js';

describeVm('encryption between nodes, on a kernel with ESP and WireGuard', (testVm) => {
  it('IPsec and WireGuard: only ciphertext on the underlay, a wrong key counted, a key rotation under streams, the move to WireGuard', async () => {
    const j = await jestInVm(testVm(), 'guest', 'test/sandbox/encryption.guest');
    console.log(`encryption on ${testVm().kernelRelease}: ${j.numPassedTests} passed, ${j.numFailedTests} failed`);
    expect(failures(j)).toEqual([]);
    expect(j.numPassedTests).toBe(4);
  }, 1_800_000);
});
