// The request target the rules judge, and the targets refused because a server could read them
// as another path than the one judged (RFC 9112 3.2, RFC 3986 6.2.2).
//
// The proxy forwards a request's bytes as they came, so what it judges must be what the upstream
// reads. Servers normalise differently: nginx, Apache and Tomcat remove dot segments ("/a/../b"
// is "/b") and decode "%2e"; some decode "%2F" into a separator and some do not; nginx merges
// "//". Envoy rewrites such paths before matching (normalize_path, merge_slashes); Weir refuses
// them with 400 instead, since a rewrite here would forward a target the client did not send,
// and a target already in normal form, as browsers and HTTP libraries send, passes unchanged.
// Refused: dot segments, percent-encoded unreserved characters (RFC 3986 2.3: their encoded and
// plain forms are the same path), an encoded "/" or "\" (a separator to some servers, not to
// others), empty segments ("//"), malformed percent-encoding, a fragment, and an absolute-form
// target whose authority is not the Host header (the rules' host is the Host header's).
const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** Why `path` (the part before "?") is not in the normal form servers agree on; null when it is. */
function notNormal(path: string): string | null {
  if (!path.startsWith('/')) return 'a path that does not start with /';
  for (let i = path.indexOf('%'); i >= 0; i = path.indexOf('%', i + 1)) {
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return 'malformed percent-encoding';
    const c = String.fromCharCode(parseInt(hex, 16));
    if (UNRESERVED.test(c)) return `a percent-encoded unreserved character (%${hex})`;
    if (c === '/' || c === '\\') return `an encoded path separator (%${hex})`;
  }
  if (path.includes('\\')) return 'a backslash (a separator to some servers)';
  const segments = path.split('/').slice(1);
  if (segments.some((s) => s === '.' || s === '..')) return 'a dot segment';
  if (segments.slice(0, -1).some((s) => s === '')) return 'an empty segment (//)';
  return null;
}

/** A target refused with 400, and why. */
export class TargetRefused extends Error {
  override readonly name = 'TargetRefused';
}

/**
 * The path and query the rules match, from a request target and its Host header; throws
 * TargetRefused for a target a server could read as another path.
 */
export function judgedTarget(target: string, host: string | undefined): string {
  if (target.includes('#')) throw new TargetRefused('a fragment in the request target');
  // asterisk-form (OPTIONS *): no path.
  if (target === '*') return target;
  let originForm = target;
  if (!target.startsWith('/')) {
    // absolute-form: the server uses its authority and ignores Host, so it must be the Host the rules read.
    const m = /^https?:\/\/([^/?]*)(.*)$/i.exec(target);
    if (!m) throw new TargetRefused('invalid request target');
    const authority = m[1].toLowerCase();
    if (host === undefined || authority !== host.toLowerCase()) throw new TargetRefused('an absolute-form target whose authority is not the Host header');
    originForm = m[2].startsWith('/') ? m[2] : `/${m[2]}`;
  }
  const q = originForm.indexOf('?');
  const why = notNormal(q < 0 ? originForm : originForm.slice(0, q));
  if (why) throw new TargetRefused(`request target with ${why}`);
  return originForm;
}
