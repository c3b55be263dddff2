import { join } from 'node:path';
import { repoRoot } from '../harness/paths.js';

/** A compiled datapath object from bpf/ (built by `make -C bpf`). */
export const bpfObject = (name: string): string => join(repoRoot, 'build', 'bpf', `${name}.o`);
