// HTTP rules as the proxy judges them: a request is allowed when any rule that applies to its
// flow matches it (rules of every policy for that flow are alternatives, as in Cilium). Within a
// rule every field given must match: the method exactly, the path and host as regular
// expressions over the whole value (anchored, as Cilium's Envoy filter matches them), and each
// header as present ("Name") or with exactly that value ("Name: value").
import type { HTTPRule } from '../../api/v1alpha1/index.js';

export interface CompiledHttpRule {
  method?: string;
  path?: RegExp;
  host?: RegExp;
  headers: Array<{ name: string; value?: string }>;
}

export class RuleError extends Error {
  override readonly name = 'RuleError';
}

/** Anchored: "/api/.*" must match the whole path, not a part of it. */
function anchored(source: string, field: string): RegExp {
  try {
    return new RegExp(`^(?:${source})$`, 'u');
  } catch (err) {
    throw new RuleError(`${field} ${JSON.stringify(source)} is not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function compileHttpRule(r: HTTPRule): CompiledHttpRule {
  return {
    ...(r.method ? { method: r.method } : {}),
    ...(r.path !== undefined ? { path: anchored(r.path, 'path') } : {}),
    ...(r.host !== undefined ? { host: anchored(r.host, 'host') } : {}),
    headers: (r.headers ?? []).map((h) => {
      const i = h.indexOf(':');
      return i < 0 ? { name: h.trim().toLowerCase() } : { name: h.slice(0, i).trim().toLowerCase(), value: h.slice(i + 1).trim() };
    }),
  };
}

export interface RequestView {
  method: string;
  /** The request target as sent: path and query. */
  path: string;
  host: string;
  /** Lower-case names, values as received (repeated headers joined by ", "). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export function matches(rule: CompiledHttpRule, req: RequestView): boolean {
  if (rule.method && rule.method !== req.method) return false;
  if (rule.path && !rule.path.test(req.path)) return false;
  if (rule.host && !rule.host.test(req.host)) return false;
  for (const h of rule.headers) {
    const v = req.headers[h.name];
    if (v === undefined) return false;
    if (h.value !== undefined && !(Array.isArray(v) ? v : [v]).some((x) => x.trim() === h.value)) return false;
  }
  return true;
}

/** Index of the first rule that allows the request, or -1 (denied). */
export function firstMatch(rules: readonly CompiledHttpRule[], req: RequestView): number {
  return rules.findIndex((r) => matches(r, req));
}
