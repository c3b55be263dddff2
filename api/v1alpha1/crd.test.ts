// The CRDs (crds/*.yaml) against the TypeScript types of this folder, field by field: every
// schema property is a property of the type and the reverse, optional exactly where the schema
// does not require it, of the same kind, with the same enum values. Read with the TypeScript
// compiler, so the types stay plain interfaces that every component imports.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { repoRoot } from '../../test/harness/paths.js';
import { CATALOGUE, SIZING_NAMES } from '../../common/maps/catalogue.js';
import { sizingFieldDescription } from '../../common/maps/describe.js';
import { DatapathConfigResource, RESOURCES } from './group.js';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: unknown[];
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

const program = ts.createProgram([join(repoRoot, 'api/v1alpha1/index.ts')], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
const checker = program.getTypeChecker();
const index = program.getSourceFile(join(repoRoot, 'api/v1alpha1/index.ts'))!;
const exported = new Map(checker.getExportsOfModule(checker.getSymbolAtLocation(index)!).map((s) => [s.name, s]));

function typeNamed(name: string): ts.Type {
  const sym = exported.get(name);
  if (!sym) throw new Error(`api/v1alpha1 exports no ${name}`);
  return checker.getDeclaredTypeOfSymbol(sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym);
}

const nonNull = (t: ts.Type): ts.Type => checker.getNonNullableType(t);
const parts = (t: ts.Type): ts.Type[] => (t.isUnion() ? t.types : [t]);
const literals = (t: ts.Type): unknown[] | undefined => {
  const ps = parts(t).filter((p) => !(p.flags & ts.TypeFlags.Undefined));
  return ps.every((p) => p.isLiteral()) ? ps.map((p) => (p).value).sort() : undefined;
};
const is = (t: ts.Type, flags: ts.TypeFlags): boolean => parts(t).every((p) => (p.flags & flags) !== 0);

/** Differences between a schema and a type, each with its path. */
function compare(schema: Schema, type: ts.Type, path: string): string[] {
  const t = nonNull(type);
  const out: string[] = [];
  if (schema['x-kubernetes-int-or-string']) {
    if (!(parts(t).some((p) => p.flags & ts.TypeFlags.NumberLike) && parts(t).some((p) => p.flags & ts.TypeFlags.StringLike))) out.push(`${path}: int-or-string, TS ${checker.typeToString(t)}`);
    return out;
  }
  if (schema.enum) {
    const lit = literals(t);
    if (lit && JSON.stringify(lit) !== JSON.stringify([...schema.enum].sort())) out.push(`${path}: enum ${JSON.stringify(schema.enum)}, TS ${checker.typeToString(t)}`);
  }
  switch (schema.type) {
    case 'string':
      if (!is(t, ts.TypeFlags.StringLike)) out.push(`${path}: string, TS ${checker.typeToString(t)}`);
      return out;
    case 'integer':
    case 'number':
      if (!is(t, ts.TypeFlags.NumberLike)) out.push(`${path}: ${schema.type}, TS ${checker.typeToString(t)}`);
      return out;
    case 'boolean':
      if (!is(t, ts.TypeFlags.BooleanLike)) out.push(`${path}: boolean, TS ${checker.typeToString(t)}`);
      return out;
    case 'array': {
      if (!checker.isArrayType(t)) return [`${path}: array, TS ${checker.typeToString(t)}`];
      return compare(schema.items ?? {}, checker.getTypeArguments(t as ts.TypeReference)[0], `${path}[]`);
    }
    case 'object': {
      if (typeof schema.additionalProperties === 'object') {
        const value = t.getStringIndexType();
        return value ? compare(schema.additionalProperties, value, `${path}{}`) : [`${path}: a map, TS ${checker.typeToString(t)} has no string index`];
      }
      if (!schema.properties) return out; // free-form (metadata, preserved unknown fields)
      const required = new Set(schema.required ?? []);
      const props = new Map(checker.getPropertiesOfType(t).map((p) => [p.name, p]));
      for (const [name, sub] of Object.entries(schema.properties)) {
        const p = props.get(name);
        if (!p) {
          out.push(`${path}.${name}: in the CRD, not in TS`);
          continue;
        }
        const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
        if (optional === required.has(name)) out.push(`${path}.${name}: ${required.has(name) ? 'required' : 'optional'} in the CRD, ${optional ? 'optional' : 'required'} in TS`);
        out.push(...compare(sub, checker.getTypeOfSymbol(p), `${path}.${name}`));
        props.delete(name);
      }
      for (const name of props.keys()) out.push(`${path}.${name}: in TS, not in the CRD`);
      return out;
    }
    default:
      return [`${path}: schema type ${schema.type} not understood`];
  }
}

const TYPES: Record<string, { spec: string; status?: string }> = {
  DatapathConfig: { spec: 'DatapathConfigSpec', status: 'DatapathConfigStatus' },
  NetworkPolicy: { spec: 'NetworkPolicySpec', status: 'NetworkPolicyStatus' },
  NodeDatapath: { spec: 'NodeDatapathSpec', status: 'NodeDatapathStatus' },
  Identity: { spec: 'IdentitySpec' },
};

describe('CRD schemas match api/v1alpha1', () => {
  it.each(RESOURCES.map((r) => [r.kind, r] as const))('%s', (kind, r) => {
    const crd = parse(readFileSync(join(repoRoot, 'crds', r.crdFile), 'utf8')) as {
      spec: { group: string; names: { kind: string; plural: string }; scope: string; versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> };
    };
    expect([crd.spec.group, crd.spec.names.kind, crd.spec.names.plural, crd.spec.scope]).toEqual([r.group, r.kind, r.plural, r.namespaced ? 'Namespaced' : 'Cluster']);
    const version = crd.spec.versions.find((v) => v.name === r.version)!;
    const root = version.schema.openAPIV3Schema.properties!;
    const types = TYPES[kind];
    const problems = [...compare(root.spec, typeNamed(types.spec), 'spec'), ...(types.status ? compare(root.status, typeNamed(types.status), 'status') : [])];
    expect(Object.keys(root).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec', ...(types.status ? ['status'] : [])].sort());
    expect(problems).toEqual([]);
  });
});

describe('DatapathConfig spec.mapSizing is the map catalogue', () => {
  it('has one field per catalogue entry, with its bounds, default and maps in the description', () => {
    const crd = parse(readFileSync(join(repoRoot, 'crds', DatapathConfigResource.crdFile), 'utf8')) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }> } };
    const props = crd.spec.versions[0].schema.openAPIV3Schema.properties!.spec.properties!.mapSizing.properties! as Record<string, Schema & { minimum?: number; maximum?: number; description?: string }>;
    const { dynamicSizeRatio: _ratio, ...fields } = props;
    expect(fields).toEqual(
      Object.fromEntries(SIZING_NAMES.map((n) => [CATALOGUE[n].field, { description: sizingFieldDescription(n), type: 'integer', minimum: CATALOGUE[n].min, maximum: CATALOGUE[n].max }])),
    );
  });

  it("is what the chart's values schema accepts for datapathConfig.mapSizing", () => {
    const schema = JSON.parse(readFileSync(join(repoRoot, 'charts/weir/values.schema.json'), 'utf8')) as {
      properties: { datapathConfig: { properties: { mapSizing: { additionalProperties: boolean; properties: Record<string, unknown> } } } };
    };
    const m = schema.properties.datapathConfig.properties.mapSizing;
    const { dynamicSizeRatio: _ratio, ...fields } = m.properties;
    expect(m.additionalProperties).toBe(false);
    expect(fields).toEqual(Object.fromEntries(SIZING_NAMES.map((n) => [CATALOGUE[n].field, { type: 'integer', minimum: CATALOGUE[n].min, maximum: CATALOGUE[n].max }])));
  });
});
