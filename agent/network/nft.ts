// nftables text shared by Weir's own tables (the masquerade table, the services fallback, the
// encryption guard): each is replaced whole by one `nft -f` transaction, so a reader never sees
// it half-written and nothing of an earlier version stays behind.

/** The transaction that replaces table `ip <name>` with `body` (its sets, maps and chains): made if missing, deleted, made anew. */
export function replaceTable(name: string, body: readonly string[]): string {
  return [`table ip ${name}`, `delete table ip ${name}`, `table ip ${name} {`, ...body, '}', ''].join('\n');
}

/** A set of IPv4 CIDRs (intervals, overlapping ones merged). */
export function cidrSet(name: string, elements: readonly string[]): string {
  return `  set ${name} {\n    type ipv4_addr\n    flags interval\n    auto-merge\n${elements.length ? `    elements = { ${elements.join(', ')} }\n` : ''}  }`;
}
