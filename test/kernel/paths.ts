import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A compiled datapath object from bpf/ (built by `make -C bpf`). */
export const bpfObject = (name: string): string => join(repoRoot, 'build', 'bpf', `${name}.o`);
