// A cgroup v2 directory of its own for a test, so socket-level programs attached there touch
// only the test's processes.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP2_ROOT = process.env.WEIR_CGROUP2_ROOT ?? '/sys/fs/cgroup/unified';

export class TestCgroup {
  readonly path: string;

  constructor(name: string) {
    this.path = join(CGROUP2_ROOT, name);
    TestCgroup.remove(this.path);
    mkdirSync(this.path);
  }

  /** Moves leftover processes to the root and removes the directory. */
  static remove(path: string): void {
    if (!existsSync(path)) return;
    for (const child of readdirSync(path, { withFileTypes: true })) if (child.isDirectory()) TestCgroup.remove(join(path, child.name));
    for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        writeFileSync(join(CGROUP2_ROOT, 'cgroup.procs'), pid);
      } catch {
        // Exited meanwhile.
      }
    }
    rmdirSync(path);
  }

  cleanup(): void {
    TestCgroup.remove(this.path);
  }
}
