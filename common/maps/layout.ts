// Binary layouts of the C structs the BPF maps hold. Every field states its offset and size as
// the C compiler lays them out; agent/maps/layout.btf.test.ts checks them against the BTF of the
// compiled objects, so a change on either side that is not made on the other fails a test.
// Multi-byte integers are host (little-endian) order unless the C field is network order.

export interface Field<V> {
  readonly offset: number;
  readonly size: number;
  /** The C member it mirrors, when its name is not the TS name in snake_case. */
  readonly cName?: string;
  read(b: Buffer, at: number): V;
  write(b: Buffer, at: number, v: V): void;
}

type FieldValue<F> = F extends Field<infer V> ? V : never;
export type Fields = Record<string, Field<unknown>>;
export type Value<F extends Fields> = { [K in keyof F]: FieldValue<F[K]> };

export interface Layout<T> {
  /** The C struct (or scalar type) it mirrors. */
  readonly cType: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, Field<unknown>>>;
  encode(v: T): Buffer;
  encodeInto(v: T, b: Buffer, at: number): void;
  decode(b: Buffer, at?: number): T;
}

/** A struct layout; bytes no field covers (padding) are written as zero. */
export function struct<F extends Fields>(cType: string, size: number, fields: F): Layout<Value<F>> {
  const entries = Object.entries(fields);
  for (const [name, f] of entries)
    if (f.offset + f.size > size) throw new Error(`${cType}.${name}: field ends at ${f.offset + f.size}, struct is ${size} bytes`);
  return {
    cType,
    size,
    fields,
    encodeInto(v, b, at) {
      b.fill(0, at, at + size);
      for (const [name, f] of entries) f.write(b, at + f.offset, (v as Record<string, unknown>)[name]);
    },
    encode(v) {
      const b = Buffer.alloc(size);
      this.encodeInto(v, b, 0);
      return b;
    },
    decode(b, at = 0) {
      const out: Record<string, unknown> = {};
      for (const [name, f] of entries) out[name] = f.read(b, at + f.offset);
      return out as Value<F>;
    },
  };
}

/** A map key or value that is one scalar (e.g. `__u32`): encodes the number itself. */
export function scalar(cType: string, f: Field<number>): Layout<number> {
  return {
    cType,
    size: f.size,
    fields: {},
    encodeInto: (v, b, at) => f.write(b, at, v),
    encode(v) {
      const b = Buffer.alloc(f.size);
      f.write(b, 0, v);
      return b;
    },
    decode: (b, at = 0) => f.read(b, at),
  };
}

const field = <V>(offset: number, size: number, read: Field<V>['read'], write: Field<V>['write'], cName?: string): Field<V> => ({
  offset,
  size,
  cName,
  read,
  write,
});

export const u8 = (offset: number, cName?: string): Field<number> =>
  field(offset, 1, (b, at) => b.readUInt8(at), (b, at, v) => b.writeUInt8(v, at), cName);
export const u16 = (offset: number, cName?: string): Field<number> =>
  field(offset, 2, (b, at) => b.readUInt16LE(at), (b, at, v) => b.writeUInt16LE(v, at), cName);
export const u32 = (offset: number, cName?: string): Field<number> =>
  field(offset, 4, (b, at) => b.readUInt32LE(at), (b, at, v) => b.writeUInt32LE(v >>> 0, at), cName);
export const u64 = (offset: number, cName?: string): Field<bigint> =>
  field(offset, 8, (b, at) => b.readBigUInt64LE(at), (b, at, v) => b.writeBigUInt64LE(v, at), cName);
/** A network-order 16-bit field (ports), as a host number. */
export const be16 = (offset: number, cName?: string): Field<number> =>
  field(offset, 2, (b, at) => b.readUInt16BE(at), (b, at, v) => b.writeUInt16BE(v, at), cName);
/** A network-order 32-bit field as a host number (e.g. a prefix that must sort by value). */
export const be32 = (offset: number, cName?: string): Field<number> =>
  field(offset, 4, (b, at) => b.readUInt32BE(at), (b, at, v) => b.writeUInt32BE(v >>> 0, at), cName);

/** An IPv4 address in network order, as dotted quad. */
export const ip4 = (offset: number, cName?: string): Field<string> =>
  field(offset, 4, (b, at) => ip4ToString(b, at), (b, at, v) => ip4Write(v, b, at), cName);

/**
 * A `__u32 addr[4]` that holds either family; IPv4 sits in the first word. Only IPv4 is
 * produced today; the layout is the one IPv6 entries will use.
 */
export const ipAny = (offset: number, cName?: string): Field<string> =>
  field(
    offset,
    16,
    (b, at) => ip4ToString(b, at),
    (b, at, v) => {
      b.fill(0, at, at + 16);
      ip4Write(v, b, at);
    },
    cName,
  );

function ip4ToString(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** Parses a dotted-quad IPv4 address; throws on anything else. */
export function parseIp4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(s)}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIp4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function ip4Write(s: string, b: Buffer, at: number): void {
  b.writeUInt32BE(parseIp4(s), at);
}

/** C member name of a field: its own cName, else the TS name in snake_case. */
export function cMemberName(tsName: string, f: Field<unknown>): string {
  return f.cName ?? tsName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
