// Reads the BTF of a compiled BPF object (through bpftool's JSON dump) to check the TypeScript
// layouts against what the compiler really laid out.
import { execFileSync } from 'node:child_process';

interface RawType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
  vars?: Array<{ type_id: number; name?: string }>;
  values?: Array<{ name: string; val: number }>;
}

export interface BtfMember {
  name: string;
  offset: number;
  size: number;
}

export interface BtfType {
  name: string;
  size: number;
  /** Struct members; empty for scalars. */
  members: BtfMember[];
}

export class Btf {
  private readonly byId = new Map<number, RawType>();

  constructor(objectPath: string) {
    const raw = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', objectPath], { encoding: 'utf8' })) as { types: RawType[] };
    for (const t of raw.types) this.byId.set(t.id, t);
  }

  private get(id: number): RawType {
    const t = this.byId.get(id);
    if (!t) throw new Error(`BTF type ${id} missing`);
    return t;
  }

  /** Size in bytes of a type, through typedefs, qualifiers and arrays. */
  sizeOf(id: number): number {
    const t = this.get(id);
    switch (t.kind) {
      case 'TYPEDEF':
      case 'CONST':
      case 'VOLATILE':
      case 'RESTRICT':
        return this.sizeOf(t.type_id ?? 0);
      case 'ARRAY':
        return this.sizeOf(t.type_id ?? 0) * (t.nr_elems ?? 0);
      case 'PTR':
        return 8;
      default:
        return t.size ?? 0;
    }
  }

  private describe(id: number): BtfType {
    const t = this.get(id);
    // A typedef of a scalar keeps its own name (__u32); a typedef of a struct is described as the struct.
    if (t.kind === 'TYPEDEF') {
      const target = this.get(t.type_id ?? 0);
      if (target.kind === 'STRUCT') return this.describe(target.id);
      return { name: t.name ?? '', size: this.sizeOf(id), members: [] };
    }
    return {
      name: t.name ?? '',
      size: this.sizeOf(id),
      members: (t.members ?? []).map((m) => ({ name: m.name, offset: m.bits_offset / 8, size: this.sizeOf(m.type_id) })),
    };
  }

  /** Every enum the object's BTF holds, by name: enumerator name to value. */
  enums(): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    for (const t of this.byId.values()) if (t.kind === 'ENUM' && t.name) out.set(t.name, new Map((t.values ?? []).map((v) => [v.name, v.val])));
    return out;
  }

  /** A map's type and max_entries as its .maps definition declares them, or null. */
  mapDef(mapName: string): { type: number; maxEntries: number } | null {
    const def = this.mapDefType(mapName);
    if (!def) return null;
    // __uint(name, n) is `int (*name)[n]`: the value is the array's element count.
    const count = (n: string): number => {
      const m = def.members?.find((x) => x.name === n);
      if (!m) throw new Error(`map ${mapName} declares no ${n}`);
      return this.get(this.get(m.type_id).type_id ?? 0).nr_elems ?? 0;
    };
    return { type: count('type'), maxEntries: count('max_entries') };
  }

  private mapDefType(mapName: string): RawType | null {
    const sec = [...this.byId.values()].find((t) => t.kind === 'DATASEC' && t.name === '.maps');
    for (const v of sec?.vars ?? []) {
      const variable = this.get(v.type_id);
      if (variable.name === mapName) return this.get(variable.type_id ?? 0);
    }
    return null;
  }

  /** The key and value types of a map defined in the object's .maps section, or null. */
  mapTypes(mapName: string): { key: BtfType; value: BtfType } | null {
    const sec = [...this.byId.values()].find((t) => t.kind === 'DATASEC' && t.name === '.maps');
    for (const v of sec?.vars ?? []) {
      const variable = this.get(v.type_id);
      if (variable.name !== mapName) continue;
      const def = this.get(variable.type_id ?? 0);
      const member = (n: string): BtfType => {
        const m = def.members?.find((x) => x.name === n);
        if (!m) throw new Error(`map ${mapName} has no ${n} type in BTF`);
        const ptr = this.get(m.type_id);
        return this.describe(ptr.type_id ?? 0);
      };
      return { key: member('key'), value: member('value') };
    }
    return null;
  }
}
