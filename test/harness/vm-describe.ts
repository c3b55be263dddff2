// Gate for the VM layer (*.vm.test.ts): root (QEMU's 9p export of / and the guest's bpf(2)), and
// the VM assets set-up builds. One VM per suite: booted before its tests, stopped after them.
import { describeGated, isRoot } from './privileged.js';
import { TestVm, vmUnavailable } from './vm.js';

export function describeVm(name: string, fn: (vm: () => TestVm) => void): void {
  describeGated(name, isRoot ? vmUnavailable() : 'needs root', () => {
    let vm: TestVm | undefined;
    beforeAll(async () => {
      vm = await TestVm.boot();
    }, 240_000);
    afterAll(async () => {
      await vm?.stop();
    });
    fn(() => {
      if (!vm) throw new Error('the test VM is not up');
      return vm;
    });
  });
}
