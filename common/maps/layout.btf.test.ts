// The contract between bpf/lib/*.h and agent/maps/*.ts: every map's key and value layout, field
// by field, against the BTF of the compiled objects. Needs `make -C bpf` (npm test runs it).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, type BtfType } from '../../test/harness/btf.js';
import { repoRoot } from '../../test/harness/paths.js';
import { ALL_MAPS } from './index.js';
import { cMemberName, type Layout } from './layout.js';

const objDir = join(repoRoot, 'build', 'bpf');
const objects = existsSync(objDir) ? readdirSync(objDir).filter((f) => f.endsWith('.o')) : [];
const btfs = objects.map((o) => ({ object: o, btf: new Btf(join(objDir, o)) }));

/** Members that are padding need no field on the TS side (they are written as zero). */
const isPadding = (name: string): boolean => /^(pad|reserved)\d*$/.test(name);

function checkLayout(layout: Layout<unknown>, btf: BtfType): string[] {
  const problems: string[] = [];
  if (layout.cType !== btf.name) problems.push(`mirrors ${layout.cType}, object has ${btf.name}`);
  if (layout.size !== btf.size) problems.push(`${btf.name}: size ${layout.size}, BTF ${btf.size}`);
  const declared = new Map(Object.entries(layout.fields).map(([ts, f]) => [cMemberName(ts, f), f]));
  for (const m of btf.members) {
    const f = declared.get(m.name);
    if (!f) {
      if (!isPadding(m.name)) problems.push(`${btf.name}.${m.name}: no TS field`);
      continue;
    }
    // A field may cover only the start of a member (the IPv4 word of an address array).
    if (f.offset !== m.offset) problems.push(`${btf.name}.${m.name}: offset ${f.offset}, BTF ${m.offset}`);
    if (f.size > m.size || (f.size !== m.size && m.size !== 16)) problems.push(`${btf.name}.${m.name}: size ${f.size}, BTF ${m.size}`);
    declared.delete(m.name);
  }
  for (const name of declared.keys()) if (btf.members.length > 0) problems.push(`${btf.name}.${name}: not in BTF`);
  return problems;
}

describe('map layouts match the compiled objects', () => {
  it('finds the compiled objects', () => {
    expect(objects).toEqual(expect.arrayContaining(['tc_endpoint.o', 'tc_nic.o', 'xdp_prefilter.o', 'sock_lb.o', 'sock_fastpath.o']));
  });

  it.each(ALL_MAPS.map((m) => [m.name, m] as const))('%s', (name, spec) => {
    const users = btfs.map(({ object, btf }) => ({ object, types: btf.mapTypes(name) })).filter((u) => u.types !== null);
    expect(users.map((u) => u.object)).not.toHaveLength(0);
    for (const { object, types } of users) {
      if (!types) continue;
      const problems = [...checkLayout(spec.key, types.key), ...checkLayout(spec.value, types.value)];
      expect({ object, problems }).toEqual({ object, problems: [] });
    }
  });
});
