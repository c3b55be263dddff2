// A cgroup v2 directory of its own (a sandbox node, a test), so socket-level programs attached
// there touch only the processes placed in it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Root } from '../common/cgroup.js';

/** The cgroup v2 mount: hybrid hosts (like this one) have it at unified/, pure v2 hosts at the top. */
export const CGROUP2_ROOT = process.env.WEIR_CGROUP2_ROOT ?? cgroup2Root();

export class ChildCgroup {
  readonly path: string;

  constructor(name: string) {
    this.path = join(CGROUP2_ROOT, name);
    ChildCgroup.remove(this.path);
    mkdirSync(this.path);
  }

  /** Moves leftover processes to the root and removes the directory. */
  static remove(path: string): void {
    if (!existsSync(path)) return;
    for (const child of readdirSync(path, { withFileTypes: true })) if (child.isDirectory()) ChildCgroup.remove(join(path, child.name));
    for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        writeFileSync(join(CGROUP2_ROOT, 'cgroup.procs'), pid);
      } catch {
        // Exited meanwhile.
      }
    }
    rmdirSync(path);
  }

  /** Ends every process in the cgroup, then removes it (cgroup.kill, Linux 5.14+, else one by one). */
  static kill(path: string): void {
    if (!existsSync(path)) return;
    try {
      writeFileSync(join(path, 'cgroup.kill'), '1');
    } catch {
      for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Exited meanwhile.
        }
      }
    }
    // Killed processes leave the cgroup asynchronously.
    for (let i = 0; i < 100 && readFileSync(join(path, 'cgroup.procs'), 'utf8').trim(); i++) execFileSync('sleep', ['0.02']);
    ChildCgroup.remove(path);
  }

  cleanup(): void {
    ChildCgroup.remove(this.path);
  }
}
