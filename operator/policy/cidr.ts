// IPv4 CIDR arithmetic for policy compilation: containment decides which CIDR identities and pod
// addresses a rule's block covers.
export interface Cidr4 {
  base: number;
  len: number;
}

export function parseCidr4(cidr: string): Cidr4 {
  const [addr, len] = cidr.split('/');
  const n = (addr ?? '').split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const l = len === undefined ? 32 : Number(len);
  return { base: l === 0 ? 0 : n - (n % 2 ** (32 - l)), len: l };
}

/** inner lies wholly inside outer. */
export function cidrWithin(inner: Cidr4, outer: Cidr4): boolean {
  if (inner.len < outer.len) return false;
  const size = 2 ** (32 - outer.len);
  return Math.floor(inner.base / size) === Math.floor(outer.base / size);
}

export function addressIn(addr: string, c: Cidr4): boolean {
  return cidrWithin(parseCidr4(`${addr}/32`), c);
}
