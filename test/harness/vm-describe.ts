// Gate for the VM layer (*.vm.test.ts): root (QEMU's 9p export of / and the guest's bpf(2)), and
// the VM assets set-up builds.
import { describeGated, isRoot } from './privileged.js';
import { vmUnavailable } from './vm.js';

export function describeVm(name: string, fn: () => void): void {
  describeGated(name, isRoot ? vmUnavailable() : 'needs root', fn);
}
