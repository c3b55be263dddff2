// What loadCollection() returns: the live maps and programs of one loaded object, by name. Each
// owns its own fd; pins and links keep the kernel objects alive past close().
import type { BpfMap } from './map.js';
import type { BpfProgram } from './program.js';

export class Collection {
  constructor(
    readonly path: string,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, BpfProgram>,
  ) {}

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new Error(`${this.path}: no map ${name} (not declared, or not created)`);
    return m;
  }

  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) throw new Error(`${this.path}: no program ${name} (not declared, or not loaded)`);
    return p;
  }

  close(): void {
    for (const x of [...this.maps.values(), ...this.programs.values()]) x.close();
  }
}
