// Kubernetes resource quantities (Node status.capacity.memory and cpu) as numbers.
const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** Parses "16Gi", "16384Mi", "1.5G", "500m", "1e3" into a number of base units. */
export function parseQuantity(q: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/.exec(q.trim());
  if (!m) throw new Error(`invalid quantity ${JSON.stringify(q)}`);
  const [, num, exp, suffix] = m;
  const base = Number(num) * (exp ? 10 ** Number(exp.slice(1)) : 1);
  const unit = suffix === undefined ? 1 : (binary[suffix] ?? decimal[suffix]);
  if (unit === undefined) throw new Error(`invalid quantity suffix in ${JSON.stringify(q)}`);
  return base * unit;
}
