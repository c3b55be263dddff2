// Gate for the VM layer (*.vm.test.ts): root (QEMU's 9p export of / and the guest's bpf(2)), and
// the VM assets set-up builds. One VM per suite: booted before its tests, warmed, stopped after.
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describeGated, isRoot } from './privileged.js';
import { TestVm, vmUnavailable } from './vm.js';

/**
 * What every guest job reads: Node.js, the checkout's dependencies and build, the cluster binaries.
 * The guest reads the host's root over 9p with its own page cache (cache=loose), so reading them
 * once here pays the cold start a single time, in a step of its own, instead of inside the first
 * test's limits (on a cold host each first read also waits for the host's disk).
 */
const BIN = join(process.env.WEIR_CACHE_DIR ?? join(homedir(), '.cache', 'weir'), 'bin');
const WARM = [
  'node_modules', 'dist', 'libbpfjs/build', 'libbpfjs/dist', 'build', 'sandbox', 'test/harness',
  // The guest's sandboxes run etcd and kube-apiserver; helm and kube-proxy (150 MB) stay unread.
  ...(existsSync(BIN) ? readdirSync(BIN).filter((f) => /^(etcd|kube-apiserver)-/.test(f)).map((f) => join(BIN, f)) : []),
];
/** What no guest job reads: lint tooling. */
const COLD = ['node_modules/eslint*', 'node_modules/@eslint*', 'node_modules/@typescript-eslint', 'node_modules/typescript-eslint'];

/** Boot and warm-up each get this: measured at most 4 min together on a cold 2-core host. */
const BOOT_LIMIT_MS = 900_000;

export function describeVm(name: string, fn: (vm: () => TestVm) => void): void {
  describeGated(name, isRoot ? vmUnavailable() : 'needs root', () => {
    let vm: TestVm | undefined;
    beforeAll(async () => {
      const t0 = Date.now();
      vm = await TestVm.boot({ bootTimeoutMs: BOOT_LIMIT_MS });
      const booted = Date.now();
      const prune = COLD.map((p) => `-path '${p}' -prune -o`).join(' ');
      const r = await vm.run(`cat "$(command -v node)" > /dev/null && find ${WARM.map((p) => `'${p}'`).join(' ')} ${prune} -type f -print0 2>/dev/null | xargs -0 cat > /dev/null; echo warmed`, BOOT_LIMIT_MS);
      if (!r.out.includes('warmed')) throw new Error(`warming the VM failed (exit ${r.rc}): ${r.out.slice(-2000)}`);
      console.log(`VM ${vm.kernelRelease}: booted in ${((booted - t0) / 1000).toFixed(1)} s, files warmed in ${((Date.now() - booted) / 1000).toFixed(1)} s`);
    }, 2 * BOOT_LIMIT_MS + 10_000);
    afterAll(async () => {
      await vm?.stop();
    });
    fn(() => {
      if (!vm) throw new Error('the test VM is not up');
      return vm;
    });
  });
}
