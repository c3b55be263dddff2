// Gate for the VM layer (*.vm.test.ts): root (QEMU's 9p export of / and the guest's bpf(2)), and
// the VM assets set-up builds. Off root it skips; in CI, which runs as root after set-up, a
// missing piece fails instead of skipping.
import { isRoot } from './privileged.js';
import { vmUnavailable } from './vm.js';

export function describeVm(name: string, fn: () => void): void {
  const why = !isRoot ? 'needs root' : vmUnavailable();
  if (why === null) describe(name, fn);
  else if (process.env.CI)
    describe(name, () => {
      it('runs in CI', () => {
        throw new Error(`the VM layer cannot run: ${why}`);
      });
    });
  else describe.skip(`${name} [skipped: ${why}]`, fn);
}
