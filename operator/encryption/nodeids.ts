// Node ids: a small number per node, unique in the cluster, kept for the node's life. IPsec SPIs
// carry the sender's id (a receiver finds its state by address and SPI alone). Ids persist in
// each NodeDatapath's spec, so an operator restart reads them back rather than renumbering.

export const MAX_NODE_ID = 0xffffff;

/**
 * Ids for `names`: each keeps the id it has, when no other node claims it too (then the first by
 * name keeps it); the rest take the lowest free ids in name order. Deterministic: concurrent
 * reconciles over the same caches agree.
 */
export function assignNodeIds(names: readonly string[], existing: ReadonlyMap<string, number>): Map<string, number> {
  const sorted = [...new Set(names)].sort();
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const n of sorted) {
    const id = existing.get(n);
    if (id !== undefined && Number.isInteger(id) && id >= 1 && id <= MAX_NODE_ID && !taken.has(id)) {
      out.set(n, id);
      taken.add(id);
    }
  }
  let next = 1;
  for (const n of sorted) {
    if (out.has(n)) continue;
    while (taken.has(next)) next++;
    if (next > MAX_NODE_ID) throw new RangeError(`more than ${MAX_NODE_ID} nodes: no node id left for ${n}`);
    out.set(n, next);
    taken.add(next);
  }
  return out;
}
