// Numeric identities with a fixed meaning, never allocated to a label set (Cilium's numbering).
export const ReservedIdentity = {
  /** Matches any peer in a compiled policy entry. */
  Any: 0,
  Host: 1,
  World: 2,
  /** A pod the runtime has started but NodeDatapath does not name yet: everything denied. */
  Init: 5,
  RemoteNode: 6,
} as const;

/** Cluster-wide identities are allocated from here; below is reserved. */
export const FIRST_ALLOCATED_IDENTITY = 256;
/** Highest cluster-wide identity; above, up to 2^24 - 1, are node-local CIDR identities. */
export const LAST_ALLOCATED_IDENTITY = 15_999_999;
export const FIRST_CIDR_IDENTITY = 16_000_000;
export const LAST_CIDR_IDENTITY = 16_777_215;
