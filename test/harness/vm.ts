// The VM test layer's machine: Debian's 6.1 kernel (scripts/vm-assets.sh) booted under QEMU with
// software emulation (TCG; KVM cannot boot a stock kernel on these hosts), with the host's root
// mounted read-only under a tmpfs overlay, so the guest runs this checkout, node and every tool
// as they are on the host. Boot once per suite; run() hands the guest shell scripts through a
// shared directory (vm/guest-init.sh) and returns their exit code and output.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export const VM_CACHE = join(process.env.WEIR_CACHE_DIR ?? join(homedir(), '.cache', 'weir'), 'vm');

export interface VmOptions {
  memoryMiB?: number;
  cpus?: number;
  /** How long boot may take before the guest is given up (TCG: about 5 s, more on a busy host). */
  bootTimeoutMs?: number;
}

export interface VmResult {
  rc: number;
  out: string;
}

/** Why the VM layer cannot run here, or null when it can. */
export function vmUnavailable(): string | null {
  if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed (scripts/setup.sh installs it)';
  if (!existsSync(join(VM_CACHE, 'kernel')) || !existsSync(join(VM_CACHE, 'initrd.cpio.gz'))) return `no VM kernel in ${VM_CACHE} (scripts/vm-assets.sh builds it)`;
  return null;
}

export class TestVm {
  private next = 0;
  private readonly exited: Promise<number | null>;
  /** uname -r in the guest, once it is up. */
  kernelRelease = '';

  private constructor(
    private readonly qemu: ChildProcess,
    readonly jobDir: string,
  ) {
    this.exited = new Promise((resolve) => qemu.once('exit', (code) => resolve(code)));
  }

  static async boot(opts: VmOptions = {}): Promise<TestVm> {
    const why = vmUnavailable();
    if (why) throw new Error(why);
    const jobDir = mkdtempSync(join(tmpdir(), 'weir-vm-'));
    const kernel = join(VM_CACHE, 'kernel');
    const vmlinuz = join(kernel, 'boot', readdirSync(join(kernel, 'boot')).find((f) => f.startsWith('vmlinuz-'))!);
    const args = [
      ...['-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', String(opts.cpus ?? 2), '-m', String(opts.memoryMiB ?? 3072)],
      ...['-display', 'none', '-monitor', 'none', '-no-reboot', '-serial', `file:${join(jobDir, 'console.log')}`],
      ...['-kernel', vmlinuz, '-initrd', join(VM_CACHE, 'initrd.cpio.gz')],
      '-append',
      `console=ttyS0 panic=-1 weir.init=${join(repoRoot, 'vm', 'guest-init.sh')} weir.modules=${join(kernel, 'lib', 'modules')} weir.cwd=${repoRoot}`,
      ...['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'],
      ...['-virtfs', `local,path=${jobDir},mount_tag=job,security_model=none,multidevs=remap`],
    ];
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    qemu.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const vm = new TestVm(qemu, jobDir);
    const deadline = Date.now() + (opts.bootTimeoutMs ?? 120_000);
    while (!existsSync(join(jobDir, 'ready'))) {
      const exited = await Promise.race([vm.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 200))]);
      if (exited || Date.now() > deadline) {
        qemu.kill('SIGKILL');
        const console = vm.console(20);
        rmSync(jobDir, { recursive: true, force: true });
        throw new Error(`the VM did not come up (${exited ? 'QEMU exited' : 'timeout'}): ${stderr.trim()}\n${console}`);
      }
    }
    vm.kernelRelease = readFileSync(join(jobDir, 'ready'), 'utf8').trim();
    return vm;
  }

  /** Runs a shell script in the guest (from the checkout's directory); resolves with its exit code and output. */
  async run(script: string, timeoutMs = 600_000): Promise<VmResult> {
    const n = this.next++;
    writeFileSync(join(this.jobDir, `cmd-${n}.tmp`), script);
    // Renamed into place, so the guest never reads half a script.
    renameSync(join(this.jobDir, `cmd-${n}.tmp`), join(this.jobDir, `cmd-${n}.sh`));
    const rcPath = join(this.jobDir, `rc-${n}`);
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(rcPath)) {
      if (Date.now() > deadline) throw new Error(`VM job ${n} did not finish in ${timeoutMs} ms:\n${this.output(n)}`);
      if (this.qemu.exitCode !== null) throw new Error(`the VM exited during job ${n}:\n${this.console(40)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    return { rc: Number(readFileSync(rcPath, 'utf8').trim()), out: this.output(n) };
  }

  private output(n: number): string {
    const p = join(this.jobDir, `out-${n}.log`);
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  }

  /** The last lines the guest kernel printed. */
  console(lines = 40): string {
    const p = join(this.jobDir, 'console.log');
    return existsSync(p) ? readFileSync(p, 'utf8').split('\n').slice(-lines).join('\n') : '';
  }

  async stop(): Promise<void> {
    writeFileSync(join(this.jobDir, 'stop'), '');
    const timer = setTimeout(() => this.qemu.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
    rmSync(this.jobDir, { recursive: true, force: true });
  }
}
