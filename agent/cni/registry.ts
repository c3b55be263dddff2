// The pods the runtime told this agent about through weir-cni: one file per container under the
// agent's state directory, so an agent that restarts still knows which interfaces are pods it
// must enforce, though NodeDatapath may not name them yet.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CniEndpoint {
  containerId: string;
  /** The pod's IPv4 address: the agent finds its host-side interface by it. */
  ip: string;
  netns: string;
  podNamespace?: string;
  podName?: string;
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

export class CniRegistry {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  add(e: CniEndpoint): void {
    if (!SAFE_ID.test(e.containerId)) throw new Error(`container id ${JSON.stringify(e.containerId)} is not a valid id`);
    writeFileSync(join(this.dir, `${e.containerId}.json`), JSON.stringify(e));
  }

  remove(containerId: string): void {
    if (SAFE_ID.test(containerId)) rmSync(join(this.dir, `${containerId}.json`), { force: true });
  }

  list(): CniEndpoint[] {
    const out: CniEndpoint[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as CniEndpoint);
      } catch {
        // A half-written file from a crash: the runtime repeats ADD or sends DEL.
      }
    }
    return out;
  }
}
