// HTTP rules as the proxy judges them: a request is allowed when any rule that applies to its
// flow matches it (rules of every policy for that flow are alternatives, as in Cilium). Within a
// rule every field given must match: the method exactly, the path and host as regular
// expressions over the whole value (anchored, as Cilium's Envoy filter matches them), and each
// header as present ("Name") or with exactly that value ("Name: value").
//
// Expressions are RE2's (re2js, a linear-time engine), as Envoy's safe_regex runs Cilium's: rules
// are written by tenants and run against paths up to 16 KiB, and on a backtracking engine a rule
// such as "(a+)+$" holds the node's proxy for seconds per request (measured: 13 s on 29 bytes).
// RE2 refuses what cannot run in linear time (backreferences, lookaround).
import { RE2JS } from 're2js';
import type { HTTPRule } from '../../api/v1alpha1/index.js';

/** A compiled expression, matched against a whole value. */
export interface WholeMatch {
  readonly source: string;
  matches(value: string): boolean;
}

export interface CompiledHttpRule {
  method?: string;
  path?: WholeMatch;
  host?: WholeMatch;
  headers: Array<{ name: string; value?: string }>;
}

export class RuleError extends Error {
  override readonly name = 'RuleError';
}

/** Anchored: "/api/.*" must match the whole path, not a part of it. */
function anchored(source: string, field: string): WholeMatch {
  try {
    const re = RE2JS.compile(source);
    return { source, matches: (value: string) => re.matches(value) };
  } catch (err) {
    throw new RuleError(`${field} ${JSON.stringify(source)} is not a valid regular expression (RE2 syntax): ${err instanceof Error ? err.message : String(err)}`);
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
  if (rule.path && !rule.path.matches(req.path)) return false;
  if (rule.host && !rule.host.matches(req.host)) return false;
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
